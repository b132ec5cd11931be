// Mutual TLS for every koppel connection (ARCHITECTURE section 3): credentials from PEM files
// made by scripts/pki, and the caller's identity, which is the common name of its verified
// client certificate.
#ifndef KOPPEL_CORE_TLS_H_
#define KOPPEL_CORE_TLS_H_

#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace koppel {

struct TlsFiles {
  std::filesystem::path ca;    // the CA that signs every party's certificate
  std::filesystem::path cert;  // this party's certificate
  std::filesystem::path key;   // this party's private key (mode 600)

  // DIR/ca.crt, DIR/NAME.crt, DIR/NAME.key as scripts/pki writes them.
  static TlsFiles FromPkiDir(const std::filesystem::path& dir, const std::string& name);
};

// Makes every TLS connection of this process, client or server, TLS 1.3 only. gRPC 1.51 has no
// switch for it (its SSL credentials set a minimum of TLS 1.2), so this loads an OpenSSL
// configuration built into koppel whose system_default disables every protocol below TLS 1.3,
// which every SSL_CTX made afterwards starts with; the machine's openssl.cnf and OPENSSL_CONF
// are never loaded. Runs once, however often called; an error when OpenSSL did not take it. The
// credential builders below call it first and fail with its error.
absl::Status RequireTls13();

// The PEM texts of a party's certificate files, as read and checked.
struct TlsPems {
  std::string ca;
  std::string cert;
  std::string key;  // the private key: never logged
};

// Reads `files` as a service does at start and on SIGHUP: the key readable by its owner only,
// each file PEM, the certificate valid now, the key the certificate's, the certificate signed by
// the CA. An error names the file and what is wrong, never key material.
absl::StatusOr<TlsPems> ReadServerTlsFiles(const TlsFiles& files);

// Server credentials that require a client certificate signed by the CA.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);
std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFrom(const TlsPems& pems);

// Client credentials from PEMs already read, as MakeChannelCredentials makes them.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFrom(const TlsPems& pems);

// Client credentials presenting this party's certificate and trusting only the CA.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& files);

// The common name of the caller's verified certificate, or "" when there is none.
std::string PeerIdentity(const grpc::ServerContext& context);

// Converts a gRPC status into an absl::Status with the same code and message, and the
// refusal its error details carry (refusal.h).
absl::Status FromGrpcStatus(const grpc::Status& status);
// And back, for service handlers: a refusal goes into the error details.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace koppel

#endif  // KOPPEL_CORE_TLS_H_
