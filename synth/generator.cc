#include "synth/generator.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <system_error>
#include <vector>

#include "core/progress.h"
#include "core/status_macros.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "synth/catalog.h"
#include "synth/cohort.h"
#include "synth/cost_benefit_truth.h"
#include "synth/export_writer.h"
#include "synth/household.h"
#include "synth/intervention.h"
#include "synth/study.h"
#include "synth/study_spec.h"

namespace koppel::synth {
namespace {

namespace fs = std::filesystem;

absl::Status IoError(const fs::path& path, std::string_view what, std::string_view reason) {
  return absl::UnavailableError(fmt::format(
      "cannot {} {}: {}; check that the location exists, is writable and has free space, or "
      "choose another --out directory",
      what, path.string(), reason));
}

absl::Status PrepareDirectory(const fs::path& out, bool force) {
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec)) return IoError(out, "use", "it is not a directory");
    if (!force && !fs::is_empty(out, ec)) {
      return absl::FailedPreconditionError(fmt::format(
          "{} is not empty; choose an empty or new directory, or pass --force to overwrite "
          "the files koppel-synth writes there",
          out.string()));
    }
  }
  for (const char* sub : {"exports", "mappings", "truth"}) {
    fs::create_directories(out / sub, ec);
    if (ec) return IoError(out / sub, "create directory", ec.message());
  }
  return absl::OkStatus();
}

absl::Status CreateDirectory(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IoError(dir, "create directory", ec.message());
  return absl::OkStatus();
}

// Share of households after which the dialect register lists one person living outside the
// municipality (the held-out city of issue 13 had 84 in about 31,000 households).
constexpr double kOutsiderRate = 0.003;

// A person registered at a well-formed postcode of a neighbouring town. Its letters start
// with N-Z, which AddressAllocator never gives a current address, so the postcode is on no
// list of the municipality.
Address OutsiderAddress(Rng& rng) {
  Address a;
  char first = static_cast<char>('N' + rng.Below(13));
  char second = static_cast<char>('A' + rng.Below(26));
  if (first == 'S' && (second == 'A' || second == 'D' || second == 'S')) second = 'B';
  a.postcode = fmt::format("{}{}{}", 7550 + rng.Below(50), first, second);
  a.number = static_cast<int>(1 + rng.Below(199));
  a.street = "Enschedesestraat";
  a.canonical = fmt::format("{}|{}||", a.postcode, a.number);
  return a;
}

absl::Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return IoError(path, "create", std::strerror(errno));
  file << text;
  file.close();
  if (!file) return IoError(path, "write", std::strerror(errno));
  return absl::OkStatus();
}

// Households and families per wijk: Almelo's family counts (table 1) scaled to the run size,
// with every wijk's ratio of households to families equal to the municipality's.
struct WijkPlan {
  uint64_t households = 0;
  uint64_t families = 0;
};

std::vector<WijkPlan> PlanWijken(uint64_t households) {
  const auto wijken = AlmeloWijken();
  const uint64_t families = static_cast<uint64_t>(
      std::llround(static_cast<double>(households) * kAlmeloFamilies / kAlmeloHouseholds));
  std::vector<WijkPlan> plan(wijken.size());
  uint64_t cumulative = 0, previous_h = 0, previous_f = 0;
  for (size_t w = 0; w < wijken.size(); ++w) {
    cumulative += static_cast<uint64_t>(wijken[w].families);
    const uint64_t h = (households * cumulative * 2 + kAlmeloFamilies) / (2 * kAlmeloFamilies);
    const uint64_t f = (families * cumulative * 2 + kAlmeloFamilies) / (2 * kAlmeloFamilies);
    plan[w] = {h - previous_h, f - previous_f};
    previous_h = h;
    previous_f = f;
  }
  return plan;
}

// Household j of n in a wijk with f families is a family when the running share steps up.
bool IsFamilySlot(uint64_t j, uint64_t n, uint64_t f) { return (j + 1) * f / n != j * f / n; }

class PopulationWriter {
 public:
  absl::Status Open(const fs::path& path) {
    path_ = path;
    file_ = std::fopen(path.c_str(), "wb");
    if (file_ == nullptr) return IoError(path, "create", std::strerror(errno));
    std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
    return Put("bsn,postcode,house_number,house_letter,house_addition,address_canonical\n");
  }
  absl::Status Add(const Household& h) {
    std::vector<std::pair<int, int>> seen;
    for (const Fact& f : h.facts) {
      if (f.dataset != Dataset::kBrp) continue;
      std::pair<int, int> key{f.member, f.address};
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
      seen.push_back(key);
      const Address& a = h.addresses[static_cast<size_t>(f.address)];
      RETURN_IF_ERROR(Put(fmt::format(
          "{},{},{},{},{},{}\n", h.members[static_cast<size_t>(f.member)].bsn, a.postcode, a.number,
          a.letter ? std::string(1, a.letter) : "", a.addition, a.canonical)));
    }
    return absl::OkStatus();
  }
  absl::Status AddPerson(const Person& person, const Address& a) {
    return Put(fmt::format("{},{},{},{},{},{}\n", person.bsn, a.postcode, a.number,
                           a.letter ? std::string(1, a.letter) : "", a.addition, a.canonical));
  }
  absl::Status Close() {
    std::FILE* file = file_;
    file_ = nullptr;
    const bool failed = std::ferror(file) != 0;
    if (std::fclose(file) != 0 || failed) return IoError(path_, "write", std::strerror(errno));
    return absl::OkStatus();
  }
  ~PopulationWriter() {
    if (file_ != nullptr) std::fclose(file_);
  }

 private:
  absl::Status Put(const std::string& s) {
    if (std::fwrite(s.data(), 1, s.size(), file_) != s.size()) {
      return IoError(path_, "write", std::strerror(errno));
    }
    return absl::OkStatus();
  }
  fs::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace

uint64_t HouseholdsFor(uint64_t persons) {
  if (persons == 0) return kAlmeloHouseholds;
  return std::max<uint64_t>(
      1, static_cast<uint64_t>(
             std::llround(static_cast<double>(persons) * kAlmeloHouseholds / kAlmeloPersons)));
}

absl::StatusOr<SynthSummary> Generate(const SynthOptions& options) {
  if (options.dialects && options.intervention) {
    return absl::InvalidArgumentError(
        "--dialects and --intervention cannot be combined: the dialects' register is a "
        "snapshot without address periods, and analyses/cost-benefit.yaml, whose ground truth "
        "--intervention writes, cannot run on it; generate the intervention without --dialects");
  }
  RETURN_IF_ERROR(PrepareDirectory(options.out, options.force));
  const bool dialects = options.dialects;
  if (dialects) {
    RETURN_IF_ERROR(CreateDirectory(options.out / "truth" / "rejects"));
    RETURN_IF_ERROR(CreateDirectory(options.out / "analyses"));
  }
  const Catalog catalog(dialects);
  const ExportWriter::Rates rates{options.error_rate, options.error_rate * 0.4};
  PostcodeSet municipality_postcodes;
  std::vector<std::unique_ptr<ExportWriter>> writers;
  for (size_t d = 0; d < kDatasetCount; ++d) {
    const DatasetSpec& spec = catalog.spec(static_cast<Dataset>(d));
    RETURN_IF_ERROR(WriteText(options.out / spec.MappingPath(), MappingYaml(spec)));
    const PostcodeSet* list = spec.postcodes_file.empty() ? nullptr : &municipality_postcodes;
    const fs::path rejects =
        dialects ? options.out / "truth" / "rejects" / (spec.name + ".csv") : fs::path();
    ASSIGN_OR_RETURN(
        std::unique_ptr<ExportWriter> writer,
        ExportWriter::Open(spec, options.out / spec.ExportPath(), rates, list, rejects));
    writers.push_back(std::move(writer));
  }
  PopulationWriter population, outsiders;
  RETURN_IF_ERROR(population.Open(options.out / "truth" / "population.csv"));
  if (dialects) RETURN_IF_ERROR(outsiders.Open(options.out / "truth" / "outsiders.csv"));
  BsnAllocator outsider_bsns(options.seed, /*from_top=*/true);
  ExportWriter& register_writer = *writers[static_cast<size_t>(Dataset::kBrp)];

  SynthSummary summary;
  summary.households = HouseholdsFor(options.persons);
  const std::vector<WijkPlan> plan = PlanWijken(summary.households);
  HouseholdGenerator generator(options.seed);
  StudyAccumulator study(plan.size(), /*snapshot_register=*/dialects);
  CohortAccumulator cohort;
  CostBenefitAccumulator cost_benefit(/*snapshot_register=*/dialects);
  const InterventionEffects effects;
  ProgressReporter progress("koppel-synth", summary.households, "households");
  if (!options.progress) progress.Silence();
  std::vector<bool> visible;
  uint64_t index = 0;
  for (size_t w = 0; w < plan.size(); ++w) {
    for (uint64_t j = 0; j < plan[w].households; ++j, ++index) {
      Rng rng = Rng::ForStream(options.seed, index);
      Rng cohort_rng = CohortRng(options.seed, index);
      const bool family = IsFamilySlot(j, plan[w].households, plan[w].families);
      Household h = generator.Generate(index, static_cast<int>(w), family, rng);
      DrawTrajectories(&h, cohort_rng);
      Rng intervention_rng = InterventionRng(options.seed, index);
      const size_t first_outcome = h.facts.size();
      if (options.intervention) DrawOutcomes(&h, intervention_rng, effects);
      summary.persons += h.members.size();
      for (auto& writer : writers) writer->StartHousehold();
      visible.assign(h.facts.size(), false);
      if (dialects) municipality_postcodes.insert(h.addresses[0].postcode);
      for (size_t i = 0; i < h.facts.size(); ++i) {
        const Fact& fact = h.facts[i];
        if (!catalog.Writes(fact)) continue;
        Rng& fact_rng = i >= first_outcome                   ? intervention_rng
                        : fact.dataset == Dataset::kWijkteam ? cohort_rng
                                                             : rng;
        ASSIGN_OR_RETURN(ExportWriter::Outcome outcome,
                         writers[static_cast<size_t>(fact.dataset)]->Write(
                             catalog.Render(h, fact, fact_rng), fact_rng));
        visible[i] = outcome == ExportWriter::Outcome::kValid;
      }
      if (dialects && rng.Bernoulli(kOutsiderRate)) {
        const Person person{outsider_bsns.Next(), RandomDate(rng, absl::CivilDay(1940, 1, 1),
                                                             absl::CivilDay(2014, 6, 30))};
        const Address address = OutsiderAddress(rng);
        RETURN_IF_ERROR(
            register_writer.WriteOutsider(catalog.RenderOutsider(person, address, rng)));
        RETURN_IF_ERROR(outsiders.AddPerson(person, address));
      }
      study.Add(h, visible);
      cohort.Add(h, visible);
      if (options.intervention) cost_benefit.Add(h, visible);
      RETURN_IF_ERROR(population.Add(h));
      progress.Update(index + 1, index + 1);
    }
  }
  progress.Finish(index);
  RETURN_IF_ERROR(population.Close());
  if (dialects) {
    RETURN_IF_ERROR(outsiders.Close());
    std::vector<std::string> postcodes(municipality_postcodes.begin(),
                                       municipality_postcodes.end());
    std::sort(postcodes.begin(), postcodes.end());
    std::string list = "postcode\n";
    for (const std::string& postcode : postcodes) list += postcode + "\n";
    RETURN_IF_ERROR(WriteText(options.out / "mappings" / "postcodes.csv", list));
    RETURN_IF_ERROR(WriteText(options.out / "analyses" / "almelo-mpg-snapshot.yaml",
                              std::string(SnapshotStudySpec())));
  }

  nlohmann::ordered_json exports = nlohmann::ordered_json::object();
  for (auto& writer : writers) {
    RETURN_IF_ERROR(writer->Close());
    exports[writer->spec().name] = writer->tally().ToJson(writer->spec());
    if (dialects) {
      exports[writer->spec().name]["rejects"] = "truth/rejects/" + writer->spec().name + ".csv";
    }
    summary.rows += writer->tally().rows;
  }
  nlohmann::ordered_json truth;
  truth["seed"] = options.seed;
  truth["persons"] = summary.persons;
  truth["households"] = summary.households;
  truth["error_rate"] = options.error_rate;
  if (dialects) truth["dialects"] = true;
  truth["exports"] = exports;
  RETURN_IF_ERROR(WriteText(options.out / "truth" / "exports.json", truth.dump(2) + "\n"));

  nlohmann::ordered_json study_json;
  study_json["seed"] = options.seed;
  study_json["persons"] = summary.persons;
  study_json["households_generated"] = summary.households;
  study_json.update(study.ToJson());
  RETURN_IF_ERROR(WriteText(options.out / "truth" / "study.json", study_json.dump(2) + "\n"));

  nlohmann::ordered_json cohort_json;
  cohort_json["seed"] = options.seed;
  cohort_json.update(cohort.ToJson());
  RETURN_IF_ERROR(WriteText(options.out / "truth" / "cohort.json", cohort_json.dump(2) + "\n"));

  if (options.intervention) {
    nlohmann::ordered_json cost_benefit_json;
    cost_benefit_json["seed"] = options.seed;
    cost_benefit_json.update(cost_benefit.ToJson(effects));
    RETURN_IF_ERROR(
        WriteText(options.out / "truth" / "cost_benefit.json", cost_benefit_json.dump(2) + "\n"));
  }
  return summary;
}

}  // namespace koppel::synth
