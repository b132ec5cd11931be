#include "linker/analysis/query_runner.h"

#include <fmt/format.h>
#include <sodium.h>

#include <map>

#include "core/hex.h"
#include "core/status_macros.h"
#include "linker/analysis/analysis_engine.h"
#include "linker/analysis/prices.h"
#include "linker/analysis/release.h"

namespace koppel {
namespace {

absl::Status Refuse(const Covenant& covenant, const std::string& what, const std::string& rule) {
  return absl::PermissionDeniedError(
      fmt::format("covenant {} v{}: {} (rule: {})", covenant.id, covenant.version, what, rule));
}

}  // namespace

absl::Status CheckSpecAllowed(const AnalysisSpec& spec, const Covenant& covenant) {
  const AnalysisPolicy& policy = covenant.analysis;
  if (!policy.analyses.contains(spec.name)) {
    return Refuse(covenant, fmt::format("the analysis '{}' is not one the covenant allows", spec.name),
                  "analysis.analyses");
  }
  auto need_measure = [&](const TableSpec& table, const std::string& measure) -> absl::Status {
    if (policy.measures.contains(measure)) return absl::OkStatus();
    return Refuse(covenant, fmt::format("table '{}' asks for the measure '{}', which the covenant "
                                        "does not allow", table.name, measure),
                  "analysis.measures");
  };
  for (const TableSpec& table : spec.tables) {
    const char* dimension = table.rows == Dimension::kArea            ? "area"
                            : table.rows == Dimension::kHouseholdType ? "household_type"
                                                                      : nullptr;
    if (dimension != nullptr && !policy.dimensions.contains(dimension)) {
      return Refuse(covenant, fmt::format("table '{}' groups by '{}', which the covenant does not "
                                          "allow", table.name, dimension),
                    "analysis.dimensions");
    }
    const char* kind = table.kind == TableKind::kCounts    ? "counts"
                       : table.kind == TableKind::kOverlap ? "overlap"
                       : table.kind == TableKind::kCosts   ? "costs"
                                                           : "sensitivity";
    if (!policy.table_kinds.contains(kind)) {
      return Refuse(covenant, fmt::format("table '{}' is a {} table, which the covenant does not "
                                          "allow", table.name, kind),
                    "analysis.table_kinds");
    }
    switch (table.kind) {
      case TableKind::kCounts:
        RETURN_IF_ERROR(need_measure(table, "count"));
        for (const CountColumn& column : table.columns) {
          if (column.percent) RETURN_IF_ERROR(need_measure(table, "percent"));
        }
        break;
      case TableKind::kOverlap: RETURN_IF_ERROR(need_measure(table, "count")); break;
      case TableKind::kCosts:
      case TableKind::kSensitivity: RETURN_IF_ERROR(need_measure(table, "cost")); break;
    }
  }
  if (spec.min_cell && *spec.min_cell < policy.min_cell) {
    return Refuse(covenant, fmt::format("the spec asks for min_cell {}, below the covenant's {}; "
                                        "a spec may only make disclosure control stricter",
                                        *spec.min_cell, policy.min_cell),
                  "analysis.disclosure.min_cell");
  }
  return absl::OkStatus();
}

std::string SpecDigest(const v1::QueryRequest& request) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  auto add = [&](const std::string& text) {
    const uint64_t size = text.size();
    unsigned char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(size >> (8 * i));
    crypto_hash_sha256_update(&state, length, sizeof length);
    crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  };
  add(request.spec_yaml());
  const std::map<std::string, std::string> files(request.files().begin(), request.files().end());
  for (const auto& [name, content] : files) {
    add(name);
    add(content);
  }
  std::array<uint8_t, crypto_hash_sha256_BYTES> digest;
  crypto_hash_sha256_final(&state, digest.data());
  return ToHex(digest);
}

absl::StatusOr<v1::Release> QueryRunner::Run(const std::string& caller,
                                             const v1::QueryRequest& request) {
  RETURN_IF_ERROR(covenant_->analysis.MayQuery(*covenant_, caller));
  const std::string source = request.spec_name().empty() ? "spec" : request.spec_name();
  ASSIGN_OR_RETURN(AnalysisSpec spec, ParseAnalysisSpec(request.spec_yaml(), source));
  RETURN_IF_ERROR(CheckSpecAllowed(spec, *covenant_));
  PriceTable prices;
  if (!spec.prices_file.empty()) {
    auto file = request.files().find(spec.prices_file);
    if (file == request.files().end()) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: the spec names prices file '{}', but the query does not carry it (send it along; "
          "koppel query does this itself)", source, spec.prices_file));
    }
    ASSIGN_OR_RETURN(prices, ParsePrices(file->second, spec.prices_file));
  }
  AnalysisPolicy policy = covenant_->analysis;
  if (spec.min_cell) policy.min_cell = std::max<int64_t>(policy.min_cell, *spec.min_cell);
  EngineOptions options;
  options.max_contribution_eur = policy.max_contribution_eur;
  options.largest_kept = std::max(policy.dominance_n, 1);
  options.report_progress = true;  // into the linker's log

  std::lock_guard<std::mutex> lock(one_at_a_time_);
  ASSIGN_OR_RETURN(int64_t spent, store_->ReleasesSpent(covenant_->id));
  if (policy.max_releases > 0 && spent >= policy.max_releases) {
    return absl::ResourceExhaustedError(fmt::format(
        "covenant {} v{}: all {} releases of the covenant's budget are spent (rule: "
        "analysis.disclosure.max_releases); the privacy officers decide on a new version",
        covenant_->id, covenant_->version, policy.max_releases));
  }
  AnalysisEngine engine(store_, covenant_->id, data_key_);
  ASSIGN_OR_RETURN(AnalysisResult result, engine.Run(spec, prices, options));
  ReleaseContext context;
  context.covenant_id = covenant_->id;
  context.analysis = spec.name;
  context.spec_sha256 = SpecDigest(request);
  context.recipient = caller;
  for (const Date& date : spec.reference_dates) context.reference_dates.push_back(IsoDate(date));
  ASSIGN_OR_RETURN(v1::Release release, ProtectAndRelease(result, policy, context));
  // The budget is spent once the release exists, before it leaves the linker.
  RETURN_IF_ERROR(store_->SpendRelease(covenant_->id));
  release.mutable_metadata()->set_covenant_version(covenant_->version);
  release.mutable_metadata()->set_releases_left(
      policy.max_releases > 0 ? policy.max_releases - spent - 1 : -1);
  return release;
}

}  // namespace koppel
