// `koppel policy explain --format html`: a covenant as a document a privacy officer can file
// and sign off. It renders the same explanation as the text (policies/covenant_explain.h):
// a header with the covenant's facts, its file digest and signature state, the parties,
// datasets, analyses and officers as tables, every statement of the text under its heading,
// and a sign-off block with a line per party for its privacy officer's handwriting.
#ifndef KOPPEL_CLI_COVENANT_HTML_H_
#define KOPPEL_CLI_COVENANT_HTML_H_

#include <string>

#include "policies/covenant_explain.h"

namespace koppel {

// The covenant file the explanation was made from, as the header shows it.
struct CovenantFileState {
  std::string path;
  std::string sha256;  // of the file's bytes, hex
  // The signature state as the text reports it ("Signatures (2 of 3 officers):" and its lines).
  policy::ExplanationSection signatures;
  bool fully_signed = false;  // every officer signed these bytes, no problem
};

// One self-contained HTML document (cli/html_document.h). Every covenant value is escaped.
std::string CovenantExplanationHtml(const policy::CovenantExplanation& explanation,
                                    const CovenantFileState& file);

}  // namespace koppel

#endif  // KOPPEL_CLI_COVENANT_HTML_H_
