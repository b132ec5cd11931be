// koppel-vault: custody of the covenants' keys. Issues HMAC-mode keys to the data holders a
// covenant lists, or evaluates the OPRF for them in hardened mode, over mutual TLS.
#include <grpcpp/grpcpp.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include <fmt/format.h>

#include "core/key_file.h"
#include "core/service_runner.h"
#include "core/tls.h"
#include "policies/covenant.h"
#include "vault/key_store.h"
#include "vault/vault_service.h"

namespace koppel {
namespace {

enum ExitCode : int { kExitOk = 0, kExitUsage = 2, kExitIo = 3, kExitConfig = 4 };

int Fail(int code, const absl::Status& status) {
  fmt::print(stderr, "koppel-vault: error: {}\n", std::string(status.message()));
  return code;
}

absl::StatusOr<Secret> MasterKey(const std::string& dir, const std::string& key_file) {
  if (!key_file.empty()) return ReadKeyFile(key_file, 32);
  const char* passphrase = std::getenv("KOPPEL_VAULT_PASSPHRASE");
  if (passphrase == nullptr) {
    return absl::InvalidArgumentError(
        "give --master-key FILE (made by `koppel-vault keygen`) or set KOPPEL_VAULT_PASSPHRASE");
  }
  return KeyStore::MasterKeyFromPassphrase(dir, passphrase);
}

int Serve(const std::string& listen, const std::string& pki, const std::string& name,
          const std::string& dir, const std::string& covenant_file, const std::string& key_file,
          const std::string& port_file) {
  const sigset_t stop_signals = BlockStopSignals();  // before any thread exists
  absl::StatusOr<Covenant> covenant = LoadCovenant(covenant_file);
  if (!covenant.ok()) return Fail(kExitConfig, covenant.status());
  absl::StatusOr<Secret> master = MasterKey(dir, key_file);
  if (!master.ok()) return Fail(kExitIo, master.status());
  absl::StatusOr<std::unique_ptr<KeyStore>> store = KeyStore::Open(dir, std::move(*master));
  if (!store.ok()) return Fail(kExitIo, store.status());
  absl::StatusOr<uint32_t> epoch = (*store)->CurrentEpoch(covenant->id);
  if (!epoch.ok()) return Fail(kExitIo, epoch.status());
  absl::StatusOr<const Secret*> probe = (*store)->Key(covenant->id, *epoch);
  if (!probe.ok()) return Fail(kExitIo, probe.status());
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(TlsFiles::FromPkiDir(pki, name));
  if (!credentials.ok()) return Fail(kExitIo, credentials.status());

  std::string covenant_id = covenant->id, mode = covenant->token_mode;
  VaultService service(std::move(*covenant), store->get(), std::filesystem::path(dir) / "vault.log");
  spdlog::info("koppel-vault serving covenant {} ({} mode, key epoch {})", covenant_id, mode,
               *epoch);
  if (absl::Status s = ServeUntilStopped(&service, *credentials,
                                         ServiceOptions{"koppel-vault", listen, port_file},
                                         stop_signals);
      !s.ok()) {
    return Fail(kExitIo, s);
  }
  spdlog::info("koppel-vault stopped");
  return kExitOk;
}

int Main(int argc, char** argv) {
  CLI::App app{"koppel-vault: keeps each covenant's keys and issues them only as the covenant "
               "allows, over mutual TLS."};
  app.require_subcommand(1);
  std::string listen = "127.0.0.1:7444", pki, name = "vault", dir, covenant, key_file, port_file;
  CLI::App* serve = app.add_subcommand("serve", "run the vault service until SIGTERM");
  serve->add_option("--listen", listen, "address:port (port 0: any free port)");
  serve->add_option("--pki", pki, "directory made by scripts/pki")->required()->check(CLI::ExistingDirectory);
  serve->add_option("--name", name, "this vault's certificate name in --pki");
  serve->add_option("--dir", dir, "the vault's directory (sealed keys, operation log)")->required();
  serve->add_option("--covenant", covenant, "covenant file")->required()->check(CLI::ExistingFile);
  serve->add_option("--master-key", key_file,
                    "master key file (mode 600); without it the passphrase in "
                    "KOPPEL_VAULT_PASSPHRASE is stretched with Argon2id");
  serve->add_option("--port-file", port_file, "write the port listened on to this file");
  std::string keygen_out;
  CLI::App* keygen = app.add_subcommand("keygen", "create a master key file");
  keygen->add_option("--out", keygen_out, "path of the key file (created with mode 600)")->required();
  std::string rotate_covenant;
  CLI::App* rotate = app.add_subcommand("rotate", "start a new key epoch for a covenant (vault stopped)");
  rotate->add_option("--dir", dir, "the vault's directory")->required()->check(CLI::ExistingDirectory);
  rotate->add_option("--covenant-id", rotate_covenant, "covenant id")->required();
  rotate->add_option("--master-key", key_file, "master key file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (sodium_init() < 0) return kExitIo;
  if (serve->parsed()) return Serve(listen, pki, name, dir, covenant, key_file, port_file);
  if (keygen->parsed()) {
    absl::StatusOr<Secret> key = Secret::Random(32);
    if (!key.ok()) return Fail(kExitIo, key.status());
    if (absl::Status s = WriteKeyFile(keygen_out, *key); !s.ok()) return Fail(kExitIo, s);
    return kExitOk;
  }
  if (rotate->parsed()) {
    absl::StatusOr<Secret> master = MasterKey(dir, key_file);
    if (!master.ok()) return Fail(kExitIo, master.status());
    absl::StatusOr<std::unique_ptr<KeyStore>> store = KeyStore::Open(dir, std::move(*master));
    if (!store.ok()) return Fail(kExitIo, store.status());
    absl::StatusOr<uint32_t> epoch = (*store)->Rotate(rotate_covenant);
    if (!epoch.ok()) return Fail(kExitIo, epoch.status());
    fmt::print("covenant {} now at key epoch {}\n", rotate_covenant, *epoch);
    return kExitOk;
  }
  return kExitUsage;
}

}  // namespace
}  // namespace koppel

int main(int argc, char** argv) { return koppel::Main(argc, argv); }
