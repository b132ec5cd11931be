#include "policies/covenant_explain.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <iterator>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace koppel {
namespace {

std::string Day(absl::CivilDay day) { return absl::FormatCivilTime(day); }

std::string DayOf(absl::Time t) { return Day(absl::ToCivilDay(t, absl::UTCTimeZone())); }

std::string List(const std::set<std::string>& items) {
  return items.empty() ? std::string("none") : fmt::format("{}", fmt::join(items, ", "));
}

std::string Plural(int64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string Key(const std::string& key) {
  if (key.starts_with("<")) {
    return fmt::format("not filled in yet ({}; run `koppel policy fill-keys`)", key);
  }
  return key;
}

std::string Euro(double amount) {
  if (std::floor(amount) == amount) return fmt::format("EUR {:.0f}", amount);
  return fmt::format("EUR {:.2f}", amount);
}

std::string IdentifiersInWords(const std::set<std::string>& identifiers) {
  const bool bsn = identifiers.contains("bsn");
  const bool address = identifiers.contains("address");
  if (bsn && address) return "identified by BSN and address";
  if (bsn) return "identified by BSN";
  return "identified by address only";
}

std::string PartyLabel(const Covenant& c, const std::string& name) {
  auto it = c.parties.find(name);
  if (it == c.parties.end()) return name;
  return fmt::format("{} ({})", name, it->second.organisation);
}

// Appends "  <prefix>purpose: ..." and legal basis lines.
void PurposeLines(std::string* out, std::string_view indent, const std::string& purpose,
                  const std::string& legal_basis) {
  *out += fmt::format("{}purpose: {}\n", indent, purpose);
  *out += fmt::format("{}legal basis: {}\n", indent, legal_basis);
}

void When(const Covenant& c, std::string* out) {
  *out += "When\n";
  *out += fmt::format("  In force from {} (00:00 UTC) up to and including {} (until 24:00 UTC).\n",
                      Day(c.valid_from), Day(c.valid_until));
  if (c.retention_days_after_end == 0) {
    *out += fmt::format(
        "  Retention: none. At the end of {} the linker deletes all data of this covenant and "
        "the vault destroys its keys.\n",
        Day(c.valid_until));
  } else {
    *out += fmt::format(
        "  Retention: the linker keeps the data read-only for {} after the end; on {} (00:00 "
        "UTC) it deletes all data of this covenant and the vault destroys its keys.\n",
        Plural(c.retention_days_after_end, "day", "days"), DayOf(c.RetentionEndsAt()));
  }
  *out +=
      "  Any privacy officer can end the covenant earlier (`koppel covenant end`); deletion "
      "then follows the same way.\n";
  if (c.key_rotation_days == 0) {
    *out += "  Key rotation: none scheduled.\n";
  } else {
    *out += fmt::format(
        "  Key rotation: due every {}; the vault warns when a key is older and its operator "
        "rotates it (koppel-vault rotate).\n",
        Plural(c.key_rotation_days, "day", "days"));
  }
  if (c.token_mode == "oprf") {
    *out += fmt::format(
        "  Tokens: oblivious (OPRF). Agents blind each identifier before the vault evaluates it, "
        "so no agent holds the token key and the vault never sees an identifier; at most {} "
        "evaluations per agent per vault run.\n",
        c.oprf_quota);
  } else {
    *out +=
        "  Tokens: keyed hashes (HMAC-SHA256). Each agent replaces BSNs and addresses by "
        "tokens with a key for this covenant from the vault before anything leaves its "
        "organisation; the linker never sees an identifier.\n";
  }
  *out +=
      "  Tokens under this covenant differ from those under any other covenant and cannot be "
      "joined with them.\n";
}

void WhoShares(const Covenant& c, std::string* out) {
  *out += "\nWho shares what (data holders)\n";
  for (const auto& [name, party] : c.parties) {
    if (!party.roles.contains("data_holder")) continue;
    *out += fmt::format("  {} ({}), for which {} signs:\n", name, party.organisation,
                        party.privacy_officer);
    for (const auto& [dataset, grant] : party.datasets) {
      *out += fmt::format(
          "    delivers dataset {}, {}; fields: {}\n", dataset,
          IdentifiersInWords(grant.identifiers),
          grant.fields.empty() ? std::string("none (identifiers only)") : List(grant.fields));
    }
    PurposeLines(out, "    ", party.purpose, party.legal_basis);
    *out += fmt::format("    batches must be signed with the agent's key {}\n",
                        Key(party.signing_public_key));
    *out += "    anything else (another dataset, field or identifier kind) is refused.\n";
  }
}

std::string RolesInWords(const std::set<std::string>& roles) {
  std::vector<std::string> words;
  if (roles.contains("data_holder")) words.emplace_back("delivers data (see above)");
  if (roles.contains("linker")) {
    words.emplace_back("links: joins the tokenised records and computes what may come out");
  }
  if (roles.contains("vault")) {
    words.emplace_back("holds the keys of this covenant and destroys them at the end");
  }
  if (roles.contains("research_unit")) words.emplace_back("may receive analysis results");
  if (roles.contains("privacy_officer")) words.emplace_back("acts for a privacy officer");
  return fmt::format("{}", fmt::join(words, "; "));
}

void Services(const Covenant& c, std::string* out) {
  *out += "\nWho links, holds the keys and receives results\n";
  for (const auto& [name, party] : c.parties) {
    if (party.roles.contains("data_holder")) continue;
    *out += fmt::format("  {} ({}), for which {} signs: {}.\n", name, party.organisation,
                        party.privacy_officer, RolesInWords(party.roles));
    PurposeLines(out, "    ", party.purpose, party.legal_basis);
  }
}

std::string DisclosureInWords(const AnalysisPolicy& a) {
  std::string text = fmt::format(
      "counts below {} are suppressed and shown as * (a zero stays 0); a sum is suppressed when "
      "its largest {} contribution{} make{} up more than {:g}% of it",
      a.min_cell, a.dominance_n, a.dominance_n == 1 ? "" : "s", a.dominance_n == 1 ? "s" : "",
      a.dominance_k * 100);
  text += a.secondary_suppression
              ? "; secondary suppression is on: further cells are suppressed so that no "
                "suppressed cell can be worked out from totals or other released tables"
              : "; secondary suppression is OFF: a suppressed cell may be derivable from totals";
  if (a.suppressed_percent == "star") {
    text += "; the percentage of a suppressed count is shown as *";
  } else {
    text += fmt::format(
        "; the percentage of a count suppressed only for being small is computed as if the "
        "count were {} (the others are shown as *)",
        a.suppressed_percent.substr(6));
  }
  text += a.rounding_base > 0
              ? fmt::format("; counts are rounded to a multiple of {}", a.rounding_base)
              : std::string("; counts are not rounded");
  text += a.max_contribution_eur ? fmt::format("; each household contributes at most {} to a sum",
                                               Euro(*a.max_contribution_eur))
                                 : std::string("; contributions to sums are not capped");
  return text + ".";
}

void Outputs(const Covenant& c, std::string* out) {
  *out += "\nWhat can come out: analyses\n";
  const AnalysisPolicy& a = c.analysis;
  if (a.analyses.empty()) {
    *out += "  No analysis may run: the covenant has no analysis section.\n";
    return;
  }
  *out += fmt::format("  Analyses (spec names): {}.\n", List(a.analyses));
  std::vector<std::string> recipients;
  if (a.recipients.empty()) {
    for (const auto& [name, party] : c.parties) {
      if (party.roles.contains("research_unit")) recipients.push_back(PartyLabel(c, name));
    }
    *out += fmt::format("  Recipients: every research unit of the covenant: {}.\n",
                        fmt::join(recipients, ", "));
  } else {
    for (const std::string& name : a.recipients) recipients.push_back(PartyLabel(c, name));
    *out += fmt::format("  Recipients: {} only.\n", fmt::join(recipients, ", "));
  }
  *out += fmt::format("  Table kinds: {}; grouped by (dimensions): {}; measures: {}.\n",
                      List(a.table_kinds), List(a.dimensions), List(a.measures));
  *out +=
      "  Only protected tables come out, never records or identities. Disclosure control "
      "(a spec may ask for stricter settings, never weaker): ";
  *out += DisclosureInWords(a) + "\n";
  if (a.max_releases == 0) {
    *out += "  Release budget: unlimited releases.\n";
  } else {
    *out += fmt::format(
        "  Release budget: at most {} over the covenant's life; every release spends one.\n",
        Plural(a.max_releases, "release", "releases"));
  }
}

void Releases(const Covenant& c, std::string* out) {
  *out += "\nWhat can come out: purpose-bound releases\n";
  if (c.releases.empty()) {
    *out += "  None: no party gets anything back about individual records.\n";
    return;
  }
  for (const PurposeBoundRelease& r : c.releases) {
    *out += fmt::format("  {}: for {}.\n", r.name, PartyLabel(c, r.recipient));
    *out += fmt::format(
        "    It sends the tokens of people in its own dataset {} and gets back, for each record "
        "it delivered itself, only these yes/no flags:\n",
        r.dataset);
    for (const ReleaseFlag& flag : r.flags) {
      std::string owner;
      for (const auto& [name, party] : c.parties) {
        if (party.datasets.contains(flag.dataset)) owner = name;
      }
      *out += fmt::format("      {}: {} also has a record in {} (delivered by {})\n",
                          flag.name,
                          r.unit == "household" ? "someone in the person's household" : "the person",
                          flag.dataset, owner);
    }
    if (r.unit == "household") {
      *out += fmt::format(
          "    The household is everyone the register {} places at the person's address on the "
          "day of the question (fields {} and {}); the answer never says who.\n",
          r.family.dataset, r.family.address_from, r.family.address_to);
    }
    *out +=
        "    For tokens it did not deliver itself it gets nothing; no identities, dates or "
        "other attributes are returned, and no other party may ask.\n";
    PurposeLines(out, "    ", r.purpose, r.legal_basis);
  }
}

void Signers(const Covenant& c, std::string* out) {
  *out += "\nWho signs\n";
  for (const auto& [name, officer] : c.privacy_officers) {
    std::vector<std::string> parties;
    for (const auto& [party_name, party] : c.parties) {
      if (party.privacy_officer == name) parties.push_back(party_name);
    }
    *out += fmt::format("  {} ({}), key {}: signs for {}.\n", name, officer.organisation,
                        Key(officer.public_key), fmt::join(parties, ", "));
  }
  *out +=
      "  Services load the covenant only when every officer listed has signed this exact "
      "file (`koppel policy sign`, `koppel policy verify`).\n";
}

}  // namespace

std::string ExplainCovenant(const Covenant& covenant) {
  std::string out =
      fmt::format("Covenant {}, version {}: {}\n\n", covenant.id, covenant.version, covenant.title);
  When(covenant, &out);
  WhoShares(covenant, &out);
  Services(covenant, &out);
  Outputs(covenant, &out);
  Releases(covenant, &out);
  Signers(covenant, &out);
  return out;
}

}  // namespace koppel
