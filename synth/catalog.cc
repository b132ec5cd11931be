#include "synth/catalog.h"

#include <string_view>

#include "core/address.h"
#include "fmt/format.h"

namespace koppel::synth {
namespace {

using Codes = std::vector<std::pair<std::string, std::string>>;

ColumnSpec Column(std::string header, ColumnRole role) { return {std::move(header), role, {}}; }

ColumnSpec Attribute(std::string header, AttributeSpec attribute) {
  return {std::move(header), ColumnRole::kAttribute, std::move(attribute)};
}

AttributeSpec Category(std::string name, Codes codes, bool required, bool as_list = false) {
  AttributeSpec a;
  a.name = std::move(name);
  a.type = AttributeType::kCategory;
  a.codes = std::move(codes);
  a.codes_as_list = as_list;
  a.required = required;
  return a;
}

AttributeSpec DateAttribute(std::string name, std::string format, bool required) {
  AttributeSpec a;
  a.name = std::move(name);
  a.type = AttributeType::kDate;
  a.date_format = std::move(format);
  a.required = required;
  return a;
}

AttributeSpec AmountAttribute(std::string name, bool decimal_comma, std::string thousands,
                              bool required) {
  AttributeSpec a;
  a.name = std::move(name);
  a.type = AttributeType::kAmount;
  a.decimal_comma = decimal_comma;
  a.thousands = std::move(thousands);
  a.required = required;
  return a;
}

AttributeSpec YearAttribute(std::string name, bool required) {
  AttributeSpec a;
  a.name = std::move(name);
  a.type = AttributeType::kYear;
  a.required = required;
  return a;
}

Codes WijkCodes() {
  Codes codes;
  for (const WijkProfile& w : AlmeloWijken()) codes.emplace_back(w.code, w.code);
  return codes;
}

Codes CrimeCodes() {
  Codes codes;
  for (const CrimeCategory& c : CrimeCategories()) codes.emplace_back(c.export_code, c.code);
  return codes;
}

std::array<DatasetSpec, kDatasetCount> BuildSpecs() {
  const absl::CivilDay from(2012, 1, 1), to(2014, 12, 31);
  std::array<DatasetSpec, kDatasetCount> s;
  s[static_cast<size_t>(Dataset::kBrp)] = DatasetSpec{
      "brp",
      "Gemeente Almelo, Basisregistratie Personen",
      from,
      to,
      CsvDialect{';', '"', false, false, true},
      {Column("BSN", ColumnRole::kBsn),
       Attribute("Geboortedatum", DateAttribute("geboortedatum", "yyyymmdd", true)),
       Column("Straat", ColumnRole::kFreeText), Column("Postcode", ColumnRole::kPostcode),
       Column("Huisnummer", ColumnRole::kHouseNumber),
       Column("Huisletter", ColumnRole::kHouseLetter),
       Column("Huisnummertoevoeging", ColumnRole::kHouseAddition),
       Attribute("Wijkcode", Category("wijk", WijkCodes(), true, true)),
       Column("Wijknaam", ColumnRole::kExtra),
       Attribute("Datum aanvang adreshouding", DateAttribute("adres_van", "yyyymmdd", true)),
       Attribute("Datum einde adreshouding", DateAttribute("adres_tot", "yyyymmdd", false))}};
  s[static_cast<size_t>(Dataset::kSocialeZaken)] = DatasetSpec{
      "sociale_zaken",
      "Gemeente Almelo, Werk en Inkomen",
      from,
      to,
      CsvDialect{';', '"', false, true, true},
      {Column("Clientnummer", ColumnRole::kExtra), Column("BSN", ColumnRole::kBsn),
       Attribute(
           "Regeling",
           Category("regeling",
                    {{"PW", "bijstand"}, {"BB", "special_assistance"}, {"MR", "minimum_scheme"}},
                    true)),
       Column("Omschrijving", ColumnRole::kFreeText),
       Attribute("Ingangsdatum", DateAttribute("start", "dd-mm-yyyy", true)),
       Attribute("Einddatum", DateAttribute("eind", "dd-mm-yyyy", false)),
       Attribute("Bedrag per maand", AmountAttribute("bedrag", true, ".", false))}};
  s[static_cast<size_t>(Dataset::kUwv)] =
      DatasetSpec{"uwv",
                  "UWV, regio Twente",
                  from,
                  to,
                  CsvDialect{',', '"', true, false, false},
                  {Column("bsn", ColumnRole::kBsn),
                   Attribute("uitkering", Category("uitkering",
                                                   {{"WW", "ww"},
                                                    {"WIA", "disability"},
                                                    {"WAO", "disability"},
                                                    {"ZW", "disability"},
                                                    {"WAJONG", "other_social"},
                                                    {"IOAW", "other_social"}},
                                                   true)),
                   Attribute("datum_ingang", DateAttribute("start", "yyyy-mm-dd", true)),
                   Attribute("datum_einde", DateAttribute("eind", "yyyy-mm-dd", false)),
                   Attribute("dagloon", AmountAttribute("dagloon", false, "", false)),
                   Column("toelichting", ColumnRole::kFreeText)}};
  s[static_cast<size_t>(Dataset::kJeugdzorg)] =
      DatasetSpec{"jeugdzorg",
                  "Gemeente Almelo, Jeugdhulp en jeugdbescherming",
                  from,
                  to,
                  CsvDialect{'\t', '\0', false, false, false},
                  {Column("BSN kind", ColumnRole::kBsn),
                   Attribute("Zorgvorm", Category("zorgvorm",
                                                  {{"AMB", "youth_ambulant"},
                                                   {"DAGB", "youth_day_treatment"},
                                                   {"RES", "youth_residential"},
                                                   {"JR", "youth_probation"},
                                                   {"OTS", "ots"},
                                                   {"VOOGDIJ", "guardianship"},
                                                   {"PLEEGZORG", "foster_care"}},
                                                  true)),
                   Attribute("Startdatum", DateAttribute("start", "d/m/yyyy", true)),
                   Attribute("Einddatum", DateAttribute("eind", "d/m/yyyy", false)),
                   Column("Aanbieder", ColumnRole::kFreeText)}};
  s[static_cast<size_t>(Dataset::kZorg)] = DatasetSpec{
      "zorg",
      "Zorgverzekeraar en zorgkantoor Twente",
      from,
      to,
      CsvDialect{';', '"', false, false, false},
      {Attribute("Jaar", YearAttribute("jaar", true)), Column("BSN verzekerde", ColumnRole::kBsn),
       Attribute("Zorgsoort", Category("zorgsoort",
                                       {{"BGGZ", "basis_ggz"},
                                        {"SGGZ", "specialist_ggz"},
                                        {"AWBZ-PSY", "awbz_psychosocial"},
                                        {"AWBZ-VG", "awbz_intellectual"},
                                        {"AWBZ-LG", "awbz_physical"},
                                        {"VZ", "addiction_care"},
                                        {"BZ", "outreach_care"}},
                                       true)),
       Attribute("Kosten", AmountAttribute("kosten", true, "", false)),
       Column("Omschrijving", ColumnRole::kFreeText)}};
  s[static_cast<size_t>(Dataset::kPolitie)] = DatasetSpec{
      "politie",
      "Politie Oost-Nederland, district Twente",
      from,
      to,
      CsvDialect{',', '"', false, true, true},
      {Column("Registratienummer", ColumnRole::kExtra), Column("BSN verdachte", ColumnRole::kBsn),
       Attribute("Feitcode", Category("feit", CrimeCodes(), true)),
       Attribute("Pleegdatum", DateAttribute("pleegdatum", "dd-mm-yyyy", true)),
       Column("Omschrijving", ColumnRole::kFreeText)}};
  s[static_cast<size_t>(Dataset::kWoningcorporatie)] =
      DatasetSpec{"woningcorporatie",
                  "Woningcorporatie Almelo (synthetisch)",
                  absl::CivilDay(2014, 1, 1),
                  to,
                  CsvDialect{';', '"', false, true, true},
                  {Column("Huurcontract", ColumnRole::kExtra),
                   Column("Postcode", ColumnRole::kPostcode), Column("Huisnr", ColumnRole::kHouse),
                   Attribute("Signaal", Category("signaal",
                                                 {{"HUURACHTERSTAND", "rent_arrears"},
                                                  {"AANZEGGING", "eviction_notice"},
                                                  {"OVERLAST", "nuisance"}},
                                                 true)),
                   Attribute("Datum", DateAttribute("datum", "d-m-yyyy", true)),
                   Attribute("Achterstand", AmountAttribute("achterstand", true, ".", false)),
                   Column("Notitie", ColumnRole::kFreeText)}};
  s[static_cast<size_t>(Dataset::kSchuldhulp)] = DatasetSpec{
      "schuldhulp",
      "Stadsbank Oost Nederland",
      from,
      to,
      CsvDialect{',', '"', false, false, false},
      {Column("Dossiernummer", ColumnRole::kExtra), Column("BSN", ColumnRole::kBsn),
       Attribute(
           "Traject",
           Category("traject", {{"SHV", "debt_counselling"}, {"BBH", "budget_management"}}, true)),
       Attribute("Startdatum", DateAttribute("start", "dd/mm/yyyy", true)),
       Attribute("Einddatum", DateAttribute("eind", "dd/mm/yyyy", false)),
       Column("Status", ColumnRole::kFreeText)}};
  s[static_cast<size_t>(Dataset::kInkomen)] =
      DatasetSpec{"inkomen",
                  "Inkomensstatistiek huishoudens (synthetisch)",
                  absl::CivilDay(2013, 1, 1),
                  to,
                  CsvDialect{'|', '\0', false, false, false},
                  {Column("BSN referentiepersoon", ColumnRole::kBsn),
                   Attribute("Jaar", YearAttribute("jaar", true)),
                   Attribute("Besteedbaar inkomen gestandaardiseerd",
                             AmountAttribute("inkomen", false, ",", true)),
                   Column("Bron", ColumnRole::kExtra)}};
  s[static_cast<size_t>(Dataset::kWijkteam)] = DatasetSpec{
      "wijkteam",
      "Gemeente Almelo, Sociaal wijkteam",
      absl::CivilDay(2013, 1, 1),
      to,
      CsvDialect{';', '"', false, false, false},
      {Column("Casusnummer", ColumnRole::kExtra), Column("BSN cliënt", ColumnRole::kBsn),
       Attribute("Aanleiding", Category("aanleiding",
                                        {{"SIGNAAL", "signal"},
                                         {"ZELF", "self_referral"},
                                         {"PARTNER", "partner_referral"}},
                                        true)),
       Attribute("Startdatum", DateAttribute("start", "dd-mm-yyyy", true)),
       Attribute("Einddatum", DateAttribute("eind", "dd-mm-yyyy", false)),
       Column("Notitie", ColumnRole::kFreeText)}};
  return s;
}

AttributeSpec IntegerAttribute(std::string name, int64_t min, int64_t max, bool required) {
  AttributeSpec a;
  a.name = std::move(name);
  a.type = AttributeType::kInteger;
  a.min = min;
  a.max = max;
  a.required = required;
  return a;
}

// The dialects of docs/synth.md: the same holders, writing as real holders do.
void ApplyDialects(std::array<DatasetSpec, kDatasetCount>& s) {
  DatasetSpec& brp = s[static_cast<size_t>(Dataset::kBrp)];
  brp.holder = "Gemeente Almelo, Basisregistratie Personen (peildatum 31-12-2014)";
  brp.period_from = absl::CivilDay(2014, 1, 1);
  brp.columns.resize(brp.columns.size() - 2);  // no address periods
  brp.columns.push_back(
      Attribute("Aantal verhuizingen 2014", IntegerAttribute("verhuizingen", 0, 99, true)));
  brp.postcodes_file = "postcodes.csv";

  DatasetSpec& sz = s[static_cast<size_t>(Dataset::kSocialeZaken)];
  sz.csv = CsvDialect{'\t', '"', false, false, true, TextEncoding::kUtf16Le};

  DatasetSpec& jeugd = s[static_cast<size_t>(Dataset::kJeugdzorg)];
  ColumnSpec& zorgvorm = jeugd.columns[1];
  zorgvorm.attribute->codes = {{"Ambulant", "youth_ambulant"},
                               {"Dagbehandeling", "youth_day_treatment"},
                               {"Jeugdhulp met verblijf", "youth_residential"},
                               {"Jeugdreclassering", "youth_probation"},
                               {"OTS", "ots"},
                               {"Voogdij", "guardianship"},
                               {"Pleegzorg", "foster_care"}};
  zorgvorm.attribute->ignore_case = true;

  DatasetSpec& zorg = s[static_cast<size_t>(Dataset::kZorg)];
  zorg.csv.encoding = TextEncoding::kWindows1252;
  zorg.columns.push_back(Column("Zorgaanbieder", ColumnRole::kExtra));

  DatasetSpec& politie = s[static_cast<size_t>(Dataset::kPolitie)];
  politie.columns[3].attribute->date_format = "yyyy-mm-ddTHH:MM:SS";

  DatasetSpec& woning = s[static_cast<size_t>(Dataset::kWoningcorporatie)];
  woning.csv.bom = false;
  woning.csv.encoding = TextEncoding::kIso885915;

  DatasetSpec& wijkteam = s[static_cast<size_t>(Dataset::kWijkteam)];
  wijkteam.csv.encoding = TextEncoding::kWindows1252;
  wijkteam.csv.declare_auto = true;
}

template <size_t N>
std::string PickText(Rng& rng, const std::array<std::string_view, N>& texts) {
  return std::string(texts[static_cast<size_t>(rng.Below(N))]);
}

std::string ExportCode(const DatasetSpec& spec, std::string_view code, Rng& rng) {
  std::vector<const std::string*> matches;
  for (const ColumnSpec& c : spec.columns) {
    if (c.role != ColumnRole::kAttribute || c.attribute->type != AttributeType::kCategory) continue;
    for (const auto& [export_code, mapped] : c.attribute->codes) {
      if (mapped == code) matches.push_back(&export_code);
    }
  }
  return *matches[static_cast<size_t>(rng.Below(matches.size()))];
}

std::string Optional(const std::optional<absl::CivilDay>& date, std::string_view format) {
  return date ? FormatDate(*date, format) : std::string();
}

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string PostcodeSpelling(const Address& a, Rng& rng) {
  const std::string digits = a.postcode.substr(0, 4), letters = a.postcode.substr(4);
  const double r = rng.Uniform();
  if (r < 0.5) return a.postcode;
  if (r < 0.8) return digits + " " + letters;
  return digits + " " + Lower(letters);
}

// One of the ways people write the house field, checked against the core parser so the
// spelling always means the same address.
std::string HouseSpelling(const Address& a, const std::string& postcode, Rng& rng) {
  const std::string n = fmt::format("{}", a.number);
  const std::string letter = a.letter ? std::string(1, a.letter) : std::string();
  const std::string& add = a.addition;
  std::vector<std::string> candidates;
  if (letter.empty() && add.empty()) {
    candidates = {n, n, n, n, n, n, n, n, n, "0" + n};
  } else if (add.empty()) {
    candidates = {n + Lower(letter), n + " " + letter, n + letter};
  } else if (letter.empty()) {
    candidates = {n + "-" + add, n + " " + Lower(add), n + "/" + add, n + " " + add};
  } else {
    candidates = {n + letter + "-" + add, n + " " + letter + " " + add,
                  n + Lower(letter) + "-" + Lower(add)};
  }
  candidates.push_back(n + letter + (add.empty() ? "" : "-" + add));
  const size_t first = static_cast<size_t>(rng.Below(candidates.size() - 1));
  for (size_t i = first; i < candidates.size(); ++i) {
    if (ParseAddress(postcode, candidates[i]).view() == a.canonical) return candidates[i];
  }
  return candidates.back();
}

std::string BsnPlain(const std::string& bsn) { return bsn; }
std::string BsnEightWhenOld(const std::string& bsn) {
  return bsn.front() == '0' ? bsn.substr(1) : bsn;
}
std::string BsnDotted(const std::string& bsn) {
  return bsn.substr(0, 4) + "." + bsn.substr(4, 2) + "." + bsn.substr(6);
}
std::string BsnSpaced(const std::string& bsn) {
  return bsn.substr(0, 3) + " " + bsn.substr(3, 3) + " " + bsn.substr(6);
}

uint64_t RecordNumber(const Household& h, const Fact& f, uint64_t modulus) {
  return Mix64(h.index * 1000003u + static_cast<uint64_t>(f.member + 1) * 7919u +
               static_cast<uint64_t>(DaysSinceEpoch(f.start))) %
         modulus;
}

constexpr std::array<std::string_view, 10> kSzTexts = {
    "Participatiewet, levensonderhoud",   "Algemene bijstand alleenstaande ouder",
    "Bijzondere bijstand: bewindvoering", "Tegemoetkoming medische kosten",
    "Financiële tegemoetkoming minima",   "Cliënt heeft schuldenproblematiek",
    "Meedoenregeling kinderen",           "Collectieve zorgverzekering minima",
    "Coördinatie met wijkteam",           "Herbeoordeling na verhuizing"};
constexpr std::array<std::string_view, 8> kUwvTexts = {
    "Loongerelateerde uitkering",
    "Vervolguitkering, 80-100% arbeidsongeschikt",
    "Ziektewet vangnet",
    "Wajong (oude regeling)",
    "Uitkering na reïntegratietraject",
    "IOAW na WW-einde",
    "Herbeoordeling gepland",
    "Gedeeltelijk arbeidsongeschikt, 35-80%"};
constexpr std::array<std::string_view, 10> kProviders = {
    "Jarabee",
    "Karakter",
    "Ambiq",
    "Pactum",
    "Accare",
    "William Schrikker Groep",
    "Jeugdbescherming Overijssel",
    "Leger des Heils Jeugdbescherming & Reclassering",
    "Stichting Cliënt & Gezin",
    "Zorgboerderij De Eschmarke"};
constexpr std::array<std::string_view, 10> kZorgTexts = {"Generalistische basis-GGZ kort",
                                                         "DBC angststoornissen",
                                                         "Depressie, behandeling",
                                                         "Zorgzwaartepakket VG 3",
                                                         "Persoonsgebonden budget",
                                                         "Verslavingszorg ambulant",
                                                         "Bemoeizorg (OGGZ)",
                                                         "Persoonlijke verzorging",
                                                         "Cliëntondersteuning",
                                                         "Psychiatrische behandeling; ADHD"};
constexpr std::array<std::string_view, 10> kPolitieTexts = {
    "Winkeldiefstal, Grotestraat",
    "Mishandeling (art. 300 Sr)",
    "Bedreiging van buurman",
    "Vernieling bushokje",
    "Rijden onder invloed",
    "Heling, fiets",
    "Bezit softdrugs",
    "Inbraak woning, achterzijde",
    "Openlijke geweldpleging, uitgaansgebied",
    "Overig feit"};
constexpr std::array<std::string_view, 8> kWoningTexts = {
    "Betalingsregeling getroffen",       "Brief 2e aanmaning verstuurd",
    "Melding geluidsoverlast",           "Doorverwezen naar Schuldhulp; contact gezocht",
    "Huurachterstand > 2 maanden",       "Overleg met wijkteam",
    "Gesprek met huurder, geen reactie", "Dossier naar deurwaarder"};
constexpr std::array<std::string_view, 6> kSchuldTexts = {
    "Lopend",     "Afgerond, schuldenvrij", "Uitgevallen",
    "Aanmelding", "Minnelijk traject",      "Stabilisatie, budgetbeheer actief"};
constexpr std::array<std::string_view, 8> kWijkteamTexts = {
    "Huisbezoek gepland; gezin in beeld",
    "Signaal woningcorporatie (huurachterstand)",
    "Aanmelding via huisarts",
    "Coördinatie met jeugdhulp; één gezin, één plan",
    "Melding van school",
    "Cliënt meldt zich zelf",
    "Partner vraagt hulp bij schulden",
    "Afgesloten, doelen behaald"};

// Dialect texts. Providers in the insurer's unmapped column, written in Windows-1252.
constexpr std::array<std::string_view, 8> kCareProviders = {"Zorggroep Twente-Noord Ééngezinszorg",
                                                            "Thuiszorg Léon Ö",
                                                            "Mediant GGZ",
                                                            "Tactus Verslavingszorg",
                                                            "Dimence Groep",
                                                            "Zorgcentrum De Bönte",
                                                            "Carintreggeland Thuiszorg",
                                                            "Praktijk Ëlkenaar & Müller"};
// The housing corporation's notes, written in ISO-8859-15 (the euro sign is 0xA4 there).
constexpr std::array<std::string_view, 8> kWoningTextsEuro = {
    "Betalingsregeling € 50 per maand", "Huurachterstand € 1.250; brief verstuurd",
    "Incassokosten € 40 doorberekend",  "Gesprek met huurder, geen reactie",
    "Overleg met wijkteam; één plan",   "Dossier naar deurwaarder",
    "Melding geluidsoverlast",          "Overlast na sluitingstijd café"};

// How a youth-care worker types a code: as listed, in capitals, in lower case, or with blanks
// doubled (`ignore_case: true` reads them all).
std::string CodeSpelling(const std::string& code, Rng& rng) {
  const double r = rng.Uniform();
  if (r < 0.5) return code;
  std::string out = code;
  if (r < 0.7) {
    for (char& c : out) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    return out;
  }
  if (r < 0.9) return Lower(out);
  for (size_t pos = out.find(' '); pos != std::string::npos; pos = out.find(' ', pos + 2)) {
    out.insert(pos, " ");
  }
  return " " + out;
}

std::string IsoDateTime(absl::CivilDay date, Rng& rng) {
  return fmt::format("{}T{:02d}:{:02d}:{:02d}", FormatDate(date, "yyyy-mm-dd"), rng.Below(24),
                     rng.Below(60), rng.Below(60));
}

}  // namespace

std::string FormatCents(int64_t cents, bool decimal_comma, std::string_view thousands) {
  const bool negative = cents < 0;
  const uint64_t magnitude = static_cast<uint64_t>(negative ? -cents : cents);
  std::string whole = fmt::format("{}", magnitude / 100);
  if (!thousands.empty()) {
    for (size_t i = whole.size(); i > 3; i -= 3) whole.insert(i - 3, thousands);
  }
  return fmt::format("{}{}{}{:02d}", negative ? "-" : "", whole, decimal_comma ? ',' : '.',
                     magnitude % 100);
}

Catalog::Catalog(bool dialects) : dialects_(dialects), specs_(BuildSpecs()) {
  if (dialects) ApplyDialects(specs_);
}

bool Catalog::Writes(const Fact& fact) const {
  return !dialects_ || fact.dataset != Dataset::kBrp || fact.address == 0;
}

std::vector<std::string> Catalog::RenderOutsider(const Person& person, const Address& a,
                                                 Rng& rng) const {
  const WijkProfile& w = AlmeloWijken()[static_cast<size_t>(rng.Below(AlmeloWijken().size()))];
  return {person.bsn,
          FormatDate(person.birth, "yyyymmdd"),
          a.street,
          a.postcode,
          fmt::format("{}", a.number),
          a.letter ? std::string(1, a.letter) : "",
          a.addition,
          std::string(w.code),
          std::string(w.name),
          fmt::format("{}", rng.Below(2))};
}

std::vector<std::string> Catalog::Render(const Household& h, const Fact& f, Rng& rng) const {
  const DatasetSpec& s = spec(f.dataset);
  const std::string bsn = f.member >= 0 ? h.members[static_cast<size_t>(f.member)].bsn : "";
  switch (f.dataset) {
    case Dataset::kBrp: {
      const Address& a = h.addresses[static_cast<size_t>(f.address)];
      const WijkProfile& w = AlmeloWijken()[static_cast<size_t>(a.wijk)];
      std::vector<std::string> row = {
          bsn,
          FormatDate(h.members[static_cast<size_t>(f.member)].birth, "yyyymmdd"),
          a.street,
          a.postcode,
          fmt::format("{}", a.number),
          a.letter ? std::string(1, a.letter) : "",
          a.addition,
          std::string(f.code),
          std::string(w.name)};
      if (dialects_) {  // a snapshot: the moves of 2014 instead of the address period
        row.push_back(fmt::format("{}", MovesIn2014(h, f.member)));
      } else {
        row.push_back(FormatDate(f.start, "yyyymmdd"));
        row.push_back(Optional(f.end, "yyyymmdd"));
      }
      return row;
    }
    case Dataset::kSocialeZaken:
      return {fmt::format("C{:07d}", RecordNumber(h, f, 10000000)),
              rng.Bernoulli(0.5) ? BsnEightWhenOld(bsn) : BsnPlain(bsn),
              ExportCode(s, f.code, rng),
              PickText(rng, kSzTexts),
              FormatDate(f.start, "dd-mm-yyyy"),
              Optional(f.end, "dd-mm-yyyy"),
              f.cents ? FormatCents(*f.cents, true, ".") : ""};
    case Dataset::kUwv:
      return {BsnEightWhenOld(bsn),
              ExportCode(s, f.code, rng),
              FormatDate(f.start, "yyyy-mm-dd"),
              Optional(f.end, "yyyy-mm-dd"),
              f.cents ? FormatCents(*f.cents, false, "") : "",
              rng.Bernoulli(0.7) ? PickText(rng, kUwvTexts) : ""};
    case Dataset::kJeugdzorg: {
      std::string code = ExportCode(s, f.code, rng);
      if (dialects_) code = CodeSpelling(code, rng);
      return {BsnSpaced(bsn), code, FormatDate(f.start, "d/m/yyyy"), Optional(f.end, "d/m/yyyy"),
              PickText(rng, kProviders)};
    }
    case Dataset::kZorg: {
      std::vector<std::string> row = {fmt::format("{}", f.year), bsn, ExportCode(s, f.code, rng),
                                      f.cents ? FormatCents(*f.cents, true, "") : "",
                                      PickText(rng, kZorgTexts)};
      if (dialects_) row.push_back(PickText(rng, kCareProviders));
      return row;
    }
    case Dataset::kPolitie: {
      std::string record =
          fmt::format("PL0600-{}{:06d}", f.start.year(), RecordNumber(h, f, 1000000));
      std::string code = ExportCode(s, f.code, rng);
      std::string date = dialects_ ? IsoDateTime(f.start, rng) : FormatDate(f.start, "dd-mm-yyyy");
      return {std::move(record), BsnDotted(bsn), std::move(code), std::move(date),
              PickText(rng, kPolitieTexts)};
    }
    case Dataset::kWoningcorporatie: {
      const Address& a = h.addresses[static_cast<size_t>(f.address)];
      const std::string postcode = PostcodeSpelling(a, rng);
      return {fmt::format("HC{:08d}", RecordNumber(h, f, 100000000)),
              postcode,
              HouseSpelling(a, postcode, rng),
              ExportCode(s, f.code, rng),
              FormatDate(f.start, "d-m-yyyy"),
              f.cents ? FormatCents(*f.cents, true, rng.Bernoulli(0.5) ? "." : "") : "",
              dialects_ ? PickText(rng, kWoningTextsEuro) : PickText(rng, kWoningTexts)};
    }
    case Dataset::kSchuldhulp:
      return {fmt::format("SB-{:07d}", RecordNumber(h, f, 10000000)),
              rng.Bernoulli(0.1) ? BsnDotted(bsn) : BsnPlain(bsn),
              ExportCode(s, f.code, rng),
              FormatDate(f.start, "dd/mm/yyyy"),
              Optional(f.end, "dd/mm/yyyy"),
              PickText(rng, kSchuldTexts)};
    case Dataset::kInkomen:
      return {bsn, fmt::format("{}", f.year),
              FormatCents(*f.cents, false, rng.Bernoulli(0.5) ? "," : ""),
              fmt::format("IHI {}", f.year)};
    case Dataset::kWijkteam:
      return {fmt::format("WT{}-{:05d}", f.start.year(), RecordNumber(h, f, 100000)),
              bsn,
              ExportCode(s, f.code, rng),
              FormatDate(f.start, "dd-mm-yyyy"),
              Optional(f.end, "dd-mm-yyyy"),
              PickText(rng, kWijkteamTexts)};
    case Dataset::kCount:
      break;
  }
  return {};
}

}  // namespace koppel::synth
