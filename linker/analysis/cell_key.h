// Consistent perturbation of counts for exploratory releases (ARCHITECTURE section 5): the cell
// key method of ABS TableBuilder and the European census tables. Every household gets a record
// key derived from the covenant's data key; the key of a cell is the sum of the record keys of the
// households in it; a perturbation table turns (count, cell key) into the published count. The
// same households always make the same cell key and so get the same noise, whichever query forms
// the cell, so asking again averages nothing away and differencing two releases yields noise.
//
// Boundaries: a cell key k stands for u = k / 2^32 in [0, 1). Within the row group of a count,
// the rows cut [0, 1) at their p_int_ub values: row r (from 1) covers [ub_{r-1}, ub_r), with
// ub_0 = 0 and the last cut (1 within 1e-6, as Parse checks) taken as 1 exactly; each p_int_lb
// equals the p_int_ub before it within 1e-6 and is not used further. So row r is chosen exactly
// when ceil(ub_{r-1} * 2^32) <= k < ceil(ub_r * 2^32), the bounds read as correctly rounded
// doubles: u exactly at a cut belongs to the row above the cut, every key finds a row, and a row
// with an empty interval (p = 0) is never chosen.
#ifndef KOPPEL_LINKER_ANALYSIS_CELL_KEY_H_
#define KOPPEL_LINKER_ANALYSIS_CELL_KEY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/hmac.h"
#include "core/secret.h"

namespace koppel::analysis {

// A perturbation table for counts, as the `ptable` R package (sdcTools/ptable,
// create_cnt_ptable + pt_export(SDCtool="SAS")) or scripts/make-ptable writes it: columns i, j,
// p, v, p_int_lb, p_int_ub in any order (an optional `type` column is accepted and ignored),
// separated by ';' or ',' (whichever the header uses; ';' wins), numbers may be padded with
// blanks. Row group i gives, for an original count i, the probability p of publishing
// j = i + v; the cumulative intervals [p_int_lb, p_int_ub) partition [0, 1). The last i (imax)
// applies to every count >= imax (noise v, published count + v).
class PerturbationTable {
 public:
  struct Row {
    int64_t i = 0;
    int64_t j = 0;
    int64_t v = 0;
    double p = 0;
    double p_int_lb = 0;
    double p_int_ub = 0;
  };

  // Largest table Parse accepts, so that a hostile file cannot make it allocate much.
  static constexpr size_t kMaxRows = 10000;
  static constexpr int64_t kMaxAbsNoise = 1000;
  static constexpr size_t kMaxLineBytes = 4096;
  // Tolerance of the checks on sums and interval bounds.
  static constexpr double kTolerance = 1e-6;

  // Errors are INVALID_ARGUMENT "<source>:<line>:<col>: problem", line being the line of the
  // CSV text (from 1) and col the column number (from 1) the problem is in.
  static absl::StatusOr<PerturbationTable> Parse(std::string_view csv, std::string_view source);
  // The table compiled into koppel from linker/analysis/ptable_default.csv (made by
  // `scripts/make-ptable -D 3 -V 2 --js 2`), parsed once.
  static const PerturbationTable& Default();

  // The published count for an original `count` (>= 0) whose cell key is `cell_key`. 0 stays 0
  // (as does a negative value, which is not a count). Deterministic.
  int64_t Perturb(int64_t count, uint32_t cell_key) const;

  // The largest |v| of a row that can be chosen.
  int64_t max_noise() const { return max_noise_; }
  // js: no positive count <= js is ever published (0: none blocked).
  int64_t blocked_up_to() const { return blocked_up_to_; }
  // imax: the last i, whose rows every count >= imax uses.
  int64_t max_i() const { return static_cast<int64_t>(group_begin_.size()) - 2; }
  // Lowercase hex SHA-256 of the bytes parsed: names the table in release metadata.
  const std::string& sha256() const { return sha256_; }
  // The rows as read, in file order.
  const std::vector<Row>& rows() const { return rows_; }

 private:
  struct Entry {
    uint64_t upper;  // ceil(ub * 2^32): the row is chosen for keys below this and not below the
                     // previous entry's upper
    int64_t noise;
  };

  PerturbationTable() = default;

  std::vector<Row> rows_;
  std::vector<Entry> entries_;       // one per row, grouped by i
  std::vector<size_t> group_begin_;  // entries of count i: [group_begin_[i], group_begin_[i+1])
  int64_t max_noise_ = 0;
  int64_t blocked_up_to_ = 0;
  std::string sha256_;
};

// Per-household random record keys for the cell key method, derived from a covenant's data key
// so that they disappear with it (crypto-shredding) and are never stored. The key of a cell is
// the sum, modulo 2^32, of the record keys of the households in it (uint32_t addition).
class RecordKeys {
 public:
  // Derives HKDF-SHA256(data key, salt empty, info "koppel/v1/record-keys", 32 bytes). Fails
  // only when guarded memory or OpenSSL's HKDF is unavailable.
  static absl::StatusOr<RecordKeys> Create(const Secret& data_key);

  // First 4 bytes (little endian) of HMAC-SHA256(derived key, household_token).
  uint32_t Of(std::string_view household_token) const;

 private:
  explicit RecordKeys(HmacSha256Key mac) : mac_(std::move(mac)) {}
  HmacSha256Key mac_;
};

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_CELL_KEY_H_
