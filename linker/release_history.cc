#include "linker/release_history.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sodium.h>

#include <algorithm>
#include <functional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "core/civil_date.h"
#include "core/hmac.h"
#include "core/status_macros.h"

namespace koppel::linker {

absl::StatusOr<ReleaseHistory> ReleaseHistory::Open(LinkerStore* store, std::string covenant,
                                                    const Secret& data_key) {
  ASSIGN_OR_RETURN(Secret key, HkdfSha256(data_key.span(), {}, "koppel/v1/release-history",
                                          crypto_secretbox_KEYBYTES));
  return ReleaseHistory(store, std::move(covenant), std::move(key));
}

std::optional<v1::ReleaseRecord> ReleaseHistory::Open(std::string_view entry) const {
  const size_t overhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
  if (entry.size() < overhead) return std::nullopt;
  std::string plain(entry.size() - overhead, '\0');
  const auto* bytes = reinterpret_cast<const unsigned char*>(entry.data());
  bool ok = crypto_secretbox_open_easy(
                reinterpret_cast<unsigned char*>(plain.data()), bytes + crypto_secretbox_NONCEBYTES,
                entry.size() - crypto_secretbox_NONCEBYTES, bytes, key_.data()) == 0;
  v1::ReleaseRecord record;
  ok = ok && record.ParseFromString(plain);
  sodium_memzero(plain.data(), plain.size());
  if (!ok) return std::nullopt;
  return record;
}

absl::StatusOr<std::vector<v1::ReleaseRecord>> ReleaseHistory::Load() const {
  ASSIGN_OR_RETURN(std::vector<std::string> sealed, store_->ReleaseHistory(covenant_));
  std::vector<v1::ReleaseRecord> records;
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::optional<v1::ReleaseRecord> record = Open(sealed[i]);
    if (!record.has_value()) {
      return absl::DataLossError(fmt::format(
          "entry {} of covenant {}'s release history does not open (altered, or sealed with "
          "another key); the linker releases nothing until the store is restored",
          i, covenant_));
    }
    records.push_back(std::move(*record));
  }
  return records;
}

absl::Status ReleaseHistory::Check(const SealedRelease& entry) const {
  std::optional<v1::ReleaseRecord> record = Open(entry.sealed);
  if (!record.has_value() || record->sequence() != entry.sequence) {
    return absl::DataLossError(fmt::format(
        "release history entry {} of covenant {} {}: it is not an entry of this covenant's "
        "history (altered, or sealed with another key)",
        entry.sequence, covenant_,
        record.has_value() ? "holds a record of another number" : "does not open"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SealedRelease> ReleaseHistory::Append(v1::ReleaseRecord record) {
  ASSIGN_OR_RETURN(int64_t spent, store_->ReleasesSpent(covenant_));
  record.set_sequence(static_cast<uint64_t>(spent));
  std::string plain = record.SerializeAsString();
  std::string sealed(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plain.size(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(sealed.data());
  randombytes_buf(out, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), out,
                        key_.data());
  sodium_memzero(plain.data(), plain.size());
  RETURN_IF_ERROR(store_->RecordRelease(covenant_, sealed));
  return SealedRelease{.sequence = record.sequence(), .sealed = std::move(sealed)};
}

void AddHistoryEntry(const SealedRelease& entry, nlohmann::json* details) {
  std::string encoded = absl::Base64Escape(entry.sealed);
  if (encoded.size() > kMaxAuditedHistoryEntry) {
    (*details)["history_entry_omitted"] = true;
    return;
  }
  (*details)["history_sequence"] = entry.sequence;
  (*details)["history_entry"] = std::move(encoded);
}

absl::StatusOr<std::optional<SealedRelease>> HistoryEntryOf(const nlohmann::json& details) {
  if (!details.is_object() || !details.contains("history_entry")) return std::nullopt;
  const nlohmann::json& encoded = details["history_entry"];
  const nlohmann::json sequence = details.value("history_sequence", nlohmann::json());
  SealedRelease entry;
  if (!encoded.is_string() || !sequence.is_number_unsigned() ||
      !absl::Base64Unescape(encoded.get<std::string>(), &entry.sealed)) {
    return absl::DataLossError("a release audit entry holds a malformed history entry");
  }
  entry.sequence = sequence.get<uint64_t>();
  return entry;
}

namespace {

std::string FilterDefinition(const analysis::AttributeFilter& filter) {
  std::vector<std::string> codes = filter.codes;
  std::sort(codes.begin(), codes.end());
  return fmt::format("{} in [{}]{}{}", filter.attribute, fmt::join(codes, ","),
                     filter.below ? fmt::format(" below {}", *filter.below) : "",
                     filter.at_least ? fmt::format(" at least {}", *filter.at_least) : "");
}

std::string IndicatorDefinition(const analysis::IndicatorSpec& indicator) {
  std::vector<std::string> filters;
  for (const analysis::AttributeFilter& filter : indicator.filters) {
    filters.push_back(FilterDefinition(filter));
  }
  std::sort(filters.begin(), filters.end());
  const analysis::PeriodSpec& period = indicator.period;
  return fmt::format("dataset {} where [{}] period {} {} {} year offset {} members {} moves {}",
                     indicator.dataset, fmt::join(filters, "; "), static_cast<int>(period.kind),
                     period.from, period.to, period.year_offset,
                     static_cast<int>(indicator.members), indicator.min_moves.value_or(0));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> CostBenefitDesign(
    const analysis::AnalysisSpec& spec) {
  if (!spec.cost_benefit) return {};
  const analysis::CostBenefitSpec& cost_benefit = *spec.cost_benefit;
  // An indicator, flag, household_type or area by what it selects (a flag by its operands').
  std::function<std::string(const std::string&)> operand = [&](const std::string& name) {
    for (const analysis::IndicatorSpec& indicator : spec.indicators) {
      // By what it selects, not by its name: a renamed indicator is the same design.
      if (indicator.name == name)
        return fmt::format("indicator({})", IndicatorDefinition(indicator));
    }
    if (name == "household_type") {
      std::string types;
      for (const analysis::HouseholdTypeSpec& type : spec.household_types) {
        types += fmt::format("[{} adults {}..{} children {}..{}]", type.name, type.adults.min,
                             type.adults.max, type.children.min, type.children.max);
      }
      return fmt::format("household_type({})", types);
    }
    if (name == "area") return fmt::format("area({})", spec.area_attribute);
    for (const analysis::FlagSpec& flag : spec.flags) {
      if (flag.name != name) continue;
      std::string operands;
      for (const auto& [kind, names] : {std::pair{"all", &flag.all}, std::pair{"any", &flag.any},
                                        std::pair{"none", &flag.none}}) {
        std::vector<std::string> parts;
        for (const std::string& n : *names) parts.push_back(operand(n));
        std::sort(parts.begin(), parts.end());
        operands += fmt::format(" {}[{}]", kind, absl::StrJoin(parts, "; "));
      }
      return fmt::format("flag({})", operands);
    }
    return name;
  };
  auto operands = [&](const std::vector<std::string>& names) {
    std::vector<std::string> parts;
    for (const std::string& name : names) parts.push_back(operand(name));
    std::sort(parts.begin(), parts.end());
    return absl::StrJoin(parts, "; ");
  };
  std::vector<std::pair<std::string, std::string>> design;
  design.emplace_back("reference date",
                      spec.reference_dates.empty() ? "-" : IsoDate(spec.reference_dates[0]));
  design.emplace_back("households", fmt::format("register {} birth {} from {} to {} adult age {}",
                                                spec.register_dataset, spec.birth_date_attribute,
                                                spec.valid_from_attribute, spec.valid_to_attribute,
                                                spec.adult_age));
  design.emplace_back("cohort indicator", operand(cost_benefit.cohort_indicator));
  design.emplace_back("start", cost_benefit.start_attribute);
  design.emplace_back("comparison", cost_benefit.comparison ? "yes" : "none (before/after)");
  if (cost_benefit.comparison) {
    design.emplace_back("comparison.exclude", operands(cost_benefit.exclude));
    design.emplace_back("comparison.match_on", operands(cost_benefit.match_on));
  }
  return design;
}

absl::StatusOr<std::string> CostBenefitDesignConflict(
    const analysis::AnalysisSpec& spec, const std::vector<v1::ReleaseRecord>& earlier) {
  const std::vector<std::pair<std::string, std::string>> design = CostBenefitDesign(spec);
  if (design.empty()) return std::string();
  for (const v1::ReleaseRecord& record : earlier) {
    // Every earlier spec is parsed: YAML can spell the key so that no substring test finds it.
    ASSIGN_OR_RETURN(analysis::AnalysisSpec old_spec,
                     analysis::ParseAnalysisSpec(record.spec_yaml(), record.spec_name()));
    const std::vector<std::pair<std::string, std::string>> old_design = CostBenefitDesign(old_spec);
    if (old_design.empty() || old_design == design) continue;
    std::vector<std::string> differs;
    for (const auto& [part, definition] : design) {
      auto old = std::find_if(old_design.begin(), old_design.end(),
                              [&](const auto& entry) { return entry.first == part; });
      if (old == old_design.end() || old->second != definition) differs.push_back(part);
    }
    for (const auto& [part, definition] : old_design) {
      if (std::find(differs.begin(), differs.end(), part) == differs.end() &&
          std::none_of(design.begin(), design.end(),
                       [&](const auto& entry) { return entry.first == part; })) {
        differs.push_back(part);
      }
    }
    return fmt::format(
        "this cost-benefit analysis defines its cohort and comparison otherwise than release {} "
        "('{}'), an earlier cost-benefit release of this covenant (it differs in: {}). Two "
        "cohort designs differ by the households one counts and the other does not, so the "
        "difference of their figures could isolate a few households' money, which disclosure "
        "control cannot see across them; every cost-benefit release of a covenant shares one "
        "design (outcomes, windows, horizon, rates, sensitivity and costs may differ). Keep the "
        "earlier design, or ask the privacy officers: another design needs a covenant of its "
        "own",
        record.sequence(), record.analysis(), absl::StrJoin(differs, ", "));
  }
  return std::string();
}

std::vector<v1::DataVersion> DataVersionOf(const analysis::AnalysisResult& result) {
  std::vector<v1::DataVersion> version;
  for (const auto& [dataset, ids] : result.batches_read) {
    v1::DataVersion& entry = version.emplace_back();
    entry.set_dataset(dataset);
    for (const std::string& id : ids) entry.add_batch_ids(id);
  }
  return version;
}

absl::flat_hash_set<std::string> BatchesOf(
    const google::protobuf::RepeatedPtrField<v1::DataVersion>& version) {
  absl::flat_hash_set<std::string> batches;
  for (const v1::DataVersion& entry : version) {
    for (const std::string& id : entry.batch_ids()) batches.insert(id);
  }
  return batches;
}

}  // namespace koppel::linker
