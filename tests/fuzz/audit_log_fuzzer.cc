// An audit log file as `koppel audit verify` and a service at start read it: every line parsed
// without trusting it, the chain verified against the test audit key. When the first line reads
// as an anchor "SEQ:HASH" (as given to `koppel audit verify --anchor`), the log is the rest and
// is verified against it too; a log that verifies must also verify against its last entry.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/audit_log.h"
#include "tests/fuzz/fuzz_support.h"

using koppel::fuzz::Check;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  koppel::fuzz::InitForFuzzing();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = koppel::fuzz::AsText(data, size);
  const size_t newline = input.find('\n');
  absl::StatusOr<koppel::AuditAnchor> given = koppel::ParseAuditAnchor(input.substr(0, newline));
  if (given.ok()) {
    const size_t skip = newline == std::string_view::npos ? size : newline + 1;
    data += skip;
    size -= skip;
  }

  koppel::fuzz::MemFile file({data, size});
  size_t torn = 0;
  absl::StatusOr<std::vector<koppel::AuditEntry>> entries =
      koppel::ReadAuditLog(file.path(), &torn);
  absl::StatusOr<std::vector<koppel::AuditEntry>> strict = koppel::ReadAuditLog(file.path());
  if (!entries.ok()) {
    Check(!strict.ok(), "a log is refused only when torn lines are allowed");
    return 0;
  }
  Check(strict.ok() == (torn == 0), "a torn last line is not what refuses the strict read");
  Check(torn <= size, "more torn bytes than the file has");

  const koppel::SigningPublicKey key =
      koppel::fuzz::PublicKeyOf(koppel::fuzz::TestAuditSigningKey());
  const std::string_view key_bytes(reinterpret_cast<const char*>(key.data()), key.size());
  absl::StatusOr<koppel::AuditVerification> verified =
      koppel::VerifyAuditLog(*entries, key_bytes, std::nullopt);
  if (given.ok()) (void)koppel::VerifyAuditLog(*entries, key_bytes, *given);
  if (!verified.ok() || entries->empty()) return 0;
  Check(verified->entries == entries->size(), "a verified log counts other entries");
  const koppel::AuditAnchor anchor{entries->back().seq, entries->back().hash};
  Check(koppel::VerifyAuditLog(*entries, key_bytes, anchor).ok(),
        "a log does not verify against the anchor of its own last entry");
  koppel::AuditAnchor wrong = anchor;
  wrong.seq += 1;
  Check(!koppel::VerifyAuditLog(*entries, key_bytes, wrong).ok(),
        "a log verifies against an anchor past its end");
  return 0;
}
