// Who lives with whom on a day, built from register records sealed in a real linker store as the
// ingester stores them: the address period is [from, to), slots are read from each batch's own
// header, and the index hands back exactly the re-keyed person tokens the records carry.
#include "linker/household_index.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/hex.h"
#include "linker/linker_store.h"
#include "linker/stored_record.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

constexpr char kCovenantId[] = "almelo-mpg";
constexpr int kDay = 20000;  // 2024-10-04
constexpr int kUnset = INT_MIN;
constexpr int kBirthday = kDay - 12000;  // a date no period may be read from
const std::vector<std::string> kBrpAttributes = {"geboortedatum", "wijk", "adres_van", "adres_tot"};

// One register record: re-keyed tokens (empty: not carried) and its address period.
struct Row {
  std::string person;
  std::string address;
  int from = kUnset;
  int to = kUnset;
  size_t values = SIZE_MAX;  // how many of the header's values the record carries (default all)
};

class HouseholdIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(EnsureSodium().ok());
    data_key_ = NewKey();
    absl::StatusOr<std::unique_ptr<linker::LinkerStore>> store =
        linker::LinkerStore::Open(dir_ / "db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    for (const char* covenant : {kCovenantId, "other-covenant"}) {
      ASSERT_TRUE(store_->OpenCovenant(covenant, *data_key_).ok());
    }
  }

  static std::unique_ptr<Secret> NewKey() {
    absl::StatusOr<Secret> key = Secret::Random(crypto_secretbox_KEYBYTES);
    EXPECT_TRUE(key.ok()) << key.status();
    return std::make_unique<Secret>(std::move(*key));
  }

  // The re-keyed token standing for a person or address name, made on first use.
  const std::string& T(const std::string& name) {
    auto it = tokens_.find(name);
    if (it == tokens_.end()) {
      std::string token(32, '\0');
      randombytes_buf(token.data(), token.size());
      names_[token] = name;
      it = tokens_.emplace(name, token).first;
    }
    return it->second;
  }

  // Tokens back to names, sorted, duplicates kept; a token no test made shows as "?<hex>".
  std::vector<std::string> NamesOf(const std::vector<std::string>& tokens) const {
    std::vector<std::string> out;
    for (const std::string& token : tokens) {
      auto it = names_.find(token);
      out.push_back(it != names_.end()
                        ? it->second
                        : "?" + ToHex(std::span(reinterpret_cast<const uint8_t*>(token.data()),
                                                token.size())));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::vector<std::string> FamilyOf(const linker::HouseholdIndex& index, const std::string& name) {
    return NamesOf(index.Family(T(name)));
  }

  // One committed batch, as the ingester hands it to the flag responder.
  struct Delivered {
    v1::BatchHeader header;
    std::vector<linker::StoredRecord> records;
  };

  // Commits one batch as the ingester does: header with `attributes` (dates for the period
  // and birthday, a category for wijk), records serialised (`garbage`: one that does not parse).
  Delivered Deliver(const std::vector<std::string>& attributes, const std::vector<Row>& rows,
                    const std::string& dataset = "brp", const std::string& covenant = kCovenantId,
                    bool garbage = false) {
    std::vector<uint8_t> id(32);
    randombytes_buf(id.data(), id.size());
    v1::BatchHeader header;
    header.set_dataset(dataset);
    header.set_covenant_id(covenant);
    header.set_covenant_version(1);
    header.set_agent("agent-" + dataset);
    header.set_token_scheme("koppel/v1/hmac");
    header.set_run_id(ToHex(id));  // each delivery a run of its own, as a seal run is
    header.set_has_bsn(true);
    header.set_has_address(true);
    for (const std::string& name : attributes) {
      v1::AttributeSchema* attribute = header.add_attributes();
      attribute->set_name(name);
      attribute->set_type(name == "wijk" ? v1::ATTRIBUTE_TYPE_CATEGORY : v1::ATTRIBUTE_TYPE_DATE);
    }
    std::vector<linker::StoredRecord> records;
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& row = rows[i];
      v1::Record record;
      record.set_bsn_token(row.person);
      record.set_address_token(row.address);
      for (const std::string& name : attributes) {
        if (static_cast<size_t>(record.values_size()) == row.values) break;
        v1::Value* value = record.add_values();
        if (name == "wijk") {
          value->set_code(3);
        } else if (name == "geboortedatum") {
          value->set_date_days(kBirthday);
        } else if (name == "adres_van" && row.from != kUnset) {
          value->set_date_days(row.from);
        } else if (name == "adres_tot" && row.to != kUnset) {
          value->set_date_days(row.to);
        }
      }
      linker::StoredRecord stored;
      stored.token = row.person.empty() ? row.address : row.person;
      stored.value = garbage ? std::string("\xff\xff\xff", 3) : record.SerializeAsString();
      records.push_back(std::move(stored));
    }
    v1::Receipt receipt;
    receipt.set_batch_id(ToHex(id));
    receipt.set_dataset(dataset);
    receipt.set_covenant_id(covenant);
    receipt.set_sender("agent-" + dataset);
    receipt.set_records_accepted(records.size());
    absl::StatusOr<v1::Receipt> committed = store_->Commit(receipt, header, records);
    EXPECT_TRUE(committed.ok()) << committed.status();
    return {header, records};
  }

  // `index` with a committed batch added as the flag responder adds it.
  linker::HouseholdIndex Added(const linker::HouseholdIndex& index, const Delivered& batch) {
    absl::StatusOr<std::vector<linker::RegisterEntry>> entries =
        linker::HouseholdIndex::ReadBatch(batch.header, batch.records, family_, *data_key_);
    EXPECT_TRUE(entries.ok()) << entries.status();
    return index.With(entries.ok() ? *entries : std::vector<linker::RegisterEntry>{},
                      batch.records.size());
  }

  // Both indexes give every name the test made the same family.
  void ExpectSameFamilies(const linker::HouseholdIndex& a, const linker::HouseholdIndex& b) {
    EXPECT_EQ(a.persons(), b.persons());
    EXPECT_EQ(a.day(), b.day());
    for (const auto& [name, token] : tokens_) {
      SCOPED_TRACE(name);
      EXPECT_EQ(NamesOf(a.Family(token)), NamesOf(b.Family(token)));
    }
  }

  absl::StatusOr<linker::HouseholdIndex> Build(int day = kDay) {
    return linker::HouseholdIndex::Build(*store_, kCovenantId, family_, *data_key_, day);
  }

  test::TempDir dir_;
  std::unique_ptr<Secret> data_key_;
  std::unique_ptr<linker::LinkerStore> store_;
  policy::FamilyRegister family_{"brp", "adres_van", "adres_tot"};
  std::map<std::string, std::string> tokens_;  // name -> token
  std::map<std::string, std::string> names_;   // token -> name
};

using Names = std::vector<std::string>;

TEST_F(HouseholdIndexTest, AddressPeriodIsHalfOpen) {
  Deliver(kBrpAttributes, {
                              {T("starts-today"), T("home"), kDay, kUnset},
                              {T("left-today"), T("home"), kDay - 300, kDay},
                              {T("open-ended"), T("home"), kDay - 300, kUnset},
                              {T("leaves-tomorrow"), T("home"), kDay - 300, kDay + 1},
                              {T("arrives-tomorrow"), T("home"), kDay + 1, kUnset},
                              {T("no-from"), T("home"), kUnset, kDay + 100},
                              {T("long-gone"), T("home"), kDay - 300, kDay - 100},
                          });
  absl::StatusOr<linker::HouseholdIndex> index = Build();
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->day(), kDay);
  EXPECT_EQ(index->persons(), 3u);
  const Names home = {"leaves-tomorrow", "open-ended", "starts-today"};
  for (const char* member : {"starts-today", "open-ended", "leaves-tomorrow"}) {
    SCOPED_TRACE(member);
    EXPECT_EQ(FamilyOf(*index, member), home);
  }
  for (const char* outside : {"left-today", "arrives-tomorrow", "no-from", "long-gone"}) {
    SCOPED_TRACE(outside);
    EXPECT_EQ(FamilyOf(*index, outside), Names{outside});
  }

  // A day later the household has changed on both ends.
  index = Build(kDay + 1);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->day(), kDay + 1);
  EXPECT_EQ(FamilyOf(*index, "arrives-tomorrow"),
            (Names{"arrives-tomorrow", "open-ended", "starts-today"}));
  EXPECT_EQ(FamilyOf(*index, "leaves-tomorrow"), Names{"leaves-tomorrow"});
  EXPECT_EQ(FamilyOf(*index, "no-from"), Names{"no-from"});

  // The day before, only those who had already arrived.
  index = Build(kDay - 1);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(FamilyOf(*index, "left-today"), (Names{"leaves-tomorrow", "left-today", "open-ended"}));
  EXPECT_EQ(FamilyOf(*index, "starts-today"), Names{"starts-today"});
}

TEST_F(HouseholdIndexTest, FamilyIsTheHouseholdOrJustThePerson) {
  Deliver(kBrpAttributes, {
                              {T("mother"), T("home-1"), kDay - 900, kUnset},
                              {T("child"), T("home-1"), kDay - 400, kUnset},
                              {T("father"), T("home-1"), kDay - 900, kUnset},
                              {T("neighbour"), T("home-2"), kDay - 50, kUnset},
                          });
  absl::StatusOr<linker::HouseholdIndex> index = Build();
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->persons(), 4u);
  for (const char* member : {"mother", "child", "father"}) {
    SCOPED_TRACE(member);
    EXPECT_EQ(FamilyOf(*index, member), (Names{"child", "father", "mother"}));
  }
  EXPECT_EQ(FamilyOf(*index, "neighbour"), Names{"neighbour"});
  // Not in the register at all: just itself, not an empty family and not someone else's.
  EXPECT_EQ(FamilyOf(*index, "stranger"), Names{"stranger"});
  // A token the index does not know comes back unchanged, byte for byte.
  const std::string unknown = std::string("\0\xff", 2) + std::string(30, 'u');
  EXPECT_EQ(index->Family(unknown), std::vector<std::string>{unknown});
}

TEST_F(HouseholdIndexTest, PersonAtTwoAddressesBelongsToBoth) {
  Deliver(kBrpAttributes, {
                              {T("co-parented"), T("mothers-home"), kDay - 700, kUnset},
                              {T("mother"), T("mothers-home"), kDay - 900, kUnset},
                              {T("father"), T("fathers-home"), kDay - 900, kUnset},
                              {T("half-sister"), T("fathers-home"), kDay - 300, kUnset},
                          });
  // Registered at the father's too (a second delivery, with two overlapping records there),
  // and an earlier address that no longer counts.
  Deliver(kBrpAttributes, {
                              {T("co-parented"), T("fathers-home"), kDay - 200, kDay + 10},
                              {T("co-parented"), T("fathers-home"), kDay - 150, kDay + 10},
                              {T("co-parented"), T("old-home"), kDay - 2000, kDay - 700},
                          });
  absl::StatusOr<linker::HouseholdIndex> index = Build();
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->persons(), 4u);
  EXPECT_EQ(FamilyOf(*index, "co-parented"),
            (Names{"co-parented", "father", "half-sister", "mother"}));
  EXPECT_EQ(FamilyOf(*index, "mother"), (Names{"co-parented", "mother"}));
  EXPECT_EQ(FamilyOf(*index, "father"), (Names{"co-parented", "father", "half-sister"}));
  EXPECT_EQ(FamilyOf(*index, "half-sister"), (Names{"co-parented", "father", "half-sister"}));

  // Once the father's period ends, and before it began, the child is in one household.
  index = Build(kDay + 10);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(FamilyOf(*index, "co-parented"), (Names{"co-parented", "mother"}));
  EXPECT_EQ(FamilyOf(*index, "father"), (Names{"father", "half-sister"}));
  index = Build(kDay - 250);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(FamilyOf(*index, "co-parented"), (Names{"co-parented", "mother"}));
  EXPECT_EQ(FamilyOf(*index, "father"), (Names{"father", "half-sister"}));
}

TEST_F(HouseholdIndexTest, ReadsThePeriodFromEachBatchsOwnHeader) {
  // The usual order.
  Deliver(kBrpAttributes, {
                              {T("a"), T("home"), kDay - 100, kUnset},
                              {T("b"), T("home"), kDay - 100, kDay - 1},
                          });
  // Period first and reversed: read with the first batch's slots, "c" would have no value at
  // slot 3 and "d" (no from, a past to) would look like an arrival.
  Deliver({"adres_tot", "adres_van", "wijk"}, {
                                                  {T("c"), T("home"), kDay - 100, kDay + 100},
                                                  {T("d"), T("home"), kUnset, kDay - 10},
                                                  {T("e"), T("home"), kDay - 100, kDay},
                                              });
  // Only a from field: everyone there is still there.
  Deliver({"wijk", "adres_van"}, {
                                     {T("f"), T("home"), kDay - 5, kUnset},
                                     {T("g"), T("home"), kDay + 5, kUnset},
                                 });
  // The birthday where the others keep the period start.
  Deliver({"wijk", "adres_tot", "geboortedatum", "adres_van"},
          {
              {T("h"), T("home"), kDay + 1, kUnset},
              {T("i"), T("home"), kDay - 1, kDay + 1},
          });
  absl::StatusOr<linker::HouseholdIndex> index = Build();
  ASSERT_TRUE(index.ok()) << index.status();
  const Names home = {"a", "c", "f", "i"};
  for (const char* member : {"a", "c", "f", "i"}) {
    SCOPED_TRACE(member);
    EXPECT_EQ(FamilyOf(*index, member), home);
  }
  for (const char* outside : {"b", "d", "e", "g", "h"}) {
    SCOPED_TRACE(outside);
    EXPECT_EQ(FamilyOf(*index, outside), Names{outside});
  }
  EXPECT_EQ(index->persons(), home.size());
}

TEST_F(HouseholdIndexTest, BatchWithoutThePeriodPlacesNoOne) {
  Deliver(kBrpAttributes, {{T("resident"), T("home"), kDay - 100, kUnset}});
  // Same people, same address, but no period delivered: they are not placed anywhere.
  Deliver({"geboortedatum", "wijk"}, {
                                         {T("no-period-1"), T("home"), kDay - 100, kUnset},
                                         {T("no-period-2"), T("home"), kDay - 100, kUnset},
                                     });
  // An end without a start says nothing about being there on the day either.
  Deliver({"adres_tot", "wijk"}, {
                                     {T("only-to"), T("home"), kUnset, kDay + 100},
                                     {T("only-past-to"), T("home"), kUnset, kDay - 10},
                                 });
  absl::StatusOr<linker::HouseholdIndex> index = Build();
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->persons(), 1u);
  EXPECT_EQ(FamilyOf(*index, "resident"), Names{"resident"});
  for (const char* unplaced : {"no-period-1", "no-period-2", "only-to", "only-past-to"}) {
    SCOPED_TRACE(unplaced);
    EXPECT_EQ(FamilyOf(*index, unplaced), Names{unplaced});
  }
}

TEST_F(HouseholdIndexTest, OnlyTheCovenantsRegisterCounts) {
  Deliver(kBrpAttributes, {{T("resident"), T("home"), kDay - 100, kUnset}});
  // Same attribute names in another dataset, and the register of another covenant.
  Deliver(kBrpAttributes, {{T("client"), T("home"), kDay - 100, kUnset}}, "wijkteam");
  Deliver(kBrpAttributes, {{T("elsewhere"), T("home"), kDay - 100, kUnset}}, "brp",
          "other-covenant");
  absl::StatusOr<linker::HouseholdIndex> index = Build();
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->persons(), 1u);
  EXPECT_EQ(FamilyOf(*index, "resident"), Names{"resident"});
  EXPECT_EQ(FamilyOf(*index, "client"), Names{"client"});
  EXPECT_EQ(FamilyOf(*index, "elsewhere"), Names{"elsewhere"});
}

TEST_F(HouseholdIndexTest, EmptyRegisterIsNotFound) {
  absl::StatusOr<linker::HouseholdIndex> index = Build();
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.status().code(), absl::StatusCode::kNotFound) << index.status();
  EXPECT_NE(index.status().message().find("brp"), std::string::npos) << index.status();
  EXPECT_NE(index.status().message().find(kCovenantId), std::string::npos) << index.status();

  // Records elsewhere, and a register batch with no records, do not make a register.
  Deliver(kBrpAttributes, {{T("client"), T("home"), kDay - 100, kUnset}}, "wijkteam");
  Deliver(kBrpAttributes, {{T("elsewhere"), T("home"), kDay - 100, kUnset}}, "brp",
          "other-covenant");
  Deliver(kBrpAttributes, {});
  index = Build();
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.status().code(), absl::StatusCode::kNotFound) << index.status();

  // A register whose records place no one that day is not missing: everyone is just themselves.
  Deliver(kBrpAttributes, {{T("moved-out"), T("home"), kDay - 100, kDay - 50}});
  index = Build();
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->persons(), 0u);
  EXPECT_EQ(FamilyOf(*index, "moved-out"), Names{"moved-out"});
}

TEST_F(HouseholdIndexTest, RecordNotOpeningIsDataLoss) {
  Deliver(kBrpAttributes, {{T("resident"), T("home"), kDay - 100, kUnset}});
  ASSERT_TRUE(Build().ok());

  // (A store opened with another key is refused by LinkerStore::OpenCovenant already.)
  // One record among good ones that does not open (parse): the build and the batch both fail.
  Deliver(kBrpAttributes, {{T("resident"), T("home"), kDay - 100, kUnset}});
  const Delivered bad = Deliver(kBrpAttributes, {{T("intruder"), T("home"), kDay - 100, kUnset}},
                                "brp", kCovenantId, /*garbage=*/true);
  absl::StatusOr<linker::HouseholdIndex> index = Build();
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.status().code(), absl::StatusCode::kDataLoss) << index.status();
  absl::StatusOr<std::vector<linker::RegisterEntry>> entries =
      linker::HouseholdIndex::ReadBatch(bad.header, bad.records, family_, *data_key_);
  ASSERT_FALSE(entries.ok());
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kDataLoss) << entries.status();
  for (const absl::Status& status : {index.status(), entries.status()}) {
    const std::string message(status.message());
    for (const auto& [name, token] : tokens_) {
      EXPECT_EQ(message.find(token), std::string::npos) << name;
      EXPECT_EQ(message.find(
                    ToHex(std::span(reinterpret_cast<const uint8_t*>(token.data()), token.size()))),
                std::string::npos)
          << name;
    }
  }
}

TEST_F(HouseholdIndexTest, HoldsOnlyTheReKeyedPersonTokens) {
  std::vector<Row> rows;
  std::set<std::string> persons;
  for (int household = 0; household < 20; ++household) {
    const std::string address = "address-" + std::to_string(household);
    for (int member = 0; member <= household % 4; ++member) {
      const std::string person =
          "person-" + std::to_string(household) + "-" + std::to_string(member);
      rows.push_back({T(person), T(address), kDay - 10 * (member + 1), kUnset});
      persons.insert(person);
    }
  }
  // A record with only an address, and records with only a person: none places anyone, no
  // empty token joins a household, and no one without an address shares one.
  rows.push_back({"", T("address-0"), kDay - 10, kUnset});
  rows.push_back({T("homeless"), "", kDay - 10, kUnset});
  rows.push_back({T("also-homeless"), "", kDay - 10, kUnset});
  Deliver(kBrpAttributes, rows);
  absl::StatusOr<linker::HouseholdIndex> index = Build();
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->persons(), persons.size());

  std::set<std::string> seen;
  for (const std::string& person : persons) {
    for (const std::string& token : index->Family(T(person))) {
      EXPECT_EQ(token.size(), 32u);
      auto name = names_.find(token);
      ASSERT_NE(name, names_.end()) << "Family returned a token no record carried";
      EXPECT_TRUE(persons.contains(name->second)) << name->second << " is not a person";
      seen.insert(name->second);
    }
  }
  EXPECT_EQ(seen, persons);
  EXPECT_EQ(FamilyOf(*index, "person-3-0"),
            (Names{"person-3-0", "person-3-1", "person-3-2", "person-3-3"}));
  EXPECT_EQ(FamilyOf(*index, "person-0-0"), Names{"person-0-0"});
  EXPECT_EQ(FamilyOf(*index, "homeless"), Names{"homeless"});
  EXPECT_EQ(FamilyOf(*index, "also-homeless"), Names{"also-homeless"});
}

// The ingester stores a record carrying fewer values than its header lists, and the analysis
// engine reads a missing trailing value as unset: an open period, not a record to skip.
TEST_F(HouseholdIndexTest, MissingTrailingToIsAnOpenPeriod) {
  Deliver(kBrpAttributes, {{T("full"), T("home"), kDay - 10, kUnset}});
  Deliver({"adres_van", "adres_tot"}, {{T("short"), T("home"), kDay - 10, kUnset, 1}});
  absl::StatusOr<linker::HouseholdIndex> index = Build();
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(FamilyOf(*index, "full"), (Names{"full", "short"}));
  EXPECT_EQ(FamilyOf(*index, "short"), (Names{"full", "short"}));
}

// A read error must not end the scan as if the register ended there: a store whose register
// blocks fail their checksum is an error, not "holds no records yet" or a partial index.
TEST_F(HouseholdIndexTest, UnreadableRegisterIsAnErrorNotAnEmptyRegister) {
  std::vector<Row> rows;
  for (int i = 0; i < 200; ++i) {
    rows.push_back({T("person-" + std::to_string(i)), T("home"), kDay - 10, kUnset});
  }
  Deliver(kBrpAttributes, rows);
  // Reopening writes the log to a table file; then damage every table file's first block.
  store_.reset();
  {
    absl::StatusOr<std::unique_ptr<linker::LinkerStore>> reopened =
        linker::LinkerStore::Open(dir_ / "db");
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    ASSERT_TRUE((*reopened)->OpenCovenant(kCovenantId, *data_key_).ok());
  }
  int tables = 0;
  for (const auto& file : std::filesystem::recursive_directory_iterator(dir_ / "db")) {
    if (file.path().extension() != ".sst") continue;
    ++tables;
    std::string bytes = test::ReadFile(file.path());
    // Past the 4096-byte header every file of the encrypted store begins with.
    constexpr size_t kDamageAt = 4096 + 2000;
    ASSERT_GT(bytes.size(), kDamageAt + 100);
    for (size_t i = kDamageAt; i < kDamageAt + 100; ++i)
      bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
    test::WriteFile(file.path(), bytes);
  }
  ASSERT_GT(tables, 0);
  absl::StatusOr<std::unique_ptr<linker::LinkerStore>> store =
      linker::LinkerStore::Open(dir_ / "db");
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = std::move(*store);
  const absl::Status opened = store_->OpenCovenant(kCovenantId, *data_key_);
  if (!opened.ok()) {  // the damage is found on opening already: nothing to build from
    EXPECT_NE(opened.code(), absl::StatusCode::kNotFound) << opened;
    return;
  }
  ASSERT_FALSE(store_->Scan(kCovenantId, "brp", [](std::string_view, std::string_view) {}).ok());

  absl::StatusOr<linker::HouseholdIndex> index = Build();
  ASSERT_FALSE(index.ok()) << index->persons() << " persons placed from a damaged register";
  EXPECT_NE(index.status().code(), absl::StatusCode::kNotFound) << index.status();
}

// Adding batches one by one as they are committed gives the index a full build over all of them
// gives: moves in and out, a person at two addresses, one placed twice at the same address,
// records that place no one, and a batch with no period at all.
TEST_F(HouseholdIndexTest, BatchesAddedEqualAFullBuild) {
  const Delivered first =
      Deliver(kBrpAttributes, {
                                  {T("mother"), T("home-1"), kDay - 900, kUnset},
                                  {T("father"), T("home-1"), kDay - 900, kUnset},
                                  {T("lodger"), T("home-2"), kDay - 30, kUnset},
                                  {T("left"), T("home-2"), kDay - 300, kDay - 1},
                              });
  absl::StatusOr<linker::HouseholdIndex> index = Build();
  ASSERT_TRUE(index.ok()) << index.status();
  const Delivered second =
      Deliver(kBrpAttributes,
              {
                  {T("child"), T("home-1"), kDay - 1, kUnset},       // joins a household of layer 1
                  {T("mother"), T("home-1"), kDay - 500, kUnset},    // the same placement again
                  {T("lodger"), T("home-3"), kDay - 10, kDay + 10},  // a second address
                  {T("newcomer"), T("home-4"), kDay, kUnset},        // a household of one
                  {T("not-yet"), T("home-4"), kDay + 1, kUnset},
                  {"", T("home-4"), kDay - 10, kUnset},
              });
  const Delivered third = Deliver({"wijk", "geboortedatum"}, {{T("no-period"), T("home-4")}});
  const Delivered fourth =
      Deliver({"adres_tot", "wijk", "adres_van"}, {{T("partner"), T("home-3"), kDay - 5, kUnset}});
  linker::HouseholdIndex added = *index;
  for (const Delivered* batch : {&second, &third, &fourth}) added = Added(added, *batch);
  absl::StatusOr<linker::HouseholdIndex> full = Build();
  ASSERT_TRUE(full.ok()) << full.status();
  ExpectSameFamilies(added, *full);
  EXPECT_EQ(added.register_records(), full->register_records());
  EXPECT_EQ(FamilyOf(added, "lodger"), (Names{"lodger", "partner"}));
  EXPECT_EQ(FamilyOf(added, "mother"), (Names{"child", "father", "mother"}));
  EXPECT_EQ(FamilyOf(added, "newcomer"), Names{"newcomer"});

  // From an empty register on, batch by batch, as a linker that starts before the deliveries.
  linker::HouseholdIndex from_empty = linker::HouseholdIndex::Empty(kDay);
  EXPECT_EQ(from_empty.register_records(), 0u);
  for (const Delivered* batch : {&first, &second, &third, &fourth}) {
    from_empty = Added(from_empty, *batch);
  }
  ExpectSameFamilies(from_empty, *full);
  (void)first;
}

// Many batches, so that layers are made and merged: after each, the index equals a full build.
TEST_F(HouseholdIndexTest, ManyBatchesMergeIntoTheSameIndex) {
  std::mt19937 rng(14);
  linker::HouseholdIndex added = linker::HouseholdIndex::Empty(kDay);
  size_t most_layers = 0;
  for (int batch = 0; batch < 24; ++batch) {
    std::vector<Row> rows;
    const int size = batch % 5 == 4 ? 120 : 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < size; ++i) {
      const int from = kDay - 50 + static_cast<int>(rng() % 60);
      rows.push_back({T("person-" + std::to_string(rng() % 150)),
                      T("address-" + std::to_string(rng() % 40)), from,
                      rng() % 3 == 0 ? from + static_cast<int>(rng() % 80) : kUnset});
    }
    added = Added(added, Deliver(kBrpAttributes, rows));
    most_layers = std::max(most_layers, added.layers());
    absl::StatusOr<linker::HouseholdIndex> full = Build();
    ASSERT_TRUE(full.ok()) << full.status();
    SCOPED_TRACE(batch);
    ExpectSameFamilies(added, *full);
  }
  EXPECT_GT(most_layers, 1u);
  EXPECT_LE(added.layers(), 5u);
}

// The build scans token ranges on several threads; any number of them gives the same index.
TEST_F(HouseholdIndexTest, ThreadsDoNotChangeTheIndex) {
  std::vector<Row> rows;
  for (int i = 0; i < 600; ++i) {
    rows.push_back({T("person-" + std::to_string(i)), T("address-" + std::to_string(i % 250)),
                    kDay - 10, i % 7 == 0 ? kDay - 1 : kUnset});
    if (i % 50 == 0) rows.push_back({T("person-" + std::to_string(i)), T("address-x"), kDay - 5});
  }
  Deliver(kBrpAttributes, rows);
  linker::HouseholdIndex::BuildOptions one;
  one.threads = 1;
  absl::StatusOr<linker::HouseholdIndex> single =
      linker::HouseholdIndex::Build(*store_, kCovenantId, family_, *data_key_, kDay, one);
  ASSERT_TRUE(single.ok()) << single.status();
  for (int threads : {2, 3, 8}) {
    SCOPED_TRACE(threads);
    linker::HouseholdIndex::BuildOptions options;
    options.threads = threads;
    absl::StatusOr<linker::HouseholdIndex> index =
        linker::HouseholdIndex::Build(*store_, kCovenantId, family_, *data_key_, kDay, options);
    ASSERT_TRUE(index.ok()) << index.status();
    ExpectSameFamilies(*index, *single);
  }
  // Every seventh moved out yesterday, but 0 and 350 are at address-x too.
  EXPECT_EQ(single->persons(), 600u - 86u + 2u);
  // address-50 (50, 300, 550) and address-x (every fiftieth: 300 and 550 among them).
  EXPECT_EQ(FamilyOf(*single, "person-50").size(), 12u);
}

TEST_F(HouseholdIndexTest, CancelledBuildStops) {
  Deliver(kBrpAttributes, {{T("a"), T("home"), kDay - 10, kUnset}});
  std::atomic<bool> cancel{true};
  linker::HouseholdIndex::BuildOptions options;
  options.cancel = &cancel;
  std::vector<Row> rows;
  for (int i = 0; i < 3000; ++i) rows.push_back({T("p" + std::to_string(i)), T("home"), kDay - 1});
  Deliver(kBrpAttributes, rows);
  absl::StatusOr<linker::HouseholdIndex> index =
      linker::HouseholdIndex::Build(*store_, kCovenantId, family_, *data_key_, kDay, options);
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.status().code(), absl::StatusCode::kCancelled) << index.status();
}

TEST_F(HouseholdIndexTest, EmptyRegisterIsOkWhenAsked) {
  linker::HouseholdIndex::BuildOptions options;
  options.empty_register_is_ok = true;
  absl::StatusOr<linker::HouseholdIndex> index =
      linker::HouseholdIndex::Build(*store_, kCovenantId, family_, *data_key_, kDay, options);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->register_records(), 0u);
  EXPECT_EQ(index->persons(), 0u);
  EXPECT_EQ(FamilyOf(*index, "anyone"), Names{"anyone"});
}

}  // namespace
}  // namespace koppel
