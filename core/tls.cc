#include "core/tls.h"

#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <tuple>

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
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!cert)
    return absl::InvalidArgumentError(fmt::format("{} is not a PEM certificate", path.string()));
  auto when = [](const ASN1_TIME* t) {
    std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
    ASN1_TIME_print(out.get(), t);
    char* data = nullptr;
    long n = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<size_t>(n));
  };
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0) {
    return absl::FailedPreconditionError(
        fmt::format("certificate {} expired on {}; issue a new one (scripts/pki)", path.string(),
                    when(X509_get0_notAfter(cert.get()))));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert.get())) > 0) {
    return absl::FailedPreconditionError(
        fmt::format("certificate {} is not valid before {}; check this machine's clock",
                    path.string(), when(X509_get0_notBefore(cert.get()))));
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

TlsFiles TlsFiles::FromPkiDir(const std::filesystem::path& dir, const std::string& name) {
  return {dir / "ca.crt", dir / (name + ".crt"), dir / (name + ".key")};
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
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
