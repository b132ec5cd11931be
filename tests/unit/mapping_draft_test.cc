// `koppel-agent init`'s drafting: crafted columns are classified as a holder would map them
// (BSN by the 11-test, split and free-form addresses, date and date-time formats, amounts with
// decimal comma and thousands point, categories with rare codes suppressed, windows-1252), and
// every draft loads as a mapping and holds no identifier value.
#include "agents/mapping_draft.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "agents/init_command.h"
#include "core/bsn.h"
#include "core/mapping.h"
#include "tests/testing/temp_dir.h"

namespace koppel::agent {
namespace {

using test::TempDir;

DraftOptions Options() {
  DraftOptions options;
  options.dataset = "t";
  return options;
}

std::string Bsn(uint32_t i) {
  char digits[9];
  for (uint32_t stem = 10000000 + i * 7;; ++stem) {
    if (BsnFromStem(stem, digits)) return std::string(digits, 9);
  }
}

// A postcode of the 76xx area: 7600AA, 7600AB, ...
std::string Postcode(uint32_t i) {
  return "76" + std::to_string(10 + i % 90) + static_cast<char>('A' + i / 90 % 26) +
         static_cast<char>('B' + i % 24);
}

struct Drafted {
  std::string yaml;
  Mapping mapping;
};

// Drafts from `rows` rows whose cells `cell(row, column)` gives.
Drafted Draft(const std::vector<std::string>& header, size_t rows,
              const std::function<std::string(size_t, size_t)>& cell, uint64_t min_cell = 10) {
  DraftOptions options;
  options.dataset = "test";
  options.min_cell = min_cell;
  absl::StatusOr<std::unique_ptr<MappingDrafter>> drafter = MappingDrafter::Create(header, options);
  EXPECT_TRUE(drafter.ok()) << drafter.status();
  if (!drafter.ok()) return {};
  for (size_t r = 0; r < rows; ++r) {
    std::vector<std::string> cells;
    for (size_t c = 0; c < header.size(); ++c) cells.push_back(cell(r, c));
    std::vector<std::string_view> fields(cells.begin(), cells.end());
    (*drafter)->AddRecord(fields);
  }
  absl::StatusOr<std::string> yaml = (*drafter)->Draft(ExportDialect{});
  EXPECT_TRUE(yaml.ok()) << yaml.status();
  if (!yaml.ok()) return {};
  absl::StatusOr<Mapping> mapping = ParseMapping(*yaml, "draft.yaml");
  EXPECT_TRUE(mapping.ok()) << mapping.status() << "\n" << *yaml;
  if (!mapping.ok()) return {*yaml, {}};
  return {*yaml, *mapping};
}

const AttributeSpec* Attribute(const Mapping& m, std::string_view column) {
  for (const AttributeSpec& a : m.attributes) {
    if (a.column == column) return &a;
  }
  return nullptr;
}

TEST(MappingDraftTest, ChoosesTheBsnColumnByTheElevenTestAndNeverWritesABsn) {
  // 2% of BSNs broken; a client number column of nine digits passes the 11-test by chance only.
  std::vector<std::string> bsns;
  for (uint32_t i = 0; i < 500; ++i) bsns.push_back(i % 50 == 7 ? "123456780" : Bsn(i));
  Drafted d = Draft({"Klant", "BSN cliënt"}, 500, [&](size_t r, size_t c) {
    return c == 0 ? std::to_string(300000000 + r * 13) : bsns[r];
  });
  ASSERT_TRUE(d.mapping.bsn_column.has_value()) << d.yaml;
  EXPECT_EQ(*d.mapping.bsn_column, "BSN cliënt");
  EXPECT_NE(d.yaml.find("98.0% of 500 values pass the 11-test"), std::string::npos) << d.yaml;
  EXPECT_EQ(Attribute(d.mapping, "Klant"), nullptr) << "a record number is no attribute";
  EXPECT_NE(d.yaml.find("\"Klant\": numbers of seven or more digits"), std::string::npos);
  for (const std::string& bsn : bsns) ASSERT_EQ(d.yaml.find(bsn), std::string::npos);
}

TEST(MappingDraftTest, FindsASplitAddressAndNeverWritesItsValues) {
  Drafted d = Draft({"Postcode", "Huisnummer", "Huisletter", "Huisnummertoevoeging", "Wijk"}, 400,
                    [](size_t r, size_t c) -> std::string {
                      switch (c) {
                        case 0:
                          return r == 5 ? "0000XX" : Postcode(static_cast<uint32_t>(r));
                        case 1:
                          return std::to_string(1 + r % 180);
                        case 2:
                          return r % 7 == 0 ? "A" : "";
                        case 3:
                          return r % 5 == 0 ? "bis" : "";
                        default:
                          return r % 2 == 0 ? "WK01" : "WK02";
                      }
                    });
  ASSERT_TRUE(d.mapping.address_columns.has_value()) << d.yaml;
  const AddressColumns& a = *d.mapping.address_columns;
  EXPECT_EQ(a.postcode, "Postcode");
  EXPECT_EQ(a.number, "Huisnummer");
  EXPECT_EQ(a.letter, "Huisletter");
  EXPECT_EQ(a.addition, "Huisnummertoevoeging");
  EXPECT_FALSE(a.free_form());
  EXPECT_NE(d.yaml.find("99.8% of 400 values are postcodes"), std::string::npos) << d.yaml;
  for (uint32_t r = 0; r < 400; ++r) ASSERT_EQ(d.yaml.find(Postcode(r)), std::string::npos);
  const AttributeSpec* wijk = Attribute(d.mapping, "Wijk");
  ASSERT_NE(wijk, nullptr);
  EXPECT_EQ(wijk->codes.size(), 2u);
}

TEST(MappingDraftTest, FindsAFreeFormHouseField) {
  Drafted d = Draft({"BSN", "Postcode", "Huisnr"}, 200, [](size_t r, size_t c) -> std::string {
    if (c == 0) return Bsn(static_cast<uint32_t>(r));
    if (c == 1) return r % 3 == 0 ? "7600 ab" : Postcode(static_cast<uint32_t>(r));
    return std::to_string(1 + r % 90) + (r % 4 == 0 ? " A" : r % 4 == 1 ? "-2" : "");
  });
  ASSERT_TRUE(d.mapping.address_columns.has_value()) << d.yaml;
  EXPECT_EQ(d.mapping.address_columns->house, "Huisnr");
  EXPECT_EQ(*d.mapping.bsn_column, "BSN");
}

TEST(MappingDraftTest, ReadsDateFormatsIncludingDateTimesAndTakesThePeriodFromThem) {
  const std::vector<std::string> header = {"BSN",         "Start",    "Einde", "Overlijdensdatum",
                                           "Pleegmoment", "Peildatum"};
  Drafted d = Draft(header, 120, [](size_t r, size_t c) -> std::string {
    const int day = 1 + static_cast<int>(r % 28);
    const int month = 1 + static_cast<int>(r % 12);
    switch (c) {
      case 0:
        return Bsn(static_cast<uint32_t>(r));
      case 1:
        return fmt::format("{:02d}-{:02d}-2013", day, month);
      case 2:
        return r % 2 ? "" : fmt::format("{}/{}/2014", day, month);
      case 3:
        return fmt::format("19{:02d}{:02d}{:02d}", 40 + r % 50, month, day);
      case 4:
        return fmt::format("2012-{:02d}-{:02d}T14:22:05", month, day);
      default:
        return fmt::format("2014-{:02d}-{:02d}", month, day);
    }
  });
  auto format = [&](std::string_view column) {
    const AttributeSpec* a = Attribute(d.mapping, column);
    return a == nullptr || a->type != AttributeType::kDate ? std::string("(not a date)")
                                                           : a->date_format.pattern();
  };
  EXPECT_EQ(format("Start"), "dd-mm-yyyy");
  EXPECT_EQ(format("Einde"), "d/m/yyyy");
  EXPECT_EQ(format("Overlijdensdatum"), "yyyymmdd");
  EXPECT_EQ(format("Pleegmoment"), "yyyy-mm-ddTHH:MM");
  EXPECT_EQ(format("Peildatum"), "yyyy-mm-dd");
  EXPECT_TRUE(Attribute(d.mapping, "Start")->required);
  EXPECT_FALSE(Attribute(d.mapping, "Einde")->required) << "it has empty values";
  // Death dates say nothing about the period the export covers; the period is whole years.
  EXPECT_EQ(d.mapping.period_from, "2012-01-01");
  EXPECT_EQ(d.mapping.period_to, "2014-12-31");
}

TEST(MappingDraftTest, ReadsAmountsIntegersAndYears) {
  Drafted d = Draft({"BSN", "Bedrag", "Dagloon", "Dagen", "Jaar"}, 100,
                    [](size_t r, size_t c) -> std::string {
                      switch (c) {
                        case 0:
                          return Bsn(static_cast<uint32_t>(r));
                        case 1:
                          return r % 3 == 0 ? fmt::format("{}.{:03d},{:02d}", 1 + r % 9, r, r % 100)
                                            : fmt::format("{},{:02d}", r * 3, r % 100);
                        case 2:
                          return fmt::format("{}.{}", 80 + r, r % 10);
                        case 3:
                          return std::to_string(r % 366);
                        default:
                          return std::to_string(2012 + r % 3);
                      }
                    });
  const AttributeSpec* bedrag = Attribute(d.mapping, "Bedrag");
  ASSERT_NE(bedrag, nullptr) << d.yaml;
  EXPECT_EQ(bedrag->type, AttributeType::kAmount);
  EXPECT_EQ(bedrag->decimal_mark, ',');
  EXPECT_EQ(bedrag->thousands_separator, '.');
  const AttributeSpec* dagloon = Attribute(d.mapping, "Dagloon");
  ASSERT_NE(dagloon, nullptr);
  EXPECT_EQ(dagloon->type, AttributeType::kAmount);
  EXPECT_EQ(dagloon->decimal_mark, '.');
  EXPECT_EQ(dagloon->thousands_separator, '\0');
  EXPECT_EQ(Attribute(d.mapping, "Dagen")->type, AttributeType::kInteger);
  EXPECT_EQ(Attribute(d.mapping, "Jaar")->type, AttributeType::kYear);
  // Only years: the period is their whole years.
  EXPECT_EQ(d.mapping.period_from, "2012-01-01");
  EXPECT_EQ(d.mapping.period_to, "2014-12-31");
}

TEST(MappingDraftTest, ListsOnlyCodesThatOccurMinCellTimes) {
  // 400 rows: AMB 250, RES 147, and the rare GEHEIM (3 rows, under 1%): listed without it.
  Drafted d = Draft({"BSN", "Zorgvorm"}, 400, [](size_t r, size_t c) -> std::string {
    if (c == 0) return Bsn(static_cast<uint32_t>(r));
    return r < 250 ? "AMB" : r < 397 ? "RES" : "GEHEIM";
  });
  const AttributeSpec* zorgvorm = Attribute(d.mapping, "Zorgvorm");
  ASSERT_NE(zorgvorm, nullptr) << d.yaml;
  EXPECT_EQ(zorgvorm->codes.size(), 2u);
  EXPECT_TRUE(zorgvorm->codes.contains("AMB"));
  EXPECT_TRUE(zorgvorm->codes.contains("RES"));
  EXPECT_EQ(d.yaml.find("GEHEIM"), std::string::npos) << d.yaml;
  EXPECT_NE(d.yaml.find("1 code(s) occurring fewer than 10 times (3 values) are not listed: add "
                        "them to codes by hand"),
            std::string::npos)
      << d.yaml;
}

TEST(MappingDraftTest, PointsOutListedCodesMuchRarerThanTheOthers) {
  Drafted d = Draft({"BSN", "Wijk"}, 2000, [](size_t r, size_t c) -> std::string {
    if (c == 0) return Bsn(static_cast<uint32_t>(r));
    return r < 1500 ? "WK01" : r < 1988 ? "WK02" : "ONBEKEND";
  });
  ASSERT_NE(Attribute(d.mapping, "Wijk"), nullptr) << d.yaml;
  EXPECT_EQ(Attribute(d.mapping, "Wijk")->codes.size(), 3u);
  EXPECT_NE(d.yaml.find("1 listed code(s) occur less than 1% as often as the most frequent one"),
            std::string::npos)
      << d.yaml;
}

TEST(MappingDraftTest, LeavesACategoryOfRareCodesForTheHolderToComplete) {
  // Half the rows carry codes rarer than min_cell: listing the others would reject them all.
  Drafted d = Draft({"BSN", "Feitcode"}, 60, [](size_t r, size_t c) -> std::string {
    if (c == 0) return Bsn(static_cast<uint32_t>(r));
    return r < 30 ? "VERM" : "F" + std::to_string(r % 6);
  });
  EXPECT_EQ(Attribute(d.mapping, "Feitcode"), nullptr) << d.yaml;
  EXPECT_NE(d.yaml.find("  # - name: feitcode"), std::string::npos) << d.yaml;
  EXPECT_NE(d.yaml.find("complete codes by hand and uncomment"), std::string::npos) << d.yaml;
  EXPECT_EQ(d.yaml.find("F1"), std::string::npos) << d.yaml;
}

TEST(MappingDraftTest, CodesInAnyCapitalisationAreOneCode) {
  Drafted d = Draft({"BSN", "Zorgvorm"}, 90, [](size_t r, size_t c) -> std::string {
    if (c == 0) return Bsn(static_cast<uint32_t>(r));
    static const char* kSpellings[] = {"Ambulant", "AMBULANT", "ambulant", "Residentieel"};
    return kSpellings[r % 4];
  });
  const AttributeSpec* zorgvorm = Attribute(d.mapping, "Zorgvorm");
  ASSERT_NE(zorgvorm, nullptr) << d.yaml;
  EXPECT_TRUE(zorgvorm->ignore_case);
  EXPECT_EQ(zorgvorm->codes.size(), 2u) << d.yaml;
}

// A header with a line separator, a right-to-left override or a zero-width space is written
// with YAML escapes: the draft shows no invisible or reordering character, and reads back as the
// export's header.
TEST(MappingDraftTest, WritesHeadersThatHideCharactersWithEscapes) {
  const std::vector<std::string> tricky = {"Jaar\xe2\x80\xa8x",
                                           "Soort\xe2\x80\xae"
                                           "ab",
                                           "Bedrag\xe2\x80\x8b", "Bron\xc2\x85"};
  std::vector<std::string> header = {"BSN"};
  header.insert(header.end(), tricky.begin(), tricky.end());
  Drafted d = Draft(header, 60, [](size_t r, size_t c) -> std::string {
    switch (c) {
      case 0:
        return Bsn(static_cast<uint32_t>(r));
      case 1:
        return std::to_string(2012 + r % 3);
      case 2:
        return r % 2 ? "ambulant" : "thuis";
      case 3:
        return fmt::format("{},{:02d}", 10 + r, r % 100);
      default:
        return r % 3 ? "gemeente" : "zorgverzekeraar";
    }
  });
  for (const std::string_view hidden :
       {"\xe2\x80\xa8", "\xe2\x80\xae", "\xe2\x80\x8b", "\xc2\x85"}) {
    EXPECT_EQ(d.yaml.find(hidden), std::string::npos) << d.yaml;
  }
  size_t mapped = 0;
  for (const std::string& column : tricky) mapped += Attribute(d.mapping, column) != nullptr;
  EXPECT_EQ(mapped, tricky.size()) << d.yaml;
}

TEST(MappingDraftTest, LeavesFreeTextOutNamingItsHeader) {
  Drafted d = Draft({"BSN", "Notitie", "Dossier"}, 50, [](size_t r, size_t c) -> std::string {
    if (c == 0) return Bsn(static_cast<uint32_t>(r));
    if (c == 1) return r % 2 ? "Belt terug na overleg" : "Geen contact";
    return "D-" + std::to_string(r);
  });
  EXPECT_EQ(d.mapping.attributes.size(), 0u) << d.yaml;
  EXPECT_NE(d.yaml.find("#   \"Notitie\": free text"), std::string::npos) << d.yaml;
  EXPECT_NE(d.yaml.find("#   \"Dossier\": too many different values for codes"), std::string::npos);
}

TEST(MappingDraftTest, NeverListsHouseNumbersAsCategoryCodes) {
  // No postcode column, so no address: the house numbers must not become category codes.
  Drafted d = Draft({"BSN", "Locatie", "Huisnr"}, 200, [](size_t r, size_t c) -> std::string {
    if (c == 0) return Bsn(static_cast<uint32_t>(r));
    return std::to_string(10 + r % 5) + (r % 2 ? "A" : "-2");
  });
  EXPECT_EQ(d.mapping.attributes.size(), 0u) << d.yaml;
  EXPECT_NE(d.yaml.find("\"Locatie\": values written like house numbers"), std::string::npos)
      << d.yaml;
  EXPECT_NE(d.yaml.find("\"Huisnr\": identifying: left out"), std::string::npos) << d.yaml;
  EXPECT_EQ(d.yaml.find("12A"), std::string::npos) << d.yaml;
}

// A crafted export of a person's identifying details beside one real category: only the
// category is drafted, and no identifying value is written.
const std::vector<std::string> kIdentifyingHeader = {"bsn",       "gebdatum", "gebjaar", "pc4",
                                                     "pcletters", "nummer",   "zip",     "ouder_id",
                                                     "naam",      "zorgsoort"};

std::string IdentifyingCell(size_t r, size_t c) {
  static const char* kSurnames[] = {"Jansen", "Veenstra", "Bakhuizen"};
  static const char* kLetters[] = {"QJ", "XK", "VQ"};
  static const char* kCare[] = {"SGGZ", "BGGZ"};
  switch (c) {
    case 0:
      return Bsn(static_cast<uint32_t>(r));
    case 1:  // one person born long before the others
      return r == 7 ? "03-04-1901" : fmt::format("{:02d}-06-{}", 1 + r % 28, 1960 + r % 3);
    case 2:
      return r == 7 ? "1899" : r == 8 ? "2031" : std::to_string(1960 + r % 3);
    case 3:
      return std::to_string(7611 + r % 3);
    case 4:
      return kLetters[r % 3];
    case 5:
      return std::to_string(231 + r % 3);
    case 6:
      return fmt::format("NL{}{}", 7611 + r % 3, kLetters[r % 3]);
    case 7:
      return fmt::format("A{:08d}", 31415926 + r % 3);
    case 8:
      return kSurnames[r % 3];
    default:
      return kCare[r % 2];
  }
}

TEST(MappingDraftTest, LeavesIdentifyingColumnsOutAndWritesNoneOfTheirValues) {
  Drafted d = Draft(kIdentifyingHeader, 60, IdentifyingCell);
  ASSERT_TRUE(d.mapping.bsn_column.has_value()) << d.yaml;
  const AttributeSpec* zorgsoort = Attribute(d.mapping, "zorgsoort");
  ASSERT_NE(zorgsoort, nullptr) << d.yaml;
  EXPECT_EQ(zorgsoort->codes.size(), 2u);
  for (std::string_view column :
       {"gebdatum", "pc4", "pcletters", "nummer", "zip", "ouder_id", "naam"}) {
    EXPECT_EQ(Attribute(d.mapping, column), nullptr) << column << "\n" << d.yaml;
    EXPECT_NE(d.yaml.find(fmt::format("#   \"{}\": identifying: left out", column)),
              std::string::npos)
        << column << "\n"
        << d.yaml;
  }
  // A birth year may be an attribute, but never shows the period.
  EXPECT_NE(d.yaml.find("placeholder: no year holds 10 or more dates"), std::string::npos)
      << d.yaml;
  for (size_t r = 0; r < 60; ++r) {
    for (size_t c = 0; c + 1 < kIdentifyingHeader.size(); ++c) {
      const std::string value = IdentifyingCell(r, c);
      if (c == 2 && value.starts_with("196")) continue;  // common years, not one person's
      EXPECT_EQ(d.yaml.find(value), std::string::npos) << kIdentifyingHeader[c] << "\n" << d.yaml;
    }
  }
  for (std::string_view date : {"1901", "1899", "2031", "04-03", "03-04"}) {
    EXPECT_EQ(d.yaml.find(date), std::string::npos) << date << "\n" << d.yaml;
  }
}

TEST(MappingDraftTest, ThePeriodIsTheWholeYearsThatMinCellValuesFallIn) {
  // "Datum" has one record in 1901 and one in 2031: neither year may show. "dob" and
  // "geb_datum" are dates of birth whatever their extremes, and "Sterfjaar" a year of death.
  Drafted d = Draft({"BSN", "Datum", "dob", "geb_datum", "Sterfjaar"}, 100,
                    [](size_t r, size_t c) -> std::string {
                      if (c == 0) return Bsn(static_cast<uint32_t>(r));
                      if (c == 1) {
                        if (r == 3) return "03-04-1901";
                        if (r == 4) return "17-11-2031";
                        return fmt::format("{:02d}-05-{}", 2 + r % 27, 2013 + r % 2);
                      }
                      if (c == 4) return std::to_string(1990 + r % 40);
                      return fmt::format("{:02d}-04-19{:02d}", 1 + r % 28, 20 + r % 60);
                    });
  EXPECT_EQ(d.mapping.period_from, "2013-01-01") << d.yaml;
  EXPECT_EQ(d.mapping.period_to, "2014-12-31") << d.yaml;
  for (std::string_view year : {"1901", "2031", "1920", "2029"}) {
    EXPECT_EQ(d.yaml.find(year), std::string::npos) << year << "\n" << d.yaml;
  }
  EXPECT_EQ(Attribute(d.mapping, "dob"), nullptr) << d.yaml;
  EXPECT_EQ(Attribute(d.mapping, "geb_datum"), nullptr) << d.yaml;

  // Too few dates in any year: a placeholder, not the dates seen.
  Drafted few = Draft({"BSN", "Datum"}, 8, [](size_t r, size_t c) -> std::string {
    return c == 0 ? Bsn(static_cast<uint32_t>(r)) : fmt::format("{:02d}-05-2013", 1 + r);
  });
  EXPECT_NE(few.yaml.find("placeholder"), std::string::npos) << few.yaml;
  EXPECT_EQ(few.yaml.find("2013"), std::string::npos) << few.yaml;
}

TEST(MappingDraftTest, NeverListsValuesThatHoldIdentifiersOrNames) {
  // Neutral headers: the values tell. Postcodes inside codes, letter-and-digits ids and
  // surnames (one per few rows) are left out; a real category and a place name stay.
  static const char* kWijken[] = {"Binnenstad", "Hofkamp"};
  Drafted d =
      Draft({"BSN", "Kenmerk", "Referentie", "Klant", "Soort", "Wijknaam", "Aanrijding"}, 200,
            [](size_t r, size_t c) -> std::string {
              switch (c) {
                case 0:
                  return Bsn(static_cast<uint32_t>(r));
                case 1:
                  return fmt::format("NL{}Q{}", 7611 + r % 4, static_cast<char>('A' + r % 4));
                case 2:
                  return fmt::format("R{:07d}", 2718281 + r % 5);
                case 3:
                  return fmt::format("Achter{}", static_cast<char>('a' + r % 26)) +
                         static_cast<char>('a' + r / 26 % 3);
                case 4:
                  return r % 2 ? "AMB" : "RES";
                case 5:
                  return kWijken[r % 2];
                default:
                  return r % 3 ? "JA" : "NEE";
              }
            });
  for (std::string_view column : {"Kenmerk", "Referentie", "Klant"}) {
    EXPECT_EQ(Attribute(d.mapping, column), nullptr) << column << "\n" << d.yaml;
  }
  EXPECT_NE(d.yaml.find("\"Kenmerk\": identifying: left out"), std::string::npos) << d.yaml;
  EXPECT_NE(d.yaml.find("\"Referentie\": identifying: left out"), std::string::npos) << d.yaml;
  EXPECT_NE(d.yaml.find("\"Klant\": too many different values"), std::string::npos) << d.yaml;
  EXPECT_EQ(d.yaml.find("7611"), std::string::npos) << d.yaml;
  EXPECT_EQ(d.yaml.find("2718281"), std::string::npos) << d.yaml;
  EXPECT_EQ(d.yaml.find("Achter"), std::string::npos) << d.yaml;
  ASSERT_NE(Attribute(d.mapping, "Soort"), nullptr) << d.yaml;
  ASSERT_NE(Attribute(d.mapping, "Wijknaam"), nullptr) << "a place, not a person's name";
  ASSERT_NE(Attribute(d.mapping, "Aanrijding"), nullptr) << "\"nr\" inside a word is no number";
}

TEST(MappingDraftTest, KeepsCodesClearOfTheRareValueThatHoldsAnIdentifier) {
  // 12 values in 2,000 (more than min_cell, too few to call the column identifying) hold a
  // postcode: the column stays a category, that value unlisted.
  Drafted d = Draft({"BSN", "Soort"}, 2000, [](size_t r, size_t c) -> std::string {
    if (c == 0) return Bsn(static_cast<uint32_t>(r));
    return r % 150 == 9 ? "NL7611QJ" : r % 2 ? "AMB" : "RES";
  });
  const AttributeSpec* soort = Attribute(d.mapping, "Soort");
  ASSERT_NE(soort, nullptr) << d.yaml;
  EXPECT_EQ(soort->codes.size(), 2u);
  EXPECT_EQ(d.yaml.find("7611"), std::string::npos) << d.yaml;
}

TEST(MappingDraftTest, RefusesAHeaderThatLooksLikeDataWithoutQuotingIt) {
  const std::string bsn = Bsn(1);
  absl::StatusOr<std::unique_ptr<MappingDrafter>> drafter =
      MappingDrafter::Create({"x", bsn, "12-03-2014"}, Options());
  ASSERT_FALSE(drafter.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(drafter.status()));
  EXPECT_NE(drafter.status().message().find("field 2"), std::string::npos);
  EXPECT_EQ(drafter.status().message().find(bsn), std::string::npos);
}

TEST(MappingDraftTest, RefusesAnExportWithoutIdentifiers) {
  absl::StatusOr<std::unique_ptr<MappingDrafter>> drafter =
      MappingDrafter::Create({"Jaar", "Kosten"}, Options());
  ASSERT_TRUE(drafter.ok());
  for (int i = 0; i < 20; ++i) (*drafter)->AddRecord({"2014", "12,50"});
  absl::StatusOr<std::string> yaml = (*drafter)->Draft(ExportDialect{});
  ASSERT_FALSE(yaml.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(yaml.status()));
}

TEST(SniffDialectTest, FindsDelimiterQuoteAndLineEnding) {
  ExportDialect semicolon = SniffDialect(
      "\xEF\xBB\xBF"
      "a;b;c\r\n1;\"x;y\";3\r\n4;5;6\r\n");
  EXPECT_EQ(semicolon.delimiter, ';');
  EXPECT_EQ(semicolon.quote, '"');
  EXPECT_TRUE(semicolon.crlf);
  ExportDialect tab = SniffDialect("a\tb\tc\n1\tsays \"hi\"\t3\n4\t5\t6\n7\t8");
  EXPECT_EQ(tab.delimiter, '\t');
  EXPECT_EQ(tab.quote, std::nullopt) << "a quote only inside fields: the export never quotes";
  EXPECT_FALSE(tab.crlf);
  ExportDialect comma = SniffDialect("\"a\",\"b\"\n\"1\",\"2|3\"\n");
  EXPECT_EQ(comma.delimiter, ',');
  ExportDialect pipe = SniffDialect("a|b,c|d\n1|2,5|3\n");
  EXPECT_EQ(pipe.delimiter, '|');
}

TEST(AttributeNameForTest, MakesHeadersIntoNames) {
  EXPECT_EQ(AttributeNameFor("Bedrag per maand"), "bedrag_per_maand");
  EXPECT_EQ(AttributeNameFor("BSN cliënt"), "bsn_cli_nt");
  EXPECT_EQ(AttributeNameFor("  (leeg) "), "leeg");
  EXPECT_EQ(AttributeNameFor("€"), "column");
}

class InitCommandTest : public ::testing::Test {
 protected:
  void WriteExport(const std::string& bytes) {
    std::ofstream out(dir_ / "export.csv", std::ios::binary);
    out << bytes;
  }
  InitOptions Options() {
    InitOptions o;
    o.input = dir_ / "export.csv";
    o.out = dir_ / "draft.yaml";
    o.progress = false;
    return o;
  }
  TempDir dir_;
};

TEST_F(InitCommandTest, DraftsAWindows1252ExportThatLoads) {
  // "cliënt" and "Crèche" in windows-1252: the file is not valid UTF-8.
  std::string csv = "BSN cli\xEBnt;Soort;Omschrijving\r\n";
  for (uint32_t i = 0; i < 40; ++i) {
    csv += Bsn(i) + (i % 2 ? ";KDV;Cr\xE8"
                             "che De Zon\r\n"
                           : ";BSO;Na schooltijd\r\n");
  }
  WriteExport(csv);
  absl::StatusOr<InitResult> result = DraftMappingFile(Options());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->encoding, "windows-1252");
  EXPECT_EQ(result->records, 40u);
  EXPECT_EQ(result->dataset, "export");
  absl::StatusOr<Mapping> mapping = LoadMapping(dir_ / "draft.yaml");
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  EXPECT_EQ(mapping->encoding, TextEncoding::kWindows1252);
  EXPECT_EQ(mapping->bsn_column, "BSN cliënt");
  EXPECT_EQ(mapping->csv.delimiter, ';');
  EXPECT_EQ(mapping->line_ending, "crlf");
}

TEST_F(InitCommandTest, KeepsAnExistingMappingUnlessForced) {
  std::string csv = "BSN,Jaar\n";
  for (uint32_t i = 0; i < 20; ++i) csv += Bsn(i) + ",2014\n";
  WriteExport(csv);
  { std::ofstream(dir_ / "draft.yaml") << "mine\n"; }
  InitOptions o = Options();
  o.dataset = "zorg";
  absl::StatusOr<InitResult> refused = DraftMappingFile(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsAlreadyExists(refused.status()));
  o.force = true;
  ASSERT_TRUE(DraftMappingFile(o).ok());
  absl::StatusOr<Mapping> mapping = LoadMapping(dir_ / "draft.yaml");
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  EXPECT_EQ(mapping->dataset, "zorg");
  o.dataset = "Zorg!";
  EXPECT_TRUE(absl::IsInvalidArgument(DraftMappingFile(o).status()));
}

TEST_F(InitCommandTest, ReadsUtf16WithByteOrderMark) {
  std::string text = "BSN\tJaar\r\n";
  for (uint32_t i = 0; i < 20; ++i) text += Bsn(i) + "\t2014\r\n";
  std::string utf16 = "\xFF\xFE";  // little-endian byte-order mark
  for (char c : text) {
    utf16 += c;
    utf16 += '\0';
  }
  WriteExport(utf16);
  absl::StatusOr<InitResult> result = DraftMappingFile(Options());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->encoding, "utf-16");
  absl::StatusOr<Mapping> mapping = LoadMapping(dir_ / "draft.yaml");
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  EXPECT_EQ(mapping->csv.delimiter, '\t');
  EXPECT_EQ(mapping->bsn_column, "BSN");
}

}  // namespace
}  // namespace koppel::agent
