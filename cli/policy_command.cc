// `koppel policy`: what a privacy officer does with a covenant before it takes effect. Make a
// signing key (keygen), fill the parties' public keys and the digests of pinned files into a
// template (fill-keys), pin an analysis spec for exact release (approve), check and read it
// (validate, explain), sign it (sign) and check that services will accept it (verify).
#include <fmt/format.h>
#include <sodium.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "cli/cli_errors.h"
#include "cli/command.h"
#include "cli/covenant_html.h"
#include "cli/html_document.h"
#include "cli/output_file.h"
#include "core/atomic_file.h"
#include "core/exit_codes.h"
#include "core/file_contents.h"
#include "core/hex.h"
#include "core/key_file.h"
#include "core/status_macros.h"
#include "core/yaml_reader.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/prices.h"
#include "policies/covenant.h"
#include "policies/covenant_explain.h"
#include "policies/covenant_signature.h"

namespace koppel {
namespace {

enum ExitCode : int {
  kExitOk = 0,
  kExitOther = 1,
  kExitUsage = 2,
  kExitInvalid = 3,     // a covenant, template or key: invalid or unreadable
  kExitOutput = 4,      // an output file cannot be written
  kExitUnsigned = 5,    // not (validly) signed by every officer
  kExitNotOfficer = 7,  // the key belongs to no officer of the covenant
  kExitNotInForce = 8,  // expired or not yet valid
};

// What each exit code means; each policy command's --help lists the ones it can return.
constexpr ExitCodeMeaning kExitCodes[] = {
    {kExitOk, "success"},
    {kExitOther, "anything else"},
    {kExitUsage, "usage: bad or missing flags or flag values"},
    {kExitInvalid,
     "a covenant, template, spec, prices file or key is invalid or cannot be read (the message "
     "names file, line and key)"},
    {kExitOutput, "a file to write cannot be written or may not be overwritten"},
    {kExitUnsigned,
     "not signed by every officer, a signature is invalid, or the covenant changed after "
     "signing"},
    {kExitNotOfficer, "the key belongs to no privacy officer of the covenant"},
    {kExitNotInForce, "not in force: expired or not yet valid (at --at, default now)"},
};

std::string OfficerList(const policy::Covenant& covenant, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const std::string& name : names) {
    auto it = covenant.privacy_officers.find(name);
    out.push_back(it == covenant.privacy_officers.end()
                      ? name
                      : fmt::format("{} ({})", name, it->second.organisation));
  }
  return fmt::format("{}", fmt::join(out, ", "));
}

std::string Day(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }

struct PolicyFlags {
  std::string out;              // keygen, fill-keys
  std::string keys_dir;         // fill-keys
  std::string template_file;    // fill-keys
  std::string covenant;         // approve, validate, explain, sign, verify
  std::string spec;             // approve
  std::string prices;           // approve
  std::string key;              // sign
  bool restart = false;         // sign
  std::string at;               // verify
  std::string format = "text";  // explain
};

namespace fs = std::filesystem;

// `file` relative to the directory `base`, with '/' separators; absolute when there is no
// relative path (another drive, an unresolvable path).
std::string RelativePath(const fs::path& file, const fs::path& base) {
  std::error_code ec;
  fs::path rel = fs::relative(fs::absolute(file), fs::absolute(base), ec);
  if (ec || rel.empty()) return fs::absolute(file).lexically_normal().generic_string();
  return rel.generic_string();
}

fs::path DirectoryOf(const fs::path& file) { return fs::absolute(file).parent_path(); }

// A value as YAML text: plain when it is made of path characters only, double-quoted otherwise.
std::string YamlText(std::string_view value) {
  const bool plain =
      !value.empty() && value.front() != '-' && std::all_of(value.begin(), value.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               std::string_view("._/+-").find(c) != std::string_view::npos;
      });
  if (plain) return std::string(value);
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

// --- Editing a covenant's text in place (approve): only the lines of one entry change ---

// The text's lines, each with its line ending (the last may have none).
std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    end = end == std::string_view::npos ? text.size() : end + 1;
    lines.emplace_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

size_t IndentOf(std::string_view line) {
  size_t n = 0;
  while (n < line.size() && line[n] == ' ') ++n;
  return n;
}

bool IsBlankOrComment(std::string_view line) {
  const size_t at = IndentOf(line);
  return at == line.size() || line[at] == '\n' || line[at] == '\r' || line[at] == '#';
}

bool IsItemAt(std::string_view line, size_t column) {
  return IndentOf(line) == column && line.size() > column && line[column] == '-';
}

// One past the last line of the block that begins on line `first`: the lines after it indented
// deeper than `column` (with `items_at_column`, also list items at `column`, as YAML allows
// under a key), not counting trailing blank and comment lines.
size_t BlockEnd(const std::vector<std::string>& lines, size_t first, size_t column,
                bool items_at_column) {
  size_t end = first + 1;
  for (size_t i = first + 1; i < lines.size(); ++i) {
    if (IsBlankOrComment(lines[i])) continue;
    if (IndentOf(lines[i]) <= column && !(items_at_column && IsItemAt(lines[i], column))) break;
    end = i + 1;
  }
  return end;
}

// Replaces lines [begin, end) by `text` (whole lines).
void Splice(std::vector<std::string>* lines, size_t begin, size_t end, const std::string& text,
            std::string_view eol) {
  if (begin == lines->size() && !lines->empty() && !lines->back().ends_with('\n')) {
    lines->back() += eol;
  }
  lines->erase(lines->begin() + static_cast<std::ptrdiff_t>(begin),
               lines->begin() + static_cast<std::ptrdiff_t>(end));
  lines->insert(lines->begin() + static_cast<std::ptrdiff_t>(begin), text);
}

// One `analysis.approved` item with its dash at `dash`.
std::string EntryText(const policy::ApprovedAnalysis& a, size_t dash, std::string_view eol) {
  const std::string pad(dash, ' ');
  const std::string keys(dash + 2, ' ');
  std::string out = fmt::format("{}- name: {}{}", pad, a.name, eol);
  out += fmt::format("{}spec: {}{}", keys, YamlText(a.spec_path), eol);
  out += fmt::format("{}sha256: {}{}", keys, a.spec_sha256, eol);
  if (!a.prices_path.empty()) {
    out += fmt::format("{}prices: {}{}", keys, YamlText(a.prices_path), eol);
    out += fmt::format("{}prices_sha256: {}{}", keys, a.prices_sha256, eol);
  }
  return out;
}

// Where an item of a block list begins: its '-' (line, column), before the item's first key.
std::optional<std::pair<size_t, size_t>> DashOf(const std::vector<std::string>& lines,
                                                const YAML::Mark& mark) {
  if (mark.is_null() || static_cast<size_t>(mark.line) >= lines.size()) return std::nullopt;
  const size_t line = static_cast<size_t>(mark.line);
  const std::string& text = lines[line];
  for (size_t c = std::min(static_cast<size_t>(mark.column), text.size()); c-- > 0;) {
    if (text[c] == '-') return std::pair{line, c};
    if (text[c] != ' ') break;
  }
  if (line > 0 && IsItemAt(lines[line - 1], IndentOf(lines[line - 1])) &&
      IsBlankOrComment(std::string_view(lines[line - 1]).substr(IndentOf(lines[line - 1]) + 1))) {
    return std::pair{line - 1, IndentOf(lines[line - 1])};
  }
  return std::nullopt;
}

std::string ScalarOf(const YAML::Node& map, const char* key) {
  const YAML::Node value = map[key];
  return value && value.IsScalar() ? value.Scalar() : std::string();
}

// The line (from 0) of `key` in the mapping `map`, which has it.
size_t KeyLine(const YAML::Node& map, std::string_view key) {
  for (const auto& kv : map) {
    if (kv.first.Scalar() == key) return static_cast<size_t>(kv.first.Mark().line);
  }
  return 0;
}

struct ApproveEdit {
  std::string text;              // the covenant after the edit
  bool replaced = false;         // an entry of the same name was replaced
  std::string removed_analyses;  // the old `analyses:` key the entry replaced, as written
};

// Reads a covenant's text for editing it in place; the parsers check its shape later.
YamlReader CovenantText(std::string_view source) {
  return YamlReader(source, {"expected a mapping", "unknown key '{key}'"});
}

absl::Status CannotEdit(const std::string& source, const YAML::Node& node,
                        std::string_view problem) {
  const YAML::Mark mark = node.Mark();
  return absl::InvalidArgumentError(fmt::format("{}:{}:{}: {}; edit the covenant by hand", source,
                                                mark.line + 1, mark.column + 1, problem));
}

// The items of `analysis.approved` written as a flow list, `[]` or nothing: rewritten in block
// form with `entry` replacing the item of its name or appended.
absl::StatusOr<std::string> RewrittenApproved(const std::string& source, const YAML::Node& list,
                                              const policy::ApprovedAnalysis& entry, size_t column,
                                              std::string_view eol, bool* replaced) {
  std::string out = fmt::format("{}approved:{}", std::string(column, ' '), eol);
  if (list.IsSequence()) {
    for (const YAML::Node& item : list) {
      if (!item.IsMap()) {
        return CannotEdit(source, item, "analysis.approved: an item is no mapping");
      }
      policy::ApprovedAnalysis old{ScalarOf(item, "name"), ScalarOf(item, "spec"),
                                   ScalarOf(item, "sha256"), ScalarOf(item, "prices"),
                                   ScalarOf(item, "prices_sha256")};
      *replaced = *replaced || old.name == entry.name;
      out += EntryText(old.name == entry.name ? entry : old, column + 2, eol);
    }
  } else if (!list.IsNull()) {
    return CannotEdit(source, list, "analysis.approved is not a list");
  }
  if (!*replaced) out += EntryText(entry, column + 2, eol);
  return out;
}

// `entry` put into a block list `analysis.approved`: in place of the item of its name, or after
// the last item, with the layout of the first.
absl::StatusOr<bool> SpliceIntoBlockList(const std::string& source, const YAML::Node& list,
                                         const policy::ApprovedAnalysis& entry,
                                         std::string_view eol, std::vector<std::string>* lines) {
  std::optional<std::pair<size_t, size_t>> first_dash;
  size_t last_end = 0;
  for (const YAML::Node& item : list) {
    const std::optional<std::pair<size_t, size_t>> dash = DashOf(*lines, item.Mark());
    if (!item.IsMap() || !dash) {
      return CannotEdit(source, item, "analysis.approved: cannot tell where this item begins");
    }
    if (!first_dash) first_dash = dash;
    const size_t end = BlockEnd(*lines, dash->first, dash->second, false);
    if (ScalarOf(item, "name") == entry.name) {
      Splice(lines, dash->first, end, EntryText(entry, dash->second, eol), eol);
      return true;
    }
    last_end = end;
  }
  Splice(lines, last_end, last_end, EntryText(entry, first_dash->second, eol), eol);
  return false;
}

// The covenant `text` with `entry` under analysis.approved; every other byte stays as it was,
// except an old `analyses:` key, which the new `approved:` key replaces.
absl::StatusOr<ApproveEdit> EditApproved(const std::string& text, const std::string& source,
                                         const policy::ApprovedAnalysis& entry) {
  ASSIGN_OR_RETURN(const YAML::Node root, CovenantText(source).Load(text));
  const YAML::Node analysis = root.IsMap() ? root["analysis"] : YAML::Node();
  if (!analysis || !analysis.IsMap() || analysis.size() == 0) {
    return absl::FailedPreconditionError(fmt::format(
        "{} has no analysis section, so nothing may come out of it; add `analysis:` with its "
        "recipients and disclosure settings first (docs/covenants.md)",
        source));
  }
  if (analysis.Style() == YAML::EmitterStyle::Flow) {
    return CannotEdit(source, analysis, "analysis is written in flow style {...}");
  }
  std::map<std::string, std::pair<YAML::Node, YAML::Node>> keys;  // key -> (key, value)
  size_t column = 0;
  bool first = true;
  for (const auto& kv : analysis) {
    if (first) column = static_cast<size_t>(kv.first.Mark().column);
    first = false;
    keys.emplace(kv.first.Scalar(), std::pair{kv.first, kv.second});
  }
  const std::string_view eol = text.find("\r\n") != std::string::npos ? "\r\n" : "\n";
  std::vector<std::string> lines = SplitLines(text);
  ApproveEdit edit;
  auto key_block = [&](const std::string& key) {
    const size_t line = static_cast<size_t>(keys.at(key).first.Mark().line);
    return std::pair{line, BlockEnd(lines, line, column, true)};
  };
  if (keys.contains("approved")) {
    const YAML::Node list = keys.at("approved").second;
    if (list.IsSequence() && list.Style() == YAML::EmitterStyle::Block && list.size() > 0) {
      ASSIGN_OR_RETURN(edit.replaced, SpliceIntoBlockList(source, list, entry, eol, &lines));
    } else {
      const auto [begin, end] = key_block("approved");
      ASSIGN_OR_RETURN(const std::string block,
                       RewrittenApproved(source, list, entry, column, eol, &edit.replaced));
      Splice(&lines, begin, end, block, eol);
    }
  } else {
    const std::string block = fmt::format("{}approved:{}", std::string(column, ' '), eol) +
                              EntryText(entry, column + 2, eol);
    if (keys.contains("analyses")) {
      const auto [begin, end] = key_block("analyses");
      for (size_t i = begin; i < end; ++i) edit.removed_analyses += lines[i];
      Splice(&lines, begin, end, block, eol);
    } else if (keys.contains("recipients")) {
      const size_t end = key_block("recipients").second;
      Splice(&lines, end, end, block, eol);
    } else {
      Splice(&lines, KeyLine(root, "analysis") + 1, KeyLine(root, "analysis") + 1, block, eol);
    }
  }
  for (const std::string& line : lines) edit.text += line;
  return edit;
}

// What an officer must do after the covenant's bytes changed: sign again, all of them.
void PrintSignAgain(const std::string& covenant_path, bool is_template) {
  if (is_template) {
    fmt::print(
        "{} still has placeholders: fill it in (koppel policy fill-keys), then every "
        "officer reads it (koppel policy explain) and signs the result.\n",
        covenant_path);
    return;
  }
  const fs::path sig_path = policy::SignaturePath(covenant_path);
  std::error_code ec;
  if (!fs::exists(sig_path, ec)) {
    fmt::print(
        "Every officer reads it (koppel policy explain {0}) and signs it: "
        "koppel policy sign --key OFFICER_KEY {0}\n",
        covenant_path);
    return;
  }
  std::vector<std::string> signers;
  absl::StatusOr<std::string> text = ReadFileContents(sig_path);
  absl::StatusOr<policy::SignatureFile> sig =
      text.ok() ? policy::ParseSignatureFile(*text, sig_path.string()) : text.status();
  if (sig.ok()) {
    for (const policy::CovenantSignature& s : sig->signatures) signers.push_back(s.officer);
  }
  fmt::print(
      "{0} changed, so the signatures in {1}{2} no longer match and the services refuse it "
      "until every officer has signed again. Every officer reads it (koppel policy explain "
      "{0}); then\n"
      "  the first to sign runs:   koppel policy sign --restart --key OFFICER_KEY {0}\n"
      "    (--restart discards the old signatures)\n"
      "  every other officer runs: koppel policy sign --key OFFICER_KEY {0}\n"
      "    (without --restart, which would discard the signatures made since)\n"
      "  and then: koppel policy verify {0}\n",
      covenant_path, sig_path.string(),
      signers.empty() ? std::string() : fmt::format(" ({})", fmt::join(signers, ", ")));
}

// The approved entry for a spec and its prices file (explicit, or the one the spec names),
// after checking that both parse: officers never pin a spec the linker would refuse to read.
// On failure `exit_code` is the code to exit with.
absl::StatusOr<policy::ApprovedAnalysis> EntryForSpec(const PolicyFlags& f, int* exit_code) {
  *exit_code = kExitInvalid;
  ASSIGN_OR_RETURN(const std::string spec_bytes, ReadFileContents(f.spec));
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(spec_bytes, f.spec);
  if (!spec.ok()) {
    return absl::InvalidArgumentError(fmt::format("{}; only a spec that parses can be approved",
                                                  std::string(spec.status().message())));
  }
  const fs::path covenant_dir = DirectoryOf(f.covenant);
  policy::ApprovedAnalysis entry{spec->name, RelativePath(f.spec, covenant_dir),
                                 policy::CovenantSha256Hex(spec_bytes), "", ""};
  if (spec->prices_file.empty()) {
    if (!f.prices.empty()) {
      *exit_code = kExitUsage;
      return absl::InvalidArgumentError(fmt::format(
          "--prices {}: the spec {} names no prices file; leave --prices out", f.prices, f.spec));
    }
    return entry;
  }
  const fs::path prices =
      f.prices.empty() ? DirectoryOf(f.spec) / spec->prices_file : fs::path(f.prices);
  ASSIGN_OR_RETURN(const std::string prices_bytes, ReadFileContents(prices));
  ASSIGN_OR_RETURN(const analysis::PriceTable table,
                   analysis::ParsePrices(prices_bytes, prices.string()));
  RETURN_IF_ERROR(analysis::ResolveCostBenefitPrices(&*spec, table));
  RETURN_IF_ERROR(analysis::CheckSpecPrices(*spec, table, f.spec));
  entry.prices_path = RelativePath(prices, covenant_dir);
  entry.prices_sha256 = policy::CovenantSha256Hex(prices_bytes);
  return entry;
}

int RunApprove(const PolicyFlags& f) {
  int code = kExitInvalid;
  absl::StatusOr<policy::ApprovedAnalysis> entry = EntryForSpec(f, &code);
  if (!entry.ok()) return Fail(code, entry.status(), "check --spec and --prices");
  absl::StatusOr<std::string> bytes = ReadFileContents(f.covenant);
  if (!bytes.ok()) return Fail(kExitInvalid, bytes.status(), "check the COVENANT path");
  absl::StatusOr<ApproveEdit> edit = EditApproved(*bytes, f.covenant, *entry);
  if (!edit.ok()) return Fail(kExitInvalid, edit.status());
  absl::StatusOr<policy::Covenant> edited =
      policy::ParseCovenant(edit->text, f.covenant, {.allow_key_placeholders = true});
  if (!edited.ok()) {
    return Fail(kExitInvalid, edited.status(),
                "the covenant would not be valid with the new entry; it is unchanged. Fix it "
                "(koppel policy validate) and approve again");
  }
  const policy::ApprovedAnalysis* pinned =
      edited->analysis.FindApproved(entry->spec_sha256, entry->prices_sha256);
  if (pinned == nullptr || pinned->name != entry->name) {
    return Fail(kExitOther,
                "the edited covenant does not pin the spec as intended; it is "
                "unchanged");
  }
  fmt::print("{} {} in {}:\n", edit->replaced ? "re-approved" : "approved", entry->name,
             f.covenant);
  fmt::print("  spec   {}  sha256 {}\n", entry->spec_path, entry->spec_sha256);
  if (!entry->prices_path.empty()) {
    fmt::print("  prices {}  sha256 {}\n", entry->prices_path, entry->prices_sha256);
  }
  if (edit->text == *bytes) {
    fmt::print("{} already pinned these digests; it is unchanged.\n", f.covenant);
    return kExitOk;
  }
  std::error_code ec;
  const fs::perms perms = fs::status(f.covenant, ec).permissions();
  if (absl::Status s = WriteFileAtomically(f.covenant, edit->text); !s.ok()) {
    return Fail(kExitOutput, s, "check that the covenant's directory is writable");
  }
  if (!ec) fs::permissions(f.covenant, perms, ec);
  if (!edit->removed_analyses.empty()) {
    fmt::print(
        "Removed the old key (analyses are no longer allowed by name; approve each "
        "other spec it named the same way):\n{}",
        edit->removed_analyses);
  }
  PrintSignAgain(f.covenant, !policy::ParseCovenant(edit->text, f.covenant).ok());
  return kExitOk;
}

// --- fill-keys: placeholders, and paths kept right when the output goes elsewhere ---

struct TextEdit {
  size_t pos = 0;
  size_t length = 0;
  std::string text;
};

// The length of a scalar's text at `pos`, its mark: written plainly or quoted without escapes.
std::optional<size_t> ScalarLength(std::string_view text, size_t pos, const std::string& value) {
  if (pos >= text.size()) return std::nullopt;
  if (text.compare(pos, value.size(), value) == 0) return value.size();
  const char quote = text[pos];
  const size_t close = pos + 1 + value.size();
  if ((quote == '"' || quote == '\'') && close < text.size() && text[close] == quote &&
      text.compare(pos + 1, value.size(), value) == 0) {
    return value.size() + 2;
  }
  return std::nullopt;
}

// The path scalars the covenant resolves relative to its own file: each approved entry's spec
// and prices, and a perturbation table given by path.
std::vector<YAML::Node> RelativePathNodes(const YAML::Node& root) {
  std::vector<YAML::Node> nodes;
  const YAML::Node analysis = root.IsMap() ? root["analysis"] : YAML::Node();
  if (!analysis || !analysis.IsMap()) return nodes;
  const YAML::Node approved = analysis["approved"];
  if (approved && approved.IsSequence()) {
    for (const YAML::Node& item : approved) {
      if (!item.IsMap()) continue;
      for (const char* key : {"spec", "prices"}) {
        if (item[key] && item[key].IsScalar()) nodes.push_back(item[key]);
      }
    }
  }
  const YAML::Node perturbation = analysis["perturbation"];
  if (perturbation && perturbation.IsMap() && perturbation["table"] &&
      perturbation["table"].IsScalar() && perturbation["table"].Scalar() != "default") {
    nodes.push_back(perturbation["table"]);
  }
  return nodes;
}

// The template's relative paths rewritten so that they name the same files from `out_dir`.
absl::StatusOr<std::string> RebasePaths(const std::string& text, const std::string& source,
                                        const fs::path& template_dir, const fs::path& out_dir) {
  ASSIGN_OR_RETURN(const YAML::Node root, CovenantText(source).Load(text));
  std::vector<TextEdit> edits;
  for (const YAML::Node& node : RelativePathNodes(root)) {
    const fs::path written(node.Scalar());
    if (written.is_absolute()) continue;
    const std::optional<size_t> length =
        ScalarLength(text, static_cast<size_t>(node.Mark().pos), node.Scalar());
    if (!length) {
      return CannotEdit(source, node, "cannot rewrite this path for --out (write it plainly)");
    }
    const std::string rebased = RelativePath(template_dir / written, out_dir);
    if (rebased == node.Scalar()) continue;
    edits.push_back({static_cast<size_t>(node.Mark().pos), *length, YamlText(rebased)});
  }
  std::sort(edits.begin(), edits.end(),
            [](const TextEdit& a, const TextEdit& b) { return a.pos > b.pos; });
  std::string out = text;
  for (const TextEdit& edit : edits) out.replace(edit.pos, edit.length, edit.text);
  return out;
}

bool SameDirectory(const fs::path& a, const fs::path& b) {
  std::error_code ec_a, ec_b;
  const fs::path ca = fs::weakly_canonical(a, ec_a);
  const fs::path cb = fs::weakly_canonical(b, ec_b);
  return !ec_a && !ec_b && ca == cb;
}

// The value of one placeholder: the hex key in DIR/NAME.pub for `<NAME.pub>`, the SHA-256 of
// the file for `<sha256:PATH>` (PATH relative to the template's directory).
absl::StatusOr<std::string> PlaceholderValue(const std::smatch& match, const PolicyFlags& f) {
  if (match[1].matched) {
    const fs::path pub = fs::path(f.keys_dir) / match[1].str();
    ASSIGN_OR_RETURN(std::vector<uint8_t> key, ReadPublicKeyFile(pub, crypto_sign_PUBLICKEYBYTES));
    return ToHex(key);
  }
  ASSIGN_OR_RETURN(const std::string bytes,
                   ReadFileContents(DirectoryOf(f.template_file) / match[2].str()));
  return policy::CovenantSha256Hex(bytes);
}

int RunKeygen(const PolicyFlags& f) {
  if (absl::Status s = EnsureSodium(); !s.ok()) return Fail(kExitOther, s);
  absl::StatusOr<Secret> secret = Secret::Allocate(crypto_sign_SECRETKEYBYTES);
  if (!secret.ok()) return Fail(kExitOther, secret.status());
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> public_key{};
  crypto_sign_keypair(public_key.data(), secret->mutable_data());
  secret->Seal();
  const std::filesystem::path key_path(f.out);
  std::filesystem::path pub_path = key_path;
  pub_path += ".pub";
  std::error_code ec;
  if (std::filesystem::exists(pub_path, ec)) {
    return Fail(kExitOutput, fmt::format("{} exists already", pub_path.string()),
                "choose another --out, or remove the old key pair if it is no longer needed");
  }
  if (absl::Status s = WriteKeyFile(key_path, *secret); !s.ok()) {
    return Fail(kExitOutput, s, "choose another --out; an existing key is never overwritten");
  }
  if (absl::Status s = WritePublicKeyFile(pub_path, public_key); !s.ok()) {
    return Fail(kExitOutput, s);
  }
  fmt::print("wrote the secret key {} (mode 600; keep it to yourself) and the public key {}\n",
             key_path.string(), pub_path.string());
  fmt::print("public key: {}\n", ToHex(public_key));
  return kExitOk;
}

int RunFillKeys(const PolicyFlags& f) {
  absl::StatusOr<std::string> text = ReadFileContents(f.template_file);
  if (!text.ok()) return Fail(kExitInvalid, text.status(), "check the TEMPLATE path");
  if (!f.out.empty() && !SameDirectory(DirectoryOf(f.template_file), DirectoryOf(f.out))) {
    absl::StatusOr<std::string> rebased =
        RebasePaths(*text, f.template_file, DirectoryOf(f.template_file), DirectoryOf(f.out));
    if (!rebased.ok()) return Fail(kExitInvalid, rebased.status());
    *text = std::move(*rebased);
  }
  // Only values are placeholders: the same text in a comment or a key stays as it is.
  absl::StatusOr<std::vector<YamlScalar>> scalars = CovenantText(f.template_file).Check(*text);
  if (!scalars.ok()) return Fail(kExitInvalid, scalars.status());
  static const std::regex kPlaceholder(R"(<([A-Za-z0-9._-]+\.pub)>|<sha256:([^<>\s]+)>)");
  std::vector<TextEdit> edits;
  int keys = 0;
  int digests = 0;
  int errors = 0;
  for (const YamlScalar& scalar : *scalars) {
    std::smatch match;
    if (!std::regex_match(scalar.value, match, kPlaceholder)) continue;
    const int line = scalar.mark.line + 1;
    const size_t pos = static_cast<size_t>(scalar.mark.pos);
    const std::optional<size_t> length = ScalarLength(*text, pos, scalar.value);
    absl::StatusOr<std::string> value =
        length ? PlaceholderValue(match, f)
               : absl::InvalidArgumentError("write it plainly, or quoted without escapes");
    if (!value.ok()) {
      ++errors;
      fmt::print(stderr, "koppel: error: {}:{}: placeholder {}: {}\n", f.template_file, line,
                 scalar.value, std::string(value.status().message()));
      continue;
    }
    // A quoted placeholder keeps its quotes.
    const bool quoted = *length != scalar.value.size();
    edits.push_back({quoted ? pos + 1 : pos, scalar.value.size(), *value});
    ++(match[1].matched ? keys : digests);
  }
  std::string filled = *text;
  for (auto it = edits.rbegin(); it != edits.rend(); ++it) {
    filled.replace(it->pos, it->length, it->text);
  }
  if (errors > 0) {
    return Fail(kExitInvalid,
                fmt::format("{} placeholder(s) in {} cannot be filled", errors, f.template_file),
                "put each party's and officer's .pub file (koppel policy keygen, koppel-agent "
                "keygen) into --keys under the name the placeholder gives; a <sha256:PATH> "
                "placeholder names a file relative to the template's directory");
  }
  if (f.out.empty()) {
    fmt::print("{}", filled);
  } else {
    if (absl::Status s = WriteFileAtomically(f.out, filled); !s.ok()) {
      return Fail(kExitOutput, s, "check --out");
    }
  }
  fmt::print(stderr, "koppel: filled {} key placeholder(s) and {} digest placeholder(s){}\n", keys,
             digests, f.out.empty() ? "" : fmt::format(" into {}", f.out));
  return kExitOk;
}

// Pinned files on disk that differ from the covenant's digests: a warning, not a failure (the
// linker matches queries by digest, so the covenant stays what the officers signed).
void WarnAboutPinnedFiles(const policy::Covenant& covenant, const std::string& path) {
  const std::vector<std::string> problems = policy::PinnedFileMismatches(covenant, path);
  for (const std::string& problem : problems) {
    fmt::print(stderr, "koppel: warning: {}\n", problem);
  }
  if (!problems.empty()) {
    fmt::print(stderr,
               "koppel: the linker matches queries by these digests, so it releases exactly "
               "only the pinned bytes; if the change is intended, pin it again (koppel policy "
               "approve --spec FILE {}) and every officer signs again\n",
               path);
  }
}

int RunValidate(const PolicyFlags& f) {
  absl::StatusOr<policy::Covenant> covenant = policy::LoadCovenantFile(f.covenant);
  if (!covenant.ok()) {
    return Fail(kExitInvalid, covenant.status(),
                "fix the covenant; docs/covenants.md describes "
                "its keys");
  }
  fmt::print("{}: covenant {} version {} is valid\n", f.covenant, covenant->id, covenant->version);
  WarnAboutPinnedFiles(*covenant, f.covenant);
  return kExitOk;
}

// The signature state of the covenant file as a section: its heading says how many officers
// signed, its lines who did, who did not and what is wrong.
CovenantFileState SignatureState(const policy::Covenant& covenant,
                                 const std::filesystem::path& path, const std::string& bytes) {
  CovenantFileState state{.path = path.string(),
                          .sha256 = policy::CovenantSha256Hex(bytes),
                          .signatures = {},
                          .fully_signed = false};
  policy::ExplanationSection& section = state.signatures;
  const std::filesystem::path sig_path = policy::SignaturePath(path);
  std::error_code ec;
  if (!std::filesystem::exists(sig_path, ec)) {
    section.heading =
        fmt::format("Signatures: none yet ({} is missing); each officer runs koppel policy sign",
                    sig_path.string());
    return state;
  }
  absl::StatusOr<std::string> text = ReadFileContents(sig_path);
  if (!text.ok()) {
    section.heading = fmt::format("Signatures: {}", std::string(text.status().message()));
    return state;
  }
  absl::StatusOr<policy::SignatureFile> sig = policy::ParseSignatureFile(*text, sig_path.string());
  if (!sig.ok()) {
    section.heading =
        fmt::format("Signatures: unreadable: {}", std::string(sig.status().message()));
    return state;
  }
  policy::SignatureReview review =
      policy::ReviewCovenantSignatures(covenant, bytes, *sig, path.string());
  section.heading = fmt::format("Signatures ({} of {} officers):", review.valid.size(),
                                covenant.privacy_officers.size());
  if (!review.valid.empty()) {
    section.lines.push_back(
        {.depth = 0,
         .text = fmt::format("signed by: {}", OfficerList(covenant, review.valid)),
         .problem = false});
  }
  if (!review.missing.empty()) {
    section.lines.push_back(
        {.depth = 0,
         .text = fmt::format("still to sign: {}", OfficerList(covenant, review.missing)),
         .problem = false});
  }
  if (!review.problem.ok()) {
    section.lines.push_back(
        {.depth = 0,
         .text = fmt::format("problem: {}", std::string(review.problem.message())),
         .problem = true});
  }
  state.fully_signed = review.missing.empty() && review.problem.ok();
  return state;
}

// Standard output, or FILE written atomically.
int WriteOutput(const std::string& out, const std::string& document) {
  if (out.empty()) {
    fmt::print("{}", document);
    return kExitOk;
  }
  if (absl::Status s = WriteFileAtomically(out, document); !s.ok()) {
    return Fail(kExitOutput, s, "check --out");
  }
  return kExitOk;
}

int RunExplain(const PolicyFlags& f) {
  absl::StatusOr<std::string> bytes = ReadFileContents(f.covenant);
  if (!bytes.ok()) return Fail(kExitInvalid, bytes.status(), "check the COVENANT path");
  absl::StatusOr<policy::Covenant> covenant = policy::ParseCovenant(
      *bytes, f.covenant, policy::CovenantParseOptions{.allow_key_placeholders = true});
  if (!covenant.ok()) {
    return Fail(kExitInvalid, covenant.status(),
                "fix the covenant; docs/covenants.md describes "
                "its keys");
  }
  policy::CovenantExplanation explanation = policy::DescribeCovenant(*covenant, f.covenant);
  if (!f.out.empty()) {
    // The covenant, its signatures and the files it pins (an approved spec must not become HTML).
    const std::vector<policy::PinnedFile> pins = policy::PinnedFiles(*covenant);
    std::vector<CommandInput> inputs = {
        {.path = f.covenant, .flag = "COVENANT"},
        {.path = policy::SignaturePath(f.covenant).string(), .flag = "its signatures"}};
    for (const policy::PinnedFile& pin : pins) {
      inputs.push_back(
          {.path = (std::filesystem::path(f.covenant).parent_path() / pin.path).string(),
           .flag = pin.rule});
    }
    absl::Status input = CheckOutputIsNoInput(f.out, inputs);
    if (!input.ok()) return Fail(kExitOutput, input, "choose another --out; nothing was written");
  }
  CovenantFileState state = SignatureState(*covenant, f.covenant, *bytes);
  if (f.format == "html") return WriteOutput(f.out, CovenantExplanationHtml(explanation, state));
  explanation.sections.push_back(std::move(state.signatures));
  // Covenant text may hold control characters (YAML "\e"): none reaches a terminal.
  return WriteOutput(f.out, PlainText(policy::ExplanationText(explanation)));
}

int RunSign(const PolicyFlags& f) {
  absl::StatusOr<Secret> key = ReadKeyFile(f.key, crypto_sign_SECRETKEYBYTES);
  if (!key.ok()) {
    return Fail(kExitInvalid, key.status(),
                "--key is the secret key file koppel policy keygen wrote (not the .pub)");
  }
  absl::StatusOr<policy::Covenant> covenant = policy::LoadCovenantFile(f.covenant);
  if (!covenant.ok()) {
    return Fail(kExitInvalid, covenant.status(),
                "only a valid covenant can be signed; run koppel policy validate");
  }
  absl::StatusOr<policy::SignatureReview> review =
      policy::SignCovenantFile(f.covenant, *key, policy::SignOptions{.restart = f.restart});
  if (!review.ok()) {
    switch (review.status().code()) {
      case absl::StatusCode::kPermissionDenied:
        return Fail(kExitNotOfficer, review.status());
      case absl::StatusCode::kFailedPrecondition:
        return Fail(kExitUnsigned, review.status());
      case absl::StatusCode::kInvalidArgument:
      case absl::StatusCode::kNotFound:
        return Fail(kExitInvalid, review.status());
      default:
        return Fail(kExitOutput, review.status(),
                    "check that the covenant's directory is "
                    "writable");
    }
  }
  fmt::print("signed covenant {} version {} ({}); signatures in {}\n", covenant->id,
             covenant->version, f.covenant, policy::SignaturePath(f.covenant).string());
  fmt::print("signed by {} of {} officers: {}\n", review->valid.size(),
             covenant->privacy_officers.size(), OfficerList(*covenant, review->valid));
  if (review->missing.empty()) {
    fmt::print("every officer has signed; run koppel policy verify {} to check it\n", f.covenant);
  } else {
    fmt::print("still to sign: {}\n", OfficerList(*covenant, review->missing));
  }
  if (!review->problem.ok()) {
    fmt::print(stderr, "koppel: warning: {}\n", std::string(review->problem.message()));
  }
  return kExitOk;
}

int RunVerify(const PolicyFlags& f) {
  absl::Time at = absl::Now();
  if (!f.at.empty()) {
    absl::CivilDay day;
    if (!absl::ParseCivilTime(f.at, &day)) {
      return Fail(kExitUsage, fmt::format("--at {} is not a date; write yyyy-mm-dd", f.at));
    }
    at = absl::FromCivil(day, absl::UTCTimeZone());
  }
  absl::StatusOr<policy::Covenant> parsed = policy::LoadCovenantFile(f.covenant);
  if (!parsed.ok()) {
    return Fail(kExitInvalid, parsed.status(), "fix the covenant; run koppel policy validate");
  }
  WarnAboutPinnedFiles(*parsed, f.covenant);
  absl::StatusOr<policy::SignedCovenant> signed_covenant = policy::LoadSignedCovenant(f.covenant);
  if (!signed_covenant.ok()) {
    const int code = absl::IsInvalidArgument(signed_covenant.status()) ||
                             absl::IsNotFound(signed_covenant.status())
                         ? kExitInvalid
                         : kExitUnsigned;
    return Fail(code, signed_covenant.status());
  }
  const policy::Covenant& covenant = signed_covenant->covenant;
  if (absl::Status s = covenant.InForce(at); !s.ok()) {
    return Fail(
        kExitNotInForce,
        fmt::format("{}: covenant {} version {} is validly signed but not in force {}: {}",
                    f.covenant, covenant.id, covenant.version,
                    f.at.empty() ? std::string("now") : "on " + f.at, std::string(s.message())));
  }
  fmt::print(
      "{}: covenant {} version {} is valid, signed by all {} officers ({}), in force until {} "
      "(data deleted and keys destroyed at the end of {})\n",
      f.covenant, covenant.id, covenant.version, signed_covenant->signed_by.size(),
      fmt::join(signed_covenant->signed_by, ", "), absl::FormatCivilTime(covenant.valid_until),
      Day(covenant.RetentionEndsAt() - absl::Seconds(1)));
  return kExitOk;
}

}  // namespace

Command AddPolicyCommand(CLI::App* app) {
  auto f = std::make_shared<PolicyFlags>();
  CLI::App* policy = app->add_subcommand(
      "policy", "write, sign and check covenants (privacy officers). See docs/covenants.md.");
  policy->require_subcommand(1);
  policy->footer(ExitCodesFooter(kExitCodes,
                                 {kExitOk, kExitUsage, kExitInvalid, kExitOutput, kExitUnsigned,
                                  kExitNotOfficer, kExitNotInForce, kExitOther},
                                 "Each policy command's --help lists the codes it can return."));

  CLI::App* keygen = policy->add_subcommand(
      "keygen",
      "make a privacy officer's Ed25519 key pair: FILE (secret, mode 600) and FILE.pub "
      "(goes into the covenant under privacy_officers)");
  keygen->add_option("--out", f->out, "the secret key file to write; never overwritten")
      ->required();
  keygen->footer(ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitOutput, kExitOther}));

  CLI::App* fill = policy->add_subcommand(
      "fill-keys",
      "replace every <NAME.pub> placeholder in a covenant template with the hex "
      "public key in DIR/NAME.pub, and every <sha256:PATH> with the SHA-256 of PATH "
      "(relative to the template); with --out in another directory, the paths of "
      "approved specs, prices files and a perturbation table are rewritten to stay "
      "right");
  fill->add_option("--keys", f->keys_dir, "directory holding the .pub files")
      ->required()
      ->check(CLI::ExistingDirectory);
  fill->add_option("--out", f->out, "the covenant to write (default: standard output)");
  fill->add_option("TEMPLATE", f->template_file, "the covenant template")->required();
  fill->footer(
      ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitInvalid, kExitOutput, kExitOther}));

  CLI::App* approve = policy->add_subcommand(
      "approve",
      "pin an analysis spec (and its prices file) for exact release: writes its name, "
      "paths and SHA-256 digests under analysis.approved of COVENANT, in place; every "
      "officer must then sign again");
  approve->add_option("--spec", f->spec, "the analysis spec (YAML); it must parse")->required();
  approve->add_option("--prices", f->prices,
                      "the prices file to pin (default: the one the spec names, relative to the "
                      "spec)");
  approve->add_option("COVENANT", f->covenant, "the covenant file (YAML) to edit")->required();
  approve->footer(
      ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitInvalid, kExitOutput, kExitOther}));

  CLI::App* validate = policy->add_subcommand(
      "validate", "check that a covenant parses and is consistent (not its signatures)");
  validate->add_option("COVENANT", f->covenant, "the covenant file (YAML)")->required();
  validate->footer(ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitInvalid, kExitOther}));

  CLI::App* explain = policy->add_subcommand(
      "explain",
      "say in plain words what a covenant allows (reading each approved spec, "
      "relative to COVENANT, to say what it computes), and who has signed it; "
      "templates with key and digest placeholders are accepted");
  explain->add_option("COVENANT", f->covenant, "the covenant file (YAML)")->required();
  explain
      ->add_option("--format", f->format,
                   "text, or html: a self-contained document to file and sign off")
      ->check(CLI::IsMember({"text", "html"}))
      ->capture_default_str();
  explain->add_option("--out", f->out,
                      "write the explanation to this file, atomically (default: standard output)");
  explain->footer(
      ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitInvalid, kExitOutput, kExitOther}));

  CLI::App* sign = policy->add_subcommand(
      "sign",
      "add your signature to COVENANT.sig; every privacy officer the covenant lists "
      "must sign before services accept it");
  sign->add_option("--key", f->key, "your secret key file (koppel policy keygen)")->required();
  sign->add_flag("--restart", f->restart,
                 "discard signatures of an earlier version of the file and start over; every "
                 "other officer must then sign again");
  sign->add_option("COVENANT", f->covenant, "the covenant file (YAML)")->required();
  sign->footer(ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitInvalid, kExitOutput,
                                            kExitUnsigned, kExitNotOfficer, kExitOther}));

  CLI::App* verify = policy->add_subcommand(
      "verify",
      "check a covenant as the services will: valid, signed by every officer over "
      "its current bytes, and in force");
  verify->add_option("--at", f->at,
                     "check being in force on this day (yyyy-mm-dd, UTC) "
                     "instead of now");
  verify->add_option("COVENANT", f->covenant, "the covenant file (YAML)")->required();
  verify->footer(ExitCodesFooter(
      kExitCodes, {kExitOk, kExitUsage, kExitInvalid, kExitUnsigned, kExitNotInForce, kExitOther}));

  auto run = [f, keygen, fill, approve, validate, explain, sign, verify]() -> int {
    if (keygen->parsed()) return RunKeygen(*f);
    if (fill->parsed()) return RunFillKeys(*f);
    if (approve->parsed()) return RunApprove(*f);
    if (validate->parsed()) return RunValidate(*f);
    if (explain->parsed()) return RunExplain(*f);
    if (sign->parsed()) return RunSign(*f);
    if (verify->parsed()) return RunVerify(*f);
    return kExitUsage;
  };
  return {policy, run};
}

}  // namespace koppel
