#include "agents/duplicate_counter.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <queue>

namespace koppel {

absl::StatusOr<DuplicateCounter> DuplicateCounter::Create(size_t max_in_memory) {
  absl::StatusOr<Secret> key = Secret::Random(crypto_shorthash_siphashx24_KEYBYTES);
  if (!key.ok()) return key.status();
  return DuplicateCounter(std::move(*key), std::max<size_t>(max_in_memory, 2));
}

DuplicateCounter::DuplicateCounter(DuplicateCounter&& other) noexcept
    : key_(std::move(other.key_)),
      max_in_memory_(other.max_in_memory_),
      buffer_(std::move(other.buffer_)),
      spill_(std::exchange(other.spill_, nullptr)),
      runs_(std::move(other.runs_)) {}

DuplicateCounter::~DuplicateCounter() {
  if (spill_ != nullptr) std::fclose(spill_);
}

absl::Status DuplicateCounter::Add(std::string_view normalised) {
  Fingerprint fp;
  static_assert(sizeof fp == crypto_shorthash_siphashx24_BYTES);
  crypto_shorthash_siphashx24(reinterpret_cast<unsigned char*>(fp.data()),
                              reinterpret_cast<const unsigned char*>(normalised.data()),
                              normalised.size(), key_.data());
  buffer_.push_back(fp);
  if (buffer_.size() >= max_in_memory_) return Spill();
  return absl::OkStatus();
}

absl::Status DuplicateCounter::Spill() {
  if (spill_ == nullptr) {
    spill_ = std::tmpfile();  // unlinked at once; vanishes with the process
    if (spill_ == nullptr) {
      return absl::InternalError(
          "cannot create a temporary file for duplicate counting; check TMPDIR has space");
    }
  }
  std::sort(buffer_.begin(), buffer_.end());
  if (std::fseek(spill_, 0, SEEK_END) != 0) return absl::InternalError("temporary file seek");
  long offset = std::ftell(spill_);
  if (std::fwrite(buffer_.data(), sizeof(Fingerprint), buffer_.size(), spill_) !=
      buffer_.size()) {
    return absl::InternalError("cannot write the duplicate-counting temporary file (disk full?)");
  }
  runs_.emplace_back(static_cast<uint64_t>(offset) / sizeof(Fingerprint), buffer_.size());
  buffer_.clear();
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> DuplicateCounter::CountDuplicates() {
  std::sort(buffer_.begin(), buffer_.end());
  uint64_t duplicates = 0;
  if (runs_.empty()) {
    for (size_t i = 1; i < buffer_.size(); ++i) {
      if (buffer_[i] == buffer_[i - 1]) ++duplicates;
    }
    return duplicates;
  }
  if (!buffer_.empty() && !Spill().ok()) {
    return absl::InternalError("cannot write the duplicate-counting temporary file");
  }
  std::fflush(spill_);
  // k-way merge: each run is read sequentially through its own small buffer.
  struct Cursor {
    uint64_t next;  // file position in fingerprints
    uint64_t end;
    std::vector<Fingerprint> chunk;
    size_t pos = 0;
  };
  constexpr size_t kChunk = 4096;
  std::vector<Cursor> cursors;
  for (auto [offset, count] : runs_) cursors.push_back({offset, offset + count, {}, 0});
  auto refill = [&](Cursor& c) -> bool {
    if (c.pos < c.chunk.size()) return true;
    if (c.next >= c.end) return false;
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, c.end - c.next));
    c.chunk.resize(n);
    if (std::fseek(spill_, static_cast<long>(c.next * sizeof(Fingerprint)), SEEK_SET) != 0 ||
        std::fread(c.chunk.data(), sizeof(Fingerprint), n, spill_) != n) {
      c.chunk.clear();
      return false;
    }
    c.next += n;
    c.pos = 0;
    return true;
  };
  using Entry = std::pair<Fingerprint, size_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
  uint64_t expected = 0;
  for (size_t i = 0; i < cursors.size(); ++i) {
    expected += cursors[i].end - cursors[i].next;
    if (refill(cursors[i])) heap.emplace(cursors[i].chunk[cursors[i].pos++], i);
  }
  uint64_t seen = 0;
  Fingerprint previous{};
  while (!heap.empty()) {
    auto [fp, i] = heap.top();
    heap.pop();
    if (seen > 0 && fp == previous) ++duplicates;
    previous = fp;
    ++seen;
    if (refill(cursors[i])) heap.emplace(cursors[i].chunk[cursors[i].pos++], i);
  }
  if (seen != expected) {
    return absl::DataLossError("the duplicate-counting temporary file could not be read back");
  }
  return duplicates;
}

}  // namespace koppel
