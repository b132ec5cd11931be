// A covenant in plain English for the privacy officers who sign it (`koppel policy explain`):
// what it is and until when, who shares which datasets and fields with whom for what purpose
// and on which legal basis, who links and who holds the keys, what can come out (the approved
// analyses and what they compute, what happens to other specs, disclosure control, release
// budget, purpose-bound releases) and who signs for whom.
//
// The explanation is a small model (CovenantExplanation) that the text (ExplanationText) and
// the officers' HTML document (cli/covenant_html.h) both render, so the two never disagree.
#ifndef KOPPEL_POLICIES_COVENANT_EXPLAIN_H_
#define KOPPEL_POLICIES_COVENANT_EXPLAIN_H_

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "policies/covenant.h"

namespace koppel::policy {

// One statement, `depth` levels below its section's heading (0: directly under it).
struct ExplanationLine {
  int depth = 0;
  std::string text;
  bool problem = false;  // a pinned file that is not the approved one or cannot be read
};

struct ExplanationSection {
  std::string heading;
  std::vector<ExplanationLine> lines;
};

// The same facts as the sections say, as a table (all cells are text).
struct ExplanationTable {
  std::string caption;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
};

// A party whose privacy officer signs the covenant for it.
struct SignOffLine {
  std::string party;
  std::string organisation;
  std::string privacy_officer;
};

struct CovenantExplanation {
  std::string headline;                                    // "Covenant ID, version N: TITLE"
  std::vector<std::pair<std::string, std::string>> facts;  // id, version, title, dates, ...
  std::vector<ExplanationTable> tables;      // parties, datasets and fields, analyses, officers
  std::vector<ExplanationSection> sections;  // the text, statement by statement
  std::vector<SignOffLine> sign_off;         // one per party
};

// The explanation. The same covenant and files always give the same one. With
// `covenant_file`, each approved spec is read relative to its directory, checked against its
// digest and described (what it computes); without, the specs are only listed.
CovenantExplanation DescribeCovenant(const Covenant& covenant,
                                     const std::filesystem::path& covenant_file = {});

// The headline and the sections as text: several lines ending in '\n', each section after an
// empty line, each statement indented two spaces per level.
std::string ExplanationText(const CovenantExplanation& explanation);

// ExplanationText(DescribeCovenant(covenant, covenant_file)).
std::string ExplainCovenant(const Covenant& covenant,
                            const std::filesystem::path& covenant_file = {});

}  // namespace koppel::policy

#endif  // KOPPEL_POLICIES_COVENANT_EXPLAIN_H_
