// `koppel covenant end`: a privacy officer ends a covenant before its time. The officer signs
// an end statement (policies/end_statement.h) and sends it to the linker, which deletes the
// covenant's records and batches, and to the vault, which destroys its keys.
#include <fmt/format.h>
#include <sodium.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "cli/cli_errors.h"
#include "cli/command.h"
#include "core/exit_codes.h"
#include "core/key_file.h"
#include "core/refusal.h"
#include "core/tls.h"
#include "koppel/v1/covenant.pb.h"
#include "koppel/v1/linker.grpc.pb.h"
#include "koppel/v1/vault.grpc.pb.h"
#include "policies/covenant_signature.h"
#include "policies/end_statement.h"

namespace koppel {
namespace {

enum ExitCode : int {
  kExitOk = 0,
  kExitOther = 1,
  kExitUsage = 2,
  kExitUnreadable = 3,   // the covenant, the officer's key or a certificate
  kExitUnreachable = 6,  // a service did not answer
  kExitRefused = 7,      // a service refused the statement
};

// What each exit code means; `koppel covenant end --help` lists them.
constexpr ExitCodeMeaning kExitCodes[] = {
    {kExitOk, "every service told (--linker, --vault) confirmed the end"},
    {kExitOther, "anything else"},
    {kExitUsage, "usage: bad or missing flags, neither --linker nor --vault given"},
    {kExitUnreadable,
     "the covenant is invalid or not fully signed, the officer key is unreadable or no "
     "officer's, or a certificate in --pki cannot be read"},
    {kExitUnreachable,
     "a service is unreachable or did not answer within --timeout (run again: a service that "
     "already ended the covenant says so)"},
    {kExitRefused, "a service refused the statement (the message names the rule)"},
};

struct EndFlags {
  std::string covenant;
  std::string officer_key;
  std::string reason;
  std::string linker;
  std::string vault;
  std::string pki;
  std::string name;
  int timeout_seconds = 60;
};

// The exit code for a failed call to `service` at `address`.
int FailedCall(const EndFlags& f, std::string_view service, const std::string& address,
               const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      return Fail(kExitUnreachable,
                  fmt::format("cannot reach the {} at {}: {}", service, address,
                              std::string(status.message())),
                  "check the address and that the service runs, then run this again");
    case absl::StatusCode::kDeadlineExceeded:
      return Fail(kExitUnreachable,
                  fmt::format("no answer from the {} at {} within {} s", service, address,
                              f.timeout_seconds),
                  "run this again, or raise --timeout (deleting a large covenant takes time)");
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kNotFound:
      return Fail(kExitRefused,
                  fmt::format("the {} refused to end the covenant: {}", service,
                              std::string(status.message())),
                  RefusalOf(status).has_value()
                      ? "refused by " + DescribeRefusal(*RefusalOf(status))
                      : std::string());
    default:
      return Fail(kExitOther, fmt::format("ending the covenant at the {} failed ({}): {}", service,
                                          absl::StatusCodeToString(status.code()),
                                          std::string(status.message())));
  }
}

void PrintResponse(const v1::EndCovenantResponse& r, std::string_view service) {
  if (r.already_ended()) {
    fmt::print("{}: covenant {} had already ended\n", service, r.covenant_id());
  } else if (service == "linker") {
    fmt::print("linker: covenant {} ended: {} records and {} batches deleted\n", r.covenant_id(),
               r.records_deleted(), r.batches_deleted());
  } else {
    fmt::print("vault: covenant {} ended: {} keys destroyed\n", r.covenant_id(),
               r.keys_destroyed());
  }
}

template <typename Stub>
int Tell(const EndFlags& f, std::string_view service, const std::string& address,
         const std::shared_ptr<grpc::ChannelCredentials>& credentials,
         const v1::EndCovenantRequest& request) {
  Stub stub(grpc::CreateChannel(address, credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(f.timeout_seconds));
  v1::EndCovenantResponse response;
  absl::Status status = FromGrpcStatus(stub.EndCovenant(&context, request, &response));
  if (!status.ok()) return FailedCall(f, service, address, status);
  PrintResponse(response, service);
  return kExitOk;
}

int RunEnd(const EndFlags& f) {
  if (f.linker.empty() && f.vault.empty()) {
    return Fail(kExitUsage, "neither --linker nor --vault is given",
                "name the services to tell; normally both");
  }
  if (f.reason.empty()) return Fail(kExitUsage, "--reason is empty; say why the covenant ends");
  absl::StatusOr<policy::SignedCovenant> covenant = policy::LoadSignedCovenant(f.covenant);
  if (!covenant.ok()) return Fail(kExitUnreadable, covenant.status());
  absl::StatusOr<Secret> key = ReadKeyFile(f.officer_key, crypto_sign_SECRETKEYBYTES);
  if (!key.ok()) {
    return Fail(kExitUnreadable, key.status(),
                "--officer-key is your secret key file (koppel policy keygen), not the .pub");
  }
  absl::StatusOr<v1::EndCovenantRequest> request =
      policy::SignEndStatement(covenant->covenant, *key, f.reason, absl::Now());
  if (!request.ok()) return Fail(kExitUnreadable, request.status());
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(TlsFiles::FromPkiDir(f.pki, f.name));
  if (!credentials.ok()) return Fail(kExitUnreadable, credentials.status());

  // Both services are told even when one fails: the statement stays valid for a week, and a
  // service that already ended the covenant says so when told again.
  int worst = kExitOk;
  auto note = [&worst](int code) {
    if (code == kExitOk) return;
    if (worst == kExitOk || code == kExitRefused) worst = code;
  };
  if (!f.linker.empty()) {
    note(Tell<v1::LinkerService::Stub>(f, "linker", f.linker, *credentials, *request));
  }
  if (!f.vault.empty()) {
    note(Tell<v1::VaultService::Stub>(f, "vault", f.vault, *credentials, *request));
  }
  if (worst == kExitOk) {
    fmt::print("covenant {} version {} ended by {}\n", covenant->covenant.id,
               covenant->covenant.version,
               f.linker.empty() || f.vault.empty() ? std::string("the service told")
                                                   : std::string("linker and vault"));
  }
  return worst;
}

}  // namespace

Command AddCovenantCommand(CLI::App* app) {
  auto f = std::make_shared<EndFlags>();
  CLI::App* covenant =
      app->add_subcommand("covenant", "act on a covenant in force (privacy officers)");
  covenant->require_subcommand(1);
  covenant->footer(ExitCodesFooter(
      kExitCodes,
      {kExitOk, kExitUsage, kExitUnreadable, kExitUnreachable, kExitRefused, kExitOther},
      "`koppel covenant end --help` lists the codes it can return."));
  CLI::App* end = covenant->add_subcommand(
      "end",
      "end a covenant now: sign an end statement with your officer key and send it to "
      "the linker (deletes the covenant's data) and the vault (destroys its keys)");
  end->add_option("--covenant", f->covenant, "the signed covenant file (YAML, with its .sig)")
      ->required();
  end->add_option("--officer-key", f->officer_key,
                  "your secret key file as a privacy officer of the covenant")
      ->required();
  end->add_option("--reason", f->reason, "why the covenant ends (recorded by the services)")
      ->required();
  end->add_option("--linker", f->linker, "linker address, host:port");
  end->add_option("--vault", f->vault, "vault address, host:port");
  end->add_option("--pki", f->pki, "directory made by scripts/pki")
      ->required()
      ->check(CLI::ExistingDirectory);
  end->add_option("--name", f->name, "your certificate name in --pki")->required();
  end->add_option("--timeout", f->timeout_seconds, "seconds to wait for each service")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  end->footer(ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitUnreadable, kExitUnreachable,
                                           kExitRefused, kExitOther}));
  return {covenant, [f, end]() { return end->parsed() ? RunEnd(*f) : kExitUsage; }};
}

}  // namespace koppel
