// koppel-linker: receives sealed batches from agents over mutual TLS, re-keys and encrypts
// them, stores them durably in RocksDB and answers with signed receipts.
#include <grpcpp/grpcpp.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "core/hmac.h"
#include "core/key_file.h"
#include "core/key_transport.h"
#include "core/service_runner.h"
#include "core/tls.h"
#include "koppel/v1/vault.grpc.pb.h"
#include "linker/batch_ingester.h"
#include "linker/linker_service.h"
#include "linker/linker_store.h"
#include "policies/covenant.h"

namespace koppel {
namespace {

enum ExitCode : int { kExitOk = 0, kExitUsage = 2, kExitIo = 3, kExitConfig = 4 };

int Fail(int code, const absl::Status& status) {
  fmt::print(stderr, "koppel-linker: error: {}\n", std::string(status.message()));
  return code;
}

// Loads (or on first start creates) the linker's keys in `dir`: its box key pair (agents seal to
// the public half), its receipt signing key, and a master key from which K_link and the data key
// of each covenant are derived. The vault will hold the data key (issue #3, vault part).
// The covenant's data key from the vault, sealed to a key pair made for this request only.
absl::StatusOr<Secret> FetchDataKey(const std::string& vault, const TlsFiles& tls,
                                    const std::string& covenant) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = MakeChannelCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  absl::StatusOr<OneTimeBox> one_time = OneTimeBox::Create();
  if (!one_time.ok()) return one_time.status();
  auto stub = v1::VaultService::NewStub(grpc::CreateChannel(vault, *credentials));
  v1::GetDataKeyRequest request;
  request.set_covenant_id(covenant);
  request.set_recipient_public_key(one_time->public_key());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::GetDataKeyResponse response;
  grpc::Status status = stub->GetDataKey(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(FromGrpcStatus(status).code(),
                        fmt::format("the vault at {} refused the data key: {}", vault,
                                    status.error_message()));
  }
  return one_time->Open(response.sealed_key(), crypto_secretbox_KEYBYTES);
}

absl::StatusOr<LinkerKeys> LoadKeys(const std::filesystem::path& dir, const std::string& covenant,
                                    const std::string& vault, const TlsFiles& tls) {
  absl::StatusOr<Secret> box = ReadKeyFile(dir / "linker.key", crypto_box_SECRETKEYBYTES);
  if (!box.ok()) return box.status();
  absl::StatusOr<Secret> signing = ReadKeyFile(dir / "linker-signing.key", crypto_sign_SECRETKEYBYTES);
  if (!signing.ok()) return signing.status();
  absl::StatusOr<Secret> master = ReadKeyFile(dir / "linker-master.key", 32);
  if (!master.ok()) return master.status();
  absl::StatusOr<Secret> link = HkdfSha256(master->span(), {}, "koppel/v1/link/" + covenant, 32);
  if (!link.ok()) return link.status();
  // The data key lives in the vault; without one (offline use) it is derived locally.
  absl::StatusOr<Secret> data =
      vault.empty() ? HkdfSha256(master->span(), {}, "koppel/v1/data/" + covenant, 32)
                    : FetchDataKey(vault, tls, covenant);
  if (!data.ok()) return data.status();
  LinkerKeys keys{{}, std::move(*box), std::move(*signing), std::move(*link), std::move(*data)};
  crypto_scalarmult_base(keys.box_public.data(), keys.box_secret.data());
  return keys;
}

int Serve(const std::string& listen, const std::string& pki, const std::string& name,
          const std::string& data, const std::string& keys_dir, const std::string& covenant_file,
          const std::string& port_file, const std::string& vault) {
  const sigset_t stop_signals = BlockStopSignals();  // before any thread exists
  absl::StatusOr<Covenant> covenant = LoadCovenant(covenant_file);
  if (!covenant.ok()) return Fail(kExitConfig, covenant.status());
  absl::StatusOr<LinkerKeys> keys =
      LoadKeys(keys_dir, covenant->id, vault, TlsFiles::FromPkiDir(pki, name));
  if (!keys.ok()) return Fail(kExitIo, keys.status());
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(TlsFiles::FromPkiDir(pki, name));
  if (!credentials.ok()) return Fail(kExitIo, credentials.status());
  absl::StatusOr<std::unique_ptr<LinkerStore>> store = LinkerStore::Open(data);
  if (!store.ok()) return Fail(kExitIo, store.status());
  std::string covenant_id = covenant->id;
  absl::StatusOr<std::unique_ptr<BatchIngester>> ingester =
      BatchIngester::Create(std::move(*covenant), std::move(*keys), store->get());
  if (!ingester.ok()) return Fail(kExitIo, ingester.status());

  QueryRunner queries(&(*ingester)->covenant(), &(*ingester)->data_key(), store->get());
  LinkerService service(ingester->get(), store->get(), &queries);
  spdlog::info("koppel-linker serving covenant {} (data in {})", covenant_id, data);
  ServiceOptions options{"koppel-linker", listen, port_file,
                         static_cast<int>(BatchIngester::kMaxSealedBytes + (1 << 20))};
  if (absl::Status s = ServeUntilStopped(&service, *credentials, options, stop_signals); !s.ok()) {
    return Fail(kExitIo, s);
  }
  spdlog::info("koppel-linker stopped after storing {} batches", service.batches_stored());
  return kExitOk;
}

int Keygen(const std::string& dir) {
  std::filesystem::create_directories(dir);
  absl::StatusOr<Secret> box = Secret::Allocate(crypto_box_SECRETKEYBYTES);
  absl::StatusOr<Secret> signing = Secret::Allocate(crypto_sign_SECRETKEYBYTES);
  absl::StatusOr<Secret> master = Secret::Random(32);
  if (!box.ok() || !signing.ok() || !master.ok()) {
    return Fail(kExitIo, absl::ResourceExhaustedError("cannot allocate key memory"));
  }
  std::array<uint8_t, crypto_box_PUBLICKEYBYTES> box_pk;
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> sign_pk;
  crypto_box_keypair(box_pk.data(), box->mutable_data());
  crypto_sign_keypair(sign_pk.data(), signing->mutable_data());
  const std::filesystem::path d(dir);
  for (absl::Status s : {WriteKeyFile(d / "linker.key", *box),
                         WritePublicKeyFile(d / "linker.key.pub", box_pk),
                         WriteKeyFile(d / "linker-signing.key", *signing),
                         WritePublicKeyFile(d / "linker-signing.key.pub", sign_pk),
                         WriteKeyFile(d / "linker-master.key", *master)}) {
    if (!s.ok()) return Fail(kExitIo, s);
  }
  fmt::print(stderr, "koppel-linker: wrote keys to {}\n", dir);
  return kExitOk;
}

int Main(int argc, char** argv) {
  CLI::App app{"koppel-linker: stores sealed batches from agents and acknowledges them with "
               "signed receipts, over mutual TLS."};
  app.require_subcommand(1);
  std::string listen = "127.0.0.1:7443", pki, name = "linker", data, keys, covenant, port_file,
      vault;
  CLI::App* serve = app.add_subcommand("serve", "run the linker service until SIGTERM");
  serve->add_option("--listen", listen, "address:port to listen on (port 0: any free port)");
  serve->add_option("--pki", pki, "directory made by scripts/pki")->required()->check(CLI::ExistingDirectory);
  serve->add_option("--name", name, "this linker's certificate name in --pki");
  serve->add_option("--data", data, "RocksDB directory (created on first start)")->required();
  serve->add_option("--keys", keys, "directory with the keys made by `koppel-linker keygen`")
      ->required()
      ->check(CLI::ExistingDirectory);
  serve->add_option("--covenant", covenant, "covenant file naming the parties")
      ->required()
      ->check(CLI::ExistingFile);
  serve->add_option("--port-file", port_file, "write the port listened on to this file");
  serve->add_option("--vault", vault,
                    "vault address: the covenant's data key comes from there (without it, it is "
                    "derived from the linker's master key, for offline use)");
  std::string keygen_dir;
  CLI::App* keygen = app.add_subcommand("keygen", "create the linker's keys in a directory");
  keygen->add_option("--out", keygen_dir, "directory for the key files")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (sodium_init() < 0) return kExitIo;
  if (serve->parsed()) return Serve(listen, pki, name, data, keys, covenant, port_file, vault);
  if (keygen->parsed()) return Keygen(keygen_dir);
  return kExitUsage;
}

}  // namespace
}  // namespace koppel

int main(int argc, char** argv) { return koppel::Main(argc, argv); }
