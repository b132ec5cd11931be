// Calendar dates (proleptic Gregorian): validity, conversion to and from the day count batches
// carry (days since 1970-01-01), ages, and writing them in the patterns of docs/agent.md
// ("dd-mm-yyyy", "yyyymmdd", "d/m/yyyy", ...). Reading an export's dates is DateFormat's job
// (date_format.h); the yyyy-mm-dd of koppel's own files (covenants, analysis specs, mapping
// files) is read by ParseIsoDay into an absl::CivilDay.
#ifndef KOPPEL_CORE_CIVIL_DATE_H_
#define KOPPEL_CORE_CIVIL_DATE_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/time/civil_time.h"

namespace koppel {

bool IsLeapYear(int year);
int DaysInMonth(int year, int month);
bool IsValidDate(int year, int month, int day);

// Days since 1970-01-01 (negative before), proleptic Gregorian, of a valid date. Takes plain
// numbers so that the export reader (date_format.h) counts the days of every field it reads
// without building an absl::CivilDay.
int DaysFromCivil(int year, int month, int day);

// The day count batches carry, of `day` and back.
int DaysSinceEpoch(absl::CivilDay day);
absl::CivilDay DayFromDays(int days);

// Completed years of age on `on`.
int AgeOn(absl::CivilDay birth, absl::CivilDay on);

// The same day `years` later (earlier when negative); 29 February becomes 1 March in a year
// that is not a leap year. Cost-benefit windows are years relative to a household's start.
absl::CivilDay AddYears(absl::CivilDay day, int years);

// Writes year/month/day in a pattern of dd, d, mm, m, yyyy and literal characters. The
// numbers are not checked, so an impossible date (31-02-2013) can be written on purpose.
std::string FormatDate(int year, int month, int day, std::string_view pattern);
std::string FormatDate(absl::CivilDay day, std::string_view pattern);

// ISO 8601, yyyy-mm-dd.
std::string IsoDate(absl::CivilDay day);

// `text` as exactly yyyy-mm-dd (four, two and two digits) naming a date in the years
// first_year..last_year; nullopt otherwise. Callers word their own error. The default is the
// years exports are read in (specs and mappings); covenants take any four-digit year, 0001..9999.
std::optional<absl::CivilDay> ParseIsoDay(std::string_view text, int first_year = 1900,
                                          int last_year = 2100);

}  // namespace koppel

#endif  // KOPPEL_CORE_CIVIL_DATE_H_
