#include "core/tls.h"

#include <fmt/format.h>
#include <openssl/conf.h>
#include <openssl/ssl.h>
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

struct Pems {
  std::string ca, cert, key;
};

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

absl::StatusOr<Pems> LoadPems(const TlsFiles& files) {
  Pems pems;
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

}  // namespace

absl::Status RequireTls13() {
  static const absl::Status* const loaded = new absl::Status(LoadTls13Only());
  return *loaded;
}

TlsFiles TlsFiles::FromPkiDir(const std::filesystem::path& dir, const std::string& name) {
  return {dir / "ca.crt", dir / (name + ".crt"), dir / (name + ".key")};
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
  RETURN_IF_ERROR(RequireTls13());
  absl::StatusOr<Pems> pems = LoadPems(files);
  if (!pems.ok()) return pems.status();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = pems->ca;
  options.pem_key_cert_pairs.push_back({pems->key, pems->cert});
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& files) {
  RETURN_IF_ERROR(RequireTls13());
  absl::StatusOr<Pems> pems = LoadPems(files);
  if (!pems.ok()) return pems.status();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = pems->ca;
  options.pem_private_key = pems->key;
  options.pem_cert_chain = pems->cert;
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
