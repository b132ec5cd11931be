// An external sort in bounded memory for fixed-size records: values are held up to a limit,
// then spilled as sorted runs to an anonymous temporary file and merged at the end. Used by the
// duplicate counter (fingerprints with their row numbers, then the duplicates in file order).
#ifndef KOPPEL_AGENTS_SORTED_RUNS_H_
#define KOPPEL_AGENTS_SORTED_RUNS_H_

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <queue>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace koppel::agent {

template <typename T>
class SortedRuns {
  static_assert(std::is_trivially_copyable_v<T>, "runs are written as raw bytes");

 public:
  explicit SortedRuns(size_t max_in_memory) : max_in_memory_(std::max<size_t>(max_in_memory, 2)) {}
  SortedRuns(SortedRuns&& other) noexcept
      : max_in_memory_(other.max_in_memory_),
        buffer_(std::move(other.buffer_)),
        spill_(std::exchange(other.spill_, nullptr)),
        runs_(std::move(other.runs_)) {}
  SortedRuns& operator=(SortedRuns&&) = delete;
  ~SortedRuns() {
    if (spill_ != nullptr) std::fclose(spill_);
  }

  absl::Status Add(const T& value) {
    buffer_.push_back(value);
    if (buffer_.size() >= max_in_memory_) return Spill();
    return absl::OkStatus();
  }

  // Calls `visit` for every value added, in ascending order, and stops at its first error.
  // Call once, after the last Add().
  absl::Status Merge(const std::function<absl::Status(const T&)>& visit) {
    std::sort(buffer_.begin(), buffer_.end());
    if (runs_.empty()) {
      for (const T& value : buffer_) {
        if (absl::Status s = visit(value); !s.ok()) return s;
      }
      return absl::OkStatus();
    }
    if (!buffer_.empty()) {
      if (absl::Status s = Spill(); !s.ok()) return s;
    }
    std::fflush(spill_);
    // k-way merge: each run is read sequentially through its own small buffer.
    struct Cursor {
      uint64_t next;  // file position in values
      uint64_t end;
      std::vector<T> chunk;
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
      if (std::fseek(spill_, static_cast<long>(c.next * sizeof(T)), SEEK_SET) != 0 ||
          std::fread(c.chunk.data(), sizeof(T), n, spill_) != n) {
        c.chunk.clear();
        return false;
      }
      c.next += n;
      c.pos = 0;
      return true;
    };
    using Entry = std::pair<T, size_t>;
    auto greater = [](const Entry& a, const Entry& b) { return b.first < a.first; };
    std::priority_queue<Entry, std::vector<Entry>, decltype(greater)> heap(greater);
    uint64_t expected = 0;
    for (size_t i = 0; i < cursors.size(); ++i) {
      expected += cursors[i].end - cursors[i].next;
      if (refill(cursors[i])) heap.emplace(cursors[i].chunk[cursors[i].pos++], i);
    }
    uint64_t seen = 0;
    while (!heap.empty()) {
      auto [value, i] = heap.top();
      heap.pop();
      ++seen;
      if (absl::Status s = visit(value); !s.ok()) return s;
      if (refill(cursors[i])) heap.emplace(cursors[i].chunk[cursors[i].pos++], i);
    }
    if (seen != expected) {
      return absl::DataLossError("a sorting temporary file could not be read back");
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Spill() {
    if (spill_ == nullptr) {
      spill_ = std::tmpfile();  // unlinked at once; vanishes with the process
      if (spill_ == nullptr) {
        return absl::InternalError(
            "cannot create a temporary file for sorting; check TMPDIR has space");
      }
    }
    std::sort(buffer_.begin(), buffer_.end());
    if (std::fseek(spill_, 0, SEEK_END) != 0) return absl::InternalError("temporary file seek");
    long offset = std::ftell(spill_);
    if (std::fwrite(buffer_.data(), sizeof(T), buffer_.size(), spill_) != buffer_.size()) {
      return absl::InternalError("cannot write a sorting temporary file (disk full?)");
    }
    runs_.emplace_back(static_cast<uint64_t>(offset) / sizeof(T), buffer_.size());
    buffer_.clear();
    return absl::OkStatus();
  }

  size_t max_in_memory_;
  std::vector<T> buffer_;
  FILE* spill_ = nullptr;
  std::vector<std::pair<uint64_t, uint64_t>> runs_;  // offset and count, in values
};

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_SORTED_RUNS_H_
