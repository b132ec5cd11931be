// One synthetic household: its members, the addresses they lived at, and every fact the ten
// data holders record about them (a benefit, a care year, an offence...). A household is
// generated, written to all exports and folded into the study before the next one starts.
#ifndef KOPPEL_SYNTH_HOUSEHOLD_H_
#define KOPPEL_SYNTH_HOUSEHOLD_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/civil_time.h"
#include "core/civil_date.h"
#include "synth/calibration.h"
#include "synth/rng.h"

namespace koppel::synth {

inline constexpr absl::CivilDay kReferenceDate(2014, 12, 31);
inline constexpr absl::CivilDay kPeriodStart(2012, 1, 1);

enum class Dataset {
  kBrp,
  kSocialeZaken,
  kUwv,
  kJeugdzorg,
  kZorg,
  kPolitie,
  kWoningcorporatie,
  kSchuldhulp,
  kInkomen,
  kWijkteam,
  kCount,
};
inline constexpr size_t kDatasetCount = static_cast<size_t>(Dataset::kCount);

struct Address {
  std::string postcode;  // canonical, e.g. 7607AB
  int number = 1;
  char letter = '\0';
  std::string addition;   // canonical, upper case
  std::string canonical;  // POSTCODE|NUMBER|LETTER|ADDITION
  std::string street;
  int wijk = 0;
};

struct Person {
  std::string bsn;  // canonical 9 digits
  absl::CivilDay birth;
  bool adult() const { return AgeOn(birth, kReferenceDate) >= 18; }
};

// One record of one data holder. `code` is the mapping's code (bijstand, youth_ambulant,
// crime_property, the wijk code for BRP rows...), never the export's own spelling.
struct Fact {
  Dataset dataset = Dataset::kBrp;
  int member = -1;  // index into Household::members; -1 for address-only facts
  int address = 0;  // index into Household::addresses (BRP, housing corporation)
  std::string_view code;
  absl::CivilDay start;
  std::optional<absl::CivilDay> end;  // BRP: first day at the next address; others: last day
  int year = 0;
  std::optional<int64_t> cents;
};

struct Household {
  uint64_t index = 0;
  int wijk = 0;
  std::vector<Person> members;
  std::vector<Address> addresses;  // [0] is the address on the reference date
  std::vector<Fact> facts;
  std::array<bool, kProblemCount> problems = {};
};

// Moves of `member` in 2014 as the register counts them: address periods starting in 2014,
// except one starting on the member's date of birth.
int MovesIn2014(const Household& household, int member);

// Uniform over [lo, hi], both inclusive; lo when hi <= lo.
absl::CivilDay RandomDate(Rng& rng, absl::CivilDay lo, absl::CivilDay hi);

// Hands out BSNs that are valid, unique over the run and scattered over the number space.
class BsnAllocator {
 public:
  // `from_top`: hand out the stems from the other end, so that two allocators with the same
  // seed (the population's, and the persons outside the municipality of the dialect register)
  // never meet while together they hand out fewer than 10^8 stems.
  explicit BsnAllocator(uint64_t seed, bool from_top = false);
  std::string Next();

 private:
  uint64_t counter_ = 0;
  uint64_t offset_;
  bool from_top_;
};

// Hands out unique addresses in postcode order; `kind` 0 for addresses households live at on
// the reference date, 1 for earlier addresses (disjoint letter ranges keep them apart).
class AddressAllocator {
 public:
  explicit AddressAllocator(int kind) : kind_(kind) {}
  Address Next();

 private:
  int kind_;
  uint64_t counter_ = 0;
};

// Draws households from the calibrated latent risk model (docs/synth.md).
class HouseholdGenerator {
 public:
  explicit HouseholdGenerator(uint64_t seed) : bsns_(seed), current_(0), previous_(1) {}
  Household Generate(uint64_t index, int wijk, bool family, Rng& rng);

 private:
  void MakeMembers(bool family, Household* h, Rng& rng);
  void DrawProblems(bool family, Household* h, Rng& rng);
  void MakeAddressHistory(Household* h, Rng& rng);
  void MakeBenefitFacts(Household* h, Rng& rng);
  void MakeCareFacts(Household* h, Rng& rng);
  void MakeOtherFacts(Household* h, Rng& rng);

  BsnAllocator bsns_;
  AddressAllocator current_, previous_;
};

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_HOUSEHOLD_H_
