// A synthetic municipality delivered to a running linker, for the tests that run analyses end to
// end: koppel-synth writes the exports, the real agents seal them and deliver them over mutual
// TLS to the real linker, whose covenant grants each dataset what its mapping describes and
// approves the shipped specs (almelo-mpg, cohort-monitor, cost-benefit) and the test's own; the
// research unit (and another one) query it with `koppel query`. Everything is written under one
// temporary directory: m/ (the synth's output, plaintext), pki/, akeys/, lkeys/, outbox/, db/.
#ifndef KOPPEL_TESTS_TESTING_DELIVERED_MUNICIPALITY_H_
#define KOPPEL_TESTS_TESTING_DELIVERED_MUNICIPALITY_H_

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "linker/analysis/analysis_engine.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel::test {

class DeliveredMunicipality {
 public:
  // The covenant the municipality is delivered under.
  static constexpr const char* kCovenant = "almelo-analysis-test";

  // Generates with `koppel-synth <synth_flags>`, delivers every export and starts the linker;
  // throws std::runtime_error when a step fails (a suite's set-up). `extra_specs`: more specs
  // (file name -> text) written under dir()/analyses and approved too, with the prices file
  // their `prices:` names (relative to dir()/analyses, or absolute).
  explicit DeliveredMunicipality(
      const std::vector<std::string>& synth_flags,
      const std::vector<std::pair<std::string, std::string>>& extra_specs = {});
  ~DeliveredMunicipality();

  const std::filesystem::path& dir() const { return dir_.path(); }
  const nlohmann::json& study() const { return study_; }
  const nlohmann::json& exports() const { return exports_; }

  void StartLinker();
  void StopLinker();

  // Seals `dataset`'s export once more, as a new run with `seal_flags`, into dir()/`outbox`
  // and delivers it.
  ProcessResult DeliverAgain(const std::string& dataset, const std::vector<std::string>& seal_flags,
                             const std::string& outbox) const;

  // `koppel query --spec spec --format format --out out` as party `name`.
  ProcessResult Query(const std::string& spec, const std::string& format, const std::string& out,
                      const std::string& name = "research-unit",
                      const std::vector<std::string>& flags = {}) const;

  // The engine in this process over the linker's store (read-only, while it serves), with the
  // data key the linker derives without a vault.
  absl::StatusOr<analysis::AnalysisResult> RunEngine(
      const std::string& spec_path, const analysis::EngineOptions& options = {}) const;

 private:
  TempDir dir_;
  nlohmann::json exports_;
  nlohmann::json study_;
  std::unique_ptr<BackgroundProcess> linker_;
  std::string address_;
};

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_DELIVERED_MUNICIPALITY_H_
