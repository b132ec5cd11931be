#include "core/tls.h"

#include <fmt/format.h>
#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <tuple>

#include "core/certificate_expiry.h"
#include "core/file_contents.h"
#include "core/refusal.h"
#include "core/status_macros.h"

namespace koppel {
namespace {

absl::StatusOr<std::string> ReadPem(const std::filesystem::path& path, bool secret) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        fmt::format("cannot read {}; create the certificates with scripts/pki", path.string()));
  }
  if (secret && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return absl::PermissionDeniedError(
        fmt::format("private key {} is readable by group or others; run: chmod 600 {}",
                    path.string(), path.string()));
  }
  ASSIGN_OR_RETURN(std::string text, ReadFileContents(path));
  if (text.find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(fmt::format("{} is not a PEM file", path.string()));
  }
  return text;
}

// A certificate outside its validity period fails the handshake with an opaque error at the
// other end; say so here, with the date, before connecting.
absl::Status CheckValidity(const std::filesystem::path& path, const std::string& pem) {
  ASSIGN_OR_RETURN(CertificateValidity validity, ParseCertificateValidity(path, pem));
  return CheckCertificateValidity(path, validity, absl::Now());
}

// The OpenSSL configuration RequireTls13 loads: protocols below TLS 1.3 off for every SSL_CTX.
// gRPC sets the minimum version of its SSL_CTX to TLS 1.2 after creating it, which undoes
// MinProtocol but not the protocol options that Protocol sets.
constexpr char kTls13Only[] =
    "openssl_conf = koppel_openssl\n"
    "[koppel_openssl]\n"
    "ssl_conf = koppel_ssl\n"
    "[koppel_ssl]\n"
    "system_default = koppel_tls13\n"
    "[koppel_tls13]\n"
    "MinProtocol = TLSv1.3\n"
    "Protocol = -ALL, TLSv1.3\n";

absl::Status LoadTls13Only() {
  // Marks OpenSSL's configuration as loaded: the machine's openssl.cnf and OPENSSL_CONF are
  // never read afterwards, also not by gRPC's own OpenSSL initialisation.
  if (OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr) != 1) {
    return absl::InternalError("cannot initialise OpenSSL");
  }
  OPENSSL_load_builtin_modules();
  std::unique_ptr<CONF, decltype(&NCONF_free)> conf(NCONF_new(nullptr), &NCONF_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> text(BIO_new_mem_buf(kTls13Only, -1), &BIO_free);
  long error_line = 0;
  if (!conf || !text || NCONF_load_bio(conf.get(), text.get(), &error_line) != 1 ||
      CONF_modules_load(conf.get(), nullptr, 0) != 1) {
    return absl::InternalError("OpenSSL refused koppel's TLS 1.3 configuration");
  }
  // What gRPC does with a new SSL_CTX: the protocols below TLS 1.3 must stay off.
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> probe(SSL_CTX_new(TLS_method()), &SSL_CTX_free);
  if (!probe || SSL_CTX_set_min_proto_version(probe.get(), TLS1_2_VERSION) != 1) {
    return absl::InternalError("cannot create an OpenSSL context");
  }
  constexpr uint64_t kBelowTls13 =
      SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2;
  const uint64_t options = SSL_CTX_get_options(probe.get());
  if ((options & kBelowTls13) != kBelowTls13 || (options & SSL_OP_NO_TLSv1_3) != 0) {
    return absl::InternalError("OpenSSL did not restrict TLS to version 1.3");
  }
  return absl::OkStatus();
}

absl::StatusOr<TlsPems> LoadPems(const TlsFiles& files) {
  TlsPems pems;
  for (auto [path, out, secret] :
       {std::tuple{&files.ca, &pems.ca, false}, std::tuple{&files.cert, &pems.cert, false},
        std::tuple{&files.key, &pems.key, true}}) {
    absl::StatusOr<std::string> pem = ReadPem(*path, secret);
    if (!pem.ok()) return pem.status();
    *out = std::move(*pem);
  }
  if (absl::Status s = CheckValidity(files.cert, pems.cert); !s.ok()) return s;
  return pems;
}

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using StorePtr = std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE, X509_STORE_free>>;
using StoreContextPtr =
    std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
struct CertStackFree {
  void operator()(STACK_OF(X509) * certificates) const {
    sk_X509_pop_free(certificates, X509_free);
  }
};
using CertStackPtr = std::unique_ptr<STACK_OF(X509), CertStackFree>;

BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every certificate of a PEM text, in order; an error (naming `file`) when a block that begins
// as a certificate cannot be read, e.g. a CA bundle caught half-written.
absl::StatusOr<CertStackPtr> ReadCertificates(const std::string& pem,
                                              const std::filesystem::path& file) {
  CertStackPtr certificates(sk_X509_new_null());
  BioPtr bio = MemoryBio(pem);
  if (!certificates || !bio) return absl::ResourceExhaustedError("cannot allocate a PEM reader");
  while (true) {
    X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (certificate == nullptr) break;
    sk_X509_push(certificates.get(), certificate);
  }
  ERR_clear_error();  // the end of the text reads as an error
  size_t begun = 0;
  for (size_t at = pem.find("-----BEGIN CERTIFICATE"); at != std::string::npos;
       at = pem.find("-----BEGIN CERTIFICATE", at + 1)) {
    ++begun;
  }
  const size_t read = static_cast<size_t>(sk_X509_num(certificates.get()));
  if (read != begun) {
    return absl::InvalidArgumentError(fmt::format(
        "{} holds {} certificate blocks but only {} could be read (a file caught half-written? "
        "install certificates with mv from a temporary name)",
        file.string(), begun, read));
  }
  return certificates;
}

// Asked by OpenSSL for an encrypted key's passphrase: none is given (a service must not wait
// for a prompt); notes that it was asked.
int RefusePassphrase(char* /*buffer*/, int /*size*/, int /*writing*/, void* asked) {
  *static_cast<bool*>(asked) = true;
  return 0;
}

// What gRPC would find out only when it builds its SSL context (a listener that does not start)
// or at the other end (a handshake that fails): a key that is not the certificate's, or a
// certificate the CA did not sign.
absl::Status CheckPair(const TlsFiles& files, const TlsPems& pems) {
  ASSIGN_OR_RETURN(CertStackPtr chain, ReadCertificates(pems.cert, files.cert));
  ASSIGN_OR_RETURN(CertStackPtr authorities, ReadCertificates(pems.ca, files.ca));
  if (!chain || sk_X509_num(chain.get()) == 0) {
    return absl::InvalidArgumentError(
        fmt::format("{} is not a PEM certificate", files.cert.string()));
  }
  if (!authorities || sk_X509_num(authorities.get()) == 0) {
    return absl::InvalidArgumentError(
        fmt::format("{} is not a PEM certificate", files.ca.string()));
  }
  X509* leaf = sk_X509_value(chain.get(), 0);
  BioPtr key_bio = MemoryBio(pems.key);
  bool passphrase_asked = false;
  KeyPtr key(
      key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, RefusePassphrase, &passphrase_asked)
              : nullptr);
  ERR_clear_error();
  if (!key && passphrase_asked) {
    return absl::InvalidArgumentError(
        fmt::format("the key file {} is encrypted; koppel needs an unencrypted key (mode 600)",
                    files.key.string()));
  }
  if (!key) {
    return absl::InvalidArgumentError(
        fmt::format("{} is not a PEM private key (or is encrypted)", files.key.string()));
  }
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        fmt::format("private key {} does not belong to certificate {}; install the pair that "
                    "was issued together",
                    files.key.string(), files.cert.string()));
  }
  StorePtr store(X509_STORE_new());
  StoreContextPtr context(X509_STORE_CTX_new());
  if (!store || !context) return absl::ResourceExhaustedError("cannot allocate an X509 store");
  for (int i = 0; i < sk_X509_num(authorities.get()); ++i) {
    X509_STORE_add_cert(store.get(), sk_X509_value(authorities.get(), i));
  }
  if (X509_STORE_CTX_init(context.get(), store.get(), leaf, chain.get()) != 1) {
    return absl::ResourceExhaustedError("cannot initialise certificate verification");
  }
  if (X509_verify_cert(context.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(context.get());
    ERR_clear_error();
    return absl::InvalidArgumentError(
        fmt::format("certificate {} does not verify against the CA in {}: {}", files.cert.string(),
                    files.ca.string(), X509_verify_cert_error_string(error)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RequireTls13() {
  static const absl::Status* const loaded = new absl::Status(LoadTls13Only());
  return *loaded;
}

TlsFiles TlsFiles::FromPkiDir(const std::filesystem::path& dir, const std::string& name) {
  return {dir / "ca.crt", dir / (name + ".crt"), dir / (name + ".key")};
}

absl::StatusOr<TlsPems> ReadServerTlsFiles(const TlsFiles& files) {
  ASSIGN_OR_RETURN(TlsPems pems, LoadPems(files));
  RETURN_IF_ERROR(CheckPair(files, pems));
  return pems;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
  RETURN_IF_ERROR(RequireTls13());
  ASSIGN_OR_RETURN(TlsPems pems, ReadServerTlsFiles(files));
  return ServerCredentialsFrom(pems);
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFrom(const TlsPems& pems) {
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = pems.ca;
  options.pem_key_cert_pairs.push_back({pems.key, pems.cert});
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& files) {
  RETURN_IF_ERROR(RequireTls13());
  ASSIGN_OR_RETURN(TlsPems pems, LoadPems(files));
  return ChannelCredentialsFrom(pems);
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFrom(const TlsPems& pems) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = pems.ca;
  options.pem_private_key = pems.key;
  options.pem_cert_chain = pems.cert;
  return grpc::SslCredentials(options);
}

std::string PeerIdentity(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return "";
  std::vector<grpc::string_ref> names = auth->FindPropertyValues("x509_common_name");
  if (names.empty()) return "";
  return std::string(names.front().data(), names.front().size());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  return WithGrpcErrorDetails(
      absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message()),
      status.error_details());
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      GrpcErrorDetails(status));
}

}  // namespace koppel
