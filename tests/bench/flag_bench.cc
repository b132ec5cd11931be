// Purpose-bound releases ("who else is involved", ARCHITECTURE section 5) against the least work
// they must do, measured in the same run.
//
// Person level: FlagResponder::Answer must re-key every asked token (one HMAC), seek it in the
// recipient's own dataset, and seek every delivered token in each asked flag's dataset. The
// answer is compared with exactly those HMACs (HmacSha256Key::Mac) and those seeks
// (LinkerStore::HasTokens with the same token lists), each timed on its own.
// Household level: the index is built once (in service: in the background when the covenant is
// opened) by parsing the whole register; HouseholdIndex::Build, on every core and on one, is
// compared with a parsing full scan of the register (RecordCursor + ParseStoredRecord, the store
// decrypting its files). A register batch committed later is queued by the responder
// (FlagResponder::BatchCommitted, on the ingest thread), compared with parsing that batch; its
// thread adds it to the index, and the first answer after it (which waits for that) needs no
// rebuild. With the index current,
// the answer is compared with the HMACs and the seeks of everyone in the asking households.
// Also printed: the index's heap (glibc's count, before and after the build) per person placed,
// and the time to drop it, the household lookups (HouseholdIndex::Family) inside the household
// answer, and the raw seeks with the tokens in key order (what sorting them first would save). Raw
// work and answers of one request run back to back, so that they find the same cache.
//
// The store is made directly from a synthetic population (LinkerStore::Commit of records sealed
// serialised, as the ingester stores them; batches of 10,000, the register with its
// adres_van/adres_tot dates), then flushed and compacted as a long-running linker would have it.
// Every answer is checked against the raw seeks' results, so a bench that measures nothing fails.
// scripts/bench-flags builds and runs this; see the README.
//
//   build/bin/flag_bench [--persons N] [--repeat R] [--tokens N] [--dir DIR]
#include <fmt/format.h>
#include <malloc.h>
#include <sodium.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/time/clock.h"
#include "core/hex.h"
#include "core/hmac.h"
#include "core/secret.h"
#include "koppel/v1/batch.pb.h"
#include "koppel/v1/linker.pb.h"
#include "linker/flag_responder.h"
#include "linker/household_index.h"
#include "linker/linker_store.h"
#include "linker/stored_record.h"
#include "policies/covenant.h"
#include "tests/bench/bench_tool.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;

constexpr char kCovenant[] = "bench";
constexpr char kRegister[] = "brp";
constexpr char kRecipient[] = "wijkteam";
constexpr char kPersonRelease[] = "who-else-involved";
constexpr char kHouseholdRelease[] = "who-else-in-household";
constexpr size_t kRecordsPerBatch = 10000;
constexpr size_t kRequests = 4;  // distinct requests per measurement, answered one after another

// The flag datasets and the share of the population each knows; a wijkteam client is known four
// times as often (at most 60%).
struct FlagDataset {
  const char* name;
  double share;
};
constexpr FlagDataset kFlagDatasets[] = {
    {"jeugdzorg", 0.05}, {"schuldhulp", 0.06}, {"politie", 0.08}, {"sociale_zaken", 0.10}};
constexpr size_t kFlags = std::size(kFlagDatasets);
constexpr double kClientShare = 0.02;  // persons the wijkteam knows

using bench::Check;
using bench::Die;
using bench::Grouped;

template <typename F>
double Seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string AsString(const Digest256& digest) {
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

// Heap memory in use now (glibc's count of allocated bytes, mmapped blocks included).
double HeapInUseMiB() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<double>(info.uordblks + info.hblkhd) / (1 << 20);
}

int Today() { return static_cast<int>(absl::ToUnixSeconds(absl::Now()) / (24 * 60 * 60)); }

// ---------------------------------------------------------------------------------------------
// The synthetic population.

struct Population {
  uint32_t persons = 0;
  uint32_t households = 0;
  std::vector<uint32_t> household;          // per person: where it lives (unless it left)
  std::vector<uint8_t> clients;             // per person: its wijkteam records
  std::vector<std::vector<uint8_t>> known;  // per flag dataset, per person: its records there
};

Population MakePopulation(uint32_t persons, std::mt19937_64& rng) {
  Population p;
  p.persons = persons;
  p.household.resize(persons);
  std::discrete_distribution<int> size({38, 33, 12, 12, 5});  // households of 1..5
  uint32_t h = 0;
  for (uint32_t person = 0; person < persons; ++h) {
    const int members = size(rng) + 1;
    for (int k = 0; k < members && person < persons; ++k) p.household[person++] = h;
  }
  p.households = h;
  std::uniform_real_distribution<double> u(0, 1);
  p.clients.resize(persons);
  for (uint8_t& c : p.clients) {
    if (u(rng) < kClientShare) c = u(rng) < 0.8 ? 1 : 2;
  }
  std::uniform_int_distribution<int> records(1, 3);
  for (const FlagDataset& d : kFlagDatasets) {
    std::vector<uint8_t> known(persons);
    const double client_share = std::min(0.6, 4 * d.share);
    for (uint32_t person = 0; person < persons; ++person) {
      if (u(rng) < (p.clients[person] != 0 ? client_share : d.share)) {
        known[person] = static_cast<uint8_t>(records(rng));
      }
    }
    p.known.push_back(std::move(known));
  }
  return p;
}

// The agents' tokens: what HMAC(K_covenant, identifier) gives, made from numbers instead of BSNs
// and addresses.
class AgentTokens {
 public:
  explicit AgentTokens(HmacSha256Key key) : key_(std::move(key)) {}
  std::string Person(uint32_t person) const { return Make('p', person); }
  std::string Address(uint32_t address) const { return Make('a', address); }

 private:
  std::string Make(char kind, uint32_t n) const {
    char in[5] = {kind};
    std::memcpy(in + 1, &n, 4);
    return AsString(key_.Mac(std::string_view(in, sizeof in)));
  }
  HmacSha256Key key_;
};

// ---------------------------------------------------------------------------------------------
// Writing the store as the ingester does: re-keyed tokens, records sealed with the data key, one
// synced commit with receipt and header per batch.

v1::BatchHeader Header(const std::string& dataset,
                       const std::vector<std::pair<std::string, v1::AttributeType>>& attributes,
                       bool has_address) {
  v1::BatchHeader header;
  header.set_dataset(dataset);
  header.set_covenant_id(kCovenant);
  header.set_covenant_version(1);
  header.set_agent("agent-" + dataset);
  header.set_token_scheme("koppel/v1/hmac");
  header.set_has_bsn(true);
  header.set_has_address(has_address);
  for (const auto& [name, type] : attributes) {
    v1::AttributeSchema* attribute = header.add_attributes();
    attribute->set_name(name);
    attribute->set_type(type);
  }
  return header;
}

class BatchWriter {
 public:
  BatchWriter(linker::LinkerStore* store, const Secret* data_key, v1::BatchHeader header)
      : store_(store), data_key_(data_key), header_(std::move(header)) {
    records_.reserve(kRecordsPerBatch);
  }

  void Add(const v1::Record& record) {
    if (records_.empty()) randombytes_buf(nonce_, 16);  // per batch, as the ingester does
    const uint64_t index = records_.size();
    for (int i = 0; i < 8; ++i) nonce_[16 + i] = static_cast<uint8_t>(index >> (8 * i));
    linker::StoredRecord stored;
    stored.token = record.bsn_token().empty() ? record.address_token() : record.bsn_token();
    stored.value = record.SerializeAsString();
    records_.push_back(std::move(stored));
    if (records_.size() == kRecordsPerBatch) Flush();
  }

  void Flush() {
    if (records_.empty()) return;
    uint8_t id[32];
    randombytes_buf(id, sizeof id);
    v1::Receipt receipt;
    receipt.set_batch_id(ToHex(std::span<const uint8_t>(id, sizeof id)));
    receipt.set_dataset(header_.dataset());
    receipt.set_covenant_id(kCovenant);
    receipt.set_sender(header_.agent());
    receipt.set_records_accepted(records_.size());
    Check(store_->Commit(receipt, header_, records_),
          "committing a " + header_.dataset() + " batch");
    last_ = records_;
    stored_ += records_.size();
    ++batches_;
    records_.clear();
  }

  uint64_t stored() const { return stored_; }
  const v1::BatchHeader& header() const { return header_; }
  const std::vector<linker::StoredRecord>& last() const {
    return last_;
  }  // the last batch committed
  uint64_t batches() const { return batches_; }

 private:
  linker::LinkerStore* store_;
  const Secret* data_key_;
  v1::BatchHeader header_;
  std::vector<linker::StoredRecord> records_, last_;
  uint8_t nonce_[24] = {};
  std::string plain_;
  uint64_t stored_ = 0, batches_ = 0;
};

v1::BatchHeader RegisterHeader() {
  return Header(kRegister,
                {{"wijk", v1::ATTRIBUTE_TYPE_CATEGORY},
                 {"adres_van", v1::ATTRIBUTE_TYPE_DATE},
                 {"adres_tot", v1::ATTRIBUTE_TYPE_DATE}},
                /*has_address=*/true);
}

v1::Record RegisterRecord(std::string person, std::string address, uint32_t wijk, int from,
                          int to /* 0: still there */) {
  v1::Record r;
  r.set_bsn_token(std::move(person));
  r.set_address_token(std::move(address));
  r.add_values()->set_code(wijk);
  r.add_values()->set_date_days(from);
  v1::Value* until = r.add_values();
  if (to != 0) until->set_date_days(to);
  return r;
}

// The register: everyone at its household's address since some day; 25% also at an earlier
// address before that; 2% left the municipality (only an ended record, placed nowhere today).
// Wijkteam and flag datasets: a record per person and record count drawn above.
void WriteStore(linker::LinkerStore* store, const Population& pop, const AgentTokens& agent,
                const HmacSha256Key& rekey, const Secret& data_key, int today,
                std::mt19937_64& rng) {
  auto rekeyed = [&](const std::string& token) { return AsString(rekey.Mac(token)); };
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<int> wijk(0, 11);
  auto days = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const auto t0 = std::chrono::steady_clock::now();

  BatchWriter brp(store, &data_key, RegisterHeader());
  for (uint32_t p = 0; p < pop.persons; ++p) {
    const std::string person = rekeyed(agent.Person(p));
    const uint32_t area = static_cast<uint32_t>(wijk(rng));
    if (u(rng) < 0.02) {
      const uint32_t was = static_cast<uint32_t>(days(0, static_cast<int>(pop.households) - 1));
      brp.Add(RegisterRecord(person, rekeyed(agent.Address(was)), area, today - days(2000, 8000),
                             today - days(1, 1999)));
      continue;
    }
    const int moved_in = today - days(1, 8000);
    brp.Add(RegisterRecord(person, rekeyed(agent.Address(pop.household[p])), area, moved_in, 0));
    if (u(rng) < 0.25) {  // an earlier address, outside the municipality's current households
      brp.Add(RegisterRecord(person, rekeyed(agent.Address(pop.households + p)), area,
                             moved_in - days(1, 5000), moved_in));
    }
  }
  brp.Flush();
  uint64_t records = brp.stored(), batches = brp.batches();

  auto write = [&](const std::string& dataset, const std::vector<uint8_t>& counts) {
    BatchWriter writer(
        store, &data_key,
        Header(dataset,
               {{"aanleiding", v1::ATTRIBUTE_TYPE_CATEGORY}, {"start", v1::ATTRIBUTE_TYPE_DATE}},
               /*has_address=*/false));
    uint32_t persons = 0;
    for (uint32_t p = 0; p < pop.persons; ++p) {
      if (counts[p] == 0) continue;
      ++persons;
      const std::string person = rekeyed(agent.Person(p));
      for (int k = 0; k < counts[p]; ++k) {
        v1::Record r;
        r.set_bsn_token(person);
        r.add_values()->set_code(static_cast<uint32_t>(wijk(rng)));
        r.add_values()->set_date_days(today - days(1, 3000));
        writer.Add(r);
      }
    }
    writer.Flush();
    records += writer.stored();
    batches += writer.batches();
    return fmt::format("{} {} ({} records)", dataset, Grouped(persons), Grouped(writer.stored()));
  };
  std::string summary = write(kRecipient, pop.clients);
  for (size_t d = 0; d < kFlags; ++d) summary += ", " + write(kFlagDatasets[d].name, pop.known[d]);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("persons known: {}\n", summary);
  fmt::print("stored {} records in {} synced batches in {:.1f} s ({} register records)\n",
             Grouped(records), Grouped(batches), took, Grouped(brp.stored()));
  std::fflush(stdout);
}

// Lets RocksDB finish flushing and compacting, as in a linker that keeps running, so that the
// measurement neither competes with background work nor sees a transient shape.
void Settle(const fs::path& db, const Secret& data_key) {
  absl::StatusOr<std::unique_ptr<linker::LinkerStore>> store = linker::LinkerStore::Open(db);
  if (!store.ok())
    Die("reopening the store to settle it: " + std::string(store.status().message()));
  Check((*store)->OpenCovenant(kCovenant, data_key), "opening the covenant's store");
  absl::StatusOr<linker::LinkerStore::Shape> shape = (*store)->Settle(kCovenant);
  if (!shape.ok()) Die("settling the store: " + std::string(shape.status().message()));
  fmt::print("store settled: {:.0f} MiB of SST files\n",
             static_cast<double>(shape->live_bytes) / (1 << 20));
}

// ---------------------------------------------------------------------------------------------
// The covenant: the wijkteam may ask four flags about its own clients, per person and per
// household (the register brp places people in households).

policy::Covenant MakeCovenant() {
  policy::Covenant c;
  c.id = kCovenant;
  c.version = 1;
  c.title = "flag benchmark";
  const absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  c.valid_from = today - 1;
  c.valid_until = today + 365;
  std::vector<std::string> datasets = {kRegister, kRecipient};
  for (const FlagDataset& d : kFlagDatasets) datasets.push_back(d.name);
  for (const std::string& dataset : datasets) {
    policy::CovenantParty party;
    party.name = "agent-" + dataset;
    party.organisation = dataset;
    party.roles = {"data_holder"};
    party.purpose = "benchmark";
    party.legal_basis = "benchmark";
    policy::DatasetGrant grant{dataset, {"bsn"}, {"aanleiding", "start"}};
    if (dataset == kRegister) {
      grant = policy::DatasetGrant{dataset, {"bsn", "address"}, {"wijk", "adres_van", "adres_tot"}};
    }
    party.datasets.emplace(dataset, std::move(grant));
    c.parties.emplace(party.name, std::move(party));
  }
  policy::PurposeBoundRelease release;
  release.name = kPersonRelease;
  release.recipient = std::string("agent-") + kRecipient;
  release.purpose = "one family, one plan";
  release.legal_basis = "benchmark";
  release.dataset = kRecipient;
  for (const FlagDataset& d : kFlagDatasets) {
    release.flags.push_back({std::string("known_at_") + d.name, d.name});
  }
  c.releases.push_back(release);
  release.name = kHouseholdRelease;
  release.unit = "household";
  release.family = policy::FamilyRegister{kRegister, "adres_van", "adres_tot"};
  c.releases.push_back(release);
  return c;
}

v1::AskFlagsRequest MakeRequest(const std::string& release, size_t flags,
                                const std::vector<std::string>& tokens) {
  v1::AskFlagsRequest request;
  request.set_covenant_id(kCovenant);
  request.set_release(release);
  for (size_t d = 0; d < flags; ++d) {
    request.add_flags(std::string("known_at_") + kFlagDatasets[d].name);
  }
  for (const std::string& token : tokens) request.add_tokens(token);
  return request;
}

// ---------------------------------------------------------------------------------------------
// Measurement.

// One request's agent tokens, and what the raw work finds for them.
struct Asked {
  std::vector<std::string> tokens;  // agent tokens, as the wijkteam sends them
  size_t clients = 0;               // of them wijkteam clients
  // Filled by the raw measurement:
  std::vector<bool> delivered;
  std::vector<std::vector<bool>> person_flags;     // [flag][delivered k]
  std::vector<std::vector<bool>> household_flags;  // [flag][delivered k]
  size_t family_tokens = 0;                        // household members looked up per flag
};

// The wijkteam's requests: up to `size` distinct clients each (the requests take turns through
// all clients), filled up with register persons it did not deliver, in random order.
std::vector<Asked> MakeRequests(const Population& pop, const AgentTokens& agent, size_t size,
                                std::mt19937_64& rng) {
  std::vector<uint32_t> clients, others;
  for (uint32_t p = 0; p < pop.persons; ++p) (pop.clients[p] != 0 ? clients : others).push_back(p);
  std::shuffle(clients.begin(), clients.end(), rng);
  std::shuffle(others.begin(), others.end(), rng);
  std::vector<Asked> requests(kRequests);
  const size_t from_clients = std::min(clients.size(), size);
  size_t next_client = 0, next_other = 0;
  for (Asked& asked : requests) {
    std::vector<uint32_t> persons;
    for (size_t i = 0; i < from_clients; ++i) {
      persons.push_back(clients[next_client++ % clients.size()]);
    }
    while (persons.size() < size) persons.push_back(others[next_other++ % others.size()]);
    std::shuffle(persons.begin(), persons.end(), rng);
    for (uint32_t p : persons) asked.tokens.push_back(agent.Person(p));
    asked.clients = from_clients;
  }
  return requests;
}

// What one run times; each is the sum over the kRequests requests, or one build or scan.
enum Timed : size_t {
  kHmac,                                     // HmacSha256Key::Mac of every asked token
  kSeekRecipient,                            // HasTokens of every asked token in the wijkteam
  kSeekFlag,                                 // + d: the delivered tokens in flag dataset d
  kSeekFamilyFlag = kSeekFlag + kFlags,      // + d: everyone in their households in dataset d
  kRawPerson = kSeekFamilyFlag + kFlags,     // + f: the raw work of a person answer, 2 or 4 flags
  kRawHousehold = kRawPerson + 2,            // + f: and of a household answer
  kAnswerPerson = kRawHousehold + 2,         // + f: FlagResponder::Answer
  kAnswerHousehold = kAnswerPerson + 2,      // + f: index cached
  kFamilyLookup = kAnswerHousehold + 2,      // HouseholdIndex::Family of the delivered tokens
  kSeeksInRequestOrder = kFamilyLookup + 1,  // wijkteam and 4 flag datasets, as asked
  kSeeksInKeyOrder,                          // the same tokens sorted first
  kPlainScan,                                // the register
  kDecryptingScan,
  kBuild,
  kFirstAnswer,  // household, 4 flags, one request, right after a register change
  kAddBatch,     // FlagResponder::BatchCommitted of a register batch (queues it)
  kParseBatch,   // parsing that batch's records
  kAgain,        // the same request once more, index cached
  kTimedCount
};
using RunTimes = std::array<double, kTimedCount>;
constexpr size_t kFlagCounts[2] = {2, kFlags};

// The least work of one answer (`flags` flags, person or household), returned as one time: the
// HMACs, the seeks in the recipient's dataset, and the seeks in the first `flags` flag datasets
// of the delivered tokens, or of everyone in their households (looking them up in the index is
// the responder's own work, not raw work: timed apart). The parts go into `t` for the 4-flag
// answers; what the seeks find is kept in `asked` to check the answers against.
double RawWork(const linker::LinkerStore& store, const HmacSha256Key& rekey,
               const linker::HouseholdIndex& index, size_t flags, bool household, Asked* asked,
               RunTimes* t) {
  std::vector<Digest256> digests(asked->tokens.size());
  const double hmac = Seconds([&] {
    for (size_t i = 0; i < digests.size(); ++i) digests[i] = rekey.Mac(asked->tokens[i]);
  });
  std::vector<std::string> rekeyed;
  rekeyed.reserve(digests.size());
  for (const Digest256& d : digests) rekeyed.push_back(AsString(d));
  const double recipient = Seconds([&] {
    asked->delivered = Check(store.HasTokens(kCovenant, kRecipient, rekeyed), "seeking tokens");
  });
  std::vector<std::string> own, lookup;
  std::vector<size_t> owner;  // index into own
  for (size_t i = 0; i < rekeyed.size(); ++i) {
    if (asked->delivered[i]) own.push_back(rekeyed[i]);
  }
  double family = 0;
  if (household) {
    family = Seconds([&] {
      for (size_t k = 0; k < own.size(); ++k) {
        for (std::string& member : index.Family(own[k])) {
          lookup.push_back(std::move(member));
          owner.push_back(k);
        }
      }
    });
    asked->family_tokens = lookup.size();
  } else {
    lookup = own;
    for (size_t k = 0; k < own.size(); ++k) owner.push_back(k);
  }
  std::vector<std::vector<bool>>& raised = household ? asked->household_flags : asked->person_flags;
  raised.resize(kFlags);
  double total = hmac + recipient;
  for (size_t d = 0; d < flags; ++d) {
    std::vector<bool> found;
    const double seeks = Seconds([&] {
      found = Check(store.HasTokens(kCovenant, kFlagDatasets[d].name, lookup), "seeking tokens");
    });
    total += seeks;
    raised[d].assign(own.size(), false);
    for (size_t j = 0; j < found.size(); ++j) {
      if (found[j]) raised[d][owner[j]] = true;
    }
    if (flags == kFlags) (*t)[(household ? kSeekFamilyFlag : kSeekFlag) + d] += seeks;
  }
  if (flags == kFlags && household) (*t)[kFamilyLookup] += family;
  if (flags == kFlags && !household) {
    (*t)[kHmac] += hmac;
    (*t)[kSeekRecipient] += recipient;
  }
  for (std::vector<std::string>* list : {&rekeyed, &own, &lookup}) {
    for (std::string& token : *list) sodium_memzero(token.data(), token.size());
  }
  return total;
}

// The seeks of a 4-flag person answer with the tokens as asked and sorted into key order first
// (what sorting them would save), back to back; which goes first alternates.
void SeekOrders(const linker::LinkerStore& store, const HmacSha256Key& rekey, const Asked& asked,
                bool sorted_first, RunTimes* t) {
  std::vector<std::string> all, own;
  for (size_t i = 0; i < asked.tokens.size(); ++i) {
    all.push_back(AsString(rekey.Mac(asked.tokens[i])));
    if (asked.delivered[i]) own.push_back(all.back());
  }
  std::vector<std::string> all_sorted = all, own_sorted = own;
  std::sort(all_sorted.begin(), all_sorted.end());
  std::sort(own_sorted.begin(), own_sorted.end());
  for (int pass = 0; pass < 2; ++pass) {
    const bool sorted = (pass == 0) == sorted_first;
    (*t)[sorted ? kSeeksInKeyOrder : kSeeksInRequestOrder] += Seconds([&] {
      Check(store.HasTokens(kCovenant, kRecipient, sorted ? all_sorted : all), "seeking tokens");
      for (const FlagDataset& d : kFlagDatasets) {
        Check(store.HasTokens(kCovenant, d.name, sorted ? own_sorted : own), "seeking tokens");
      }
    });
  }
  for (std::vector<std::string>* list : {&all, &own, &all_sorted, &own_sorted}) {
    for (std::string& token : *list) sodium_memzero(token.data(), token.size());
  }
}

// The response must say exactly what the raw seeks found.
void CheckAnswer(const v1::AskFlagsResponse& response, const Asked& asked, size_t flags,
                 bool household, const std::string& what) {
  if (static_cast<size_t>(response.answers_size()) != asked.tokens.size() ||
      static_cast<size_t>(response.flags_size()) != flags) {
    Die(what + ": the answer has the wrong shape");
  }
  size_t k = 0;
  for (size_t i = 0; i < asked.tokens.size(); ++i) {
    const v1::FlagAnswer& answer = response.answers(static_cast<int>(i));
    if (answer.delivered() != asked.delivered[i]) {
      Die(what + ": 'delivered' differs from the raw seek");
    }
    if (!answer.delivered()) continue;
    if (static_cast<size_t>(answer.flags_size()) != flags) Die(what + ": flags missing");
    for (size_t d = 0; d < flags; ++d) {
      const bool raw = household ? asked.household_flags[d][k] : asked.person_flags[d][k];
      if (answer.flags(static_cast<int>(d)) != raw) {
        Die(what + ": a flag differs from the raw seeks");
      }
    }
    ++k;
  }
}

// Reads the register once, as HouseholdIndex::Build must at least: every record, and with
// `decrypt` every record opened and parsed.
uint64_t ScanRegister(const linker::LinkerStore& store, bool decrypt, uint64_t* checksum) {
  uint64_t records = 0;
  v1::Record record;
  auto cursor = store.NewRecordCursor(kCovenant, kRegister);
  for (; cursor->Valid(); cursor->Next()) {
    ++records;
    *checksum += static_cast<unsigned char>(cursor->token()[0]) + cursor->value().size();
    if (!decrypt) continue;
    if (!linker::ParseStoredRecord(cursor->value(), &record).ok()) {
      Die("a register record does not open");
    }
    *checksum += static_cast<uint64_t>(record.values_size());
  }
  if (!cursor->status().ok()) Die("scanning the register: " + cursor->status().ToString());
  return records;
}

// A batch of the register arrives: people move into new addresses today. Committed, then handed
// to the responder as the ingester does; returns the time the responder took to add it and, in
// `parse`, the time to parse its records (the least adding must do).
double ChangeRegister(linker::LinkerStore* store, const linker::FlagResponder& responder,
                      const AgentTokens& agent, const HmacSha256Key& rekey, const Secret& data_key,
                      int today, uint32_t first_newcomer, double* parse) {
  BatchWriter writer(store, &data_key, RegisterHeader());
  for (uint32_t n = first_newcomer; n < first_newcomer + kRecordsPerBatch - 1; ++n) {
    writer.Add(RegisterRecord(AsString(rekey.Mac(agent.Person(n))),
                              AsString(rekey.Mac(agent.Address(n / 2))), 0, today, 0));
  }
  writer.Flush();
  *parse = Seconds([&] {
    v1::Record record;
    for (const linker::StoredRecord& stored : writer.last()) {
      if (!record.ParseFromString(stored.value)) Die("a register record does not parse");
    }
  });
  return Seconds([&] { responder.BatchCommitted(writer.header(), writer.last()); });
}

int Run(uint32_t persons, int repeat, size_t tokens, const fs::path& dir) {
  std::mt19937_64 rng(20140101);
  const int today = Today();
  const Secret link_key = Check(Secret::Random(32), "K_link");
  const Secret data_key = Check(Secret::Random(crypto_secretbox_KEYBYTES), "data key");
  const HmacSha256Key rekey = Check(HmacSha256Key::Create(link_key.span()), "re-key");
  const Secret covenant_key = Check(Secret::Random(32), "covenant key");
  const AgentTokens agent(Check(HmacSha256Key::Create(covenant_key.span()), "agent key"));

  const Population pop = MakePopulation(persons, rng);
  fmt::print(
      "making the store in {}: {} persons in {} households (1-5 persons), the register {} "
      "with adres_van/adres_tot\n",
      dir.string(), Grouped(pop.persons), Grouped(pop.households), kRegister);
  std::fflush(stdout);
  const fs::path db = dir / "db";
  {
    std::unique_ptr<linker::LinkerStore> store =
        Check(linker::LinkerStore::Open(db), "opening the store");
    Check(store->OpenCovenant(kCovenant, data_key), "opening the covenant's store");
    WriteStore(store.get(), pop, agent, rekey, data_key, today, rng);
  }
  Settle(db, data_key);
  std::unique_ptr<linker::LinkerStore> store =
      Check(linker::LinkerStore::Open(db), "reopening the store");
  Check(store->OpenCovenant(kCovenant, data_key), "opening the covenant's store");
  const policy::Covenant covenant = MakeCovenant();
  const policy::FamilyRegister& family = covenant.releases[1].family;
  linker::FlagResponder responder(&covenant, &rekey, &data_key, store.get());
  std::vector<Asked> requests = MakeRequests(pop, agent, tokens, rng);
  const std::string caller = std::string("agent-") + kRecipient;
  fmt::print(
      "{} requests of {} tokens each, {} of them wijkteam clients (the rest: register "
      "persons it did not deliver); best of {} runs\n",
      kRequests, Grouped(tokens), Grouped(requests[0].clients), repeat);
  std::fflush(stdout);

  // The index once on its own: what it holds in memory, and what dropping it costs (the
  // responder drops its old index when the register changed).
  {
    linker::HouseholdIndex::BuildOptions one_thread;
    one_thread.threads = 1;
    absl::StatusOr<linker::HouseholdIndex> index = absl::UnknownError("not built");
    const double build_one = Seconds([&] {
      index = linker::HouseholdIndex::Build(*store, kCovenant, family, data_key, today, one_thread);
    });
    Check(index.status(), "building the household index");
    index = absl::UnknownError("dropped");
    const double heap_before = HeapInUseMiB();
    const double build = Seconds(
        [&] { index = linker::HouseholdIndex::Build(*store, kCovenant, family, data_key, today); });
    Check(index.status(), "building the household index");
    const double heap = HeapInUseMiB() - heap_before;
    const size_t placed = index->persons();
    const double per_person = static_cast<double>(std::max<size_t>(placed, 1));
    const size_t bytes = index->bytes();
    const double drop = Seconds([&] { index = absl::UnknownError("dropped"); });
    fmt::print(
        "household index: {} persons placed today; built in {:.3f} s on {} cores ({:.3f} s on "
        "one), {:.1f} MiB of heap = {:.1f} bytes per person (its arrays: {:.1f}), dropped in "
        "{:.3f} s\n",
        Grouped(placed), build, std::thread::hardware_concurrency(), build_one, heap,
        heap * (1 << 20) / per_person, static_cast<double>(bytes) / per_person, drop);
  }
  // The responder builds its index in the background when started (as the linker does when it
  // opens the covenant); the first answer waits for it.
  {
    absl::StatusOr<v1::AskFlagsResponse> response;
    const v1::AskFlagsRequest first = MakeRequest(kHouseholdRelease, kFlags, requests[0].tokens);
    const double s = Seconds([&] {
      responder.StartBuilding();
      response = responder.Answer(caller, first);
    });
    Check(response.status(), "the first household answer");
    fmt::print("the responder's first household answer, started with its build: {:.3f} s\n", s);
  }
  std::fflush(stdout);

  RunTimes best;
  best.fill(1e300);
  uint64_t register_records = 0, checksum = 0;
  size_t family_tokens = 0, delivered = 0;
  for (int run = 1; run <= repeat; ++run) {
    RunTimes t{};
    // A register batch arrives (people move in); the responder adds it to its index.
    t[kAddBatch] = ChangeRegister(
        store.get(), responder, agent, rekey, data_key, today,
        pop.persons + static_cast<uint32_t>(static_cast<size_t>(run) * kRecordsPerBatch),
        &t[kParseBatch]);
    absl::StatusOr<v1::AskFlagsResponse> response;
    const v1::AskFlagsRequest first = MakeRequest(kHouseholdRelease, kFlags, requests[0].tokens);
    t[kFirstAnswer] = Seconds([&] { response = responder.Answer(caller, first); });
    Check(response.status(), "the first household answer");
    const v1::AskFlagsResponse first_response = *response;
    t[kAgain] = Seconds([&] { response = responder.Answer(caller, first); });
    Check(response.status(), "the second household answer");

    // The bench's own index (for the raw work's household members) is built after the first
    // answer, so that the responder's rebuild has the memory to itself, as in service.
    t[kPlainScan] = Seconds([&] { ScanRegister(*store, false, &checksum); });
    t[kDecryptingScan] = Seconds([&] { register_records = ScanRegister(*store, true, &checksum); });
    absl::StatusOr<linker::HouseholdIndex> index = absl::UnknownError("not built");
    t[kBuild] = Seconds(
        [&] { index = linker::HouseholdIndex::Build(*store, kCovenant, family, data_key, today); });
    Check(index.status(), "building the household index");

    // Each answer and its raw work back to back, so that they find the same cache; which goes
    // first alternates between runs (the raw work in run 1, to check the answers against it).
    family_tokens = 0;
    delivered = 0;
    const bool raw_first = run % 2 == 1;
    for (Asked& asked : requests) {
      for (bool household : {false, true}) {
        for (size_t f = 0; f < 2; ++f) {
          const v1::AskFlagsRequest request = MakeRequest(
              household ? kHouseholdRelease : kPersonRelease, kFlagCounts[f], asked.tokens);
          double raw = 0, answer = 0;
          for (int pass = 0; pass < 2; ++pass) {
            if ((pass == 0) == raw_first) {
              raw = RawWork(*store, rekey, *index, kFlagCounts[f], household, &asked, &t);
            } else {
              answer = Seconds([&] { response = responder.Answer(caller, request); });
              Check(response.status(), "answering");
            }
          }
          t[(household ? kRawHousehold : kRawPerson) + f] += raw;
          t[(household ? kAnswerHousehold : kAnswerPerson) + f] += answer;
          if (run == 1) {
            CheckAnswer(*response, asked, kFlagCounts[f], household,
                        household ? "household answer" : "person answer");
          }
        }
      }
      if (run == 1 && &asked == &requests[0]) {
        CheckAnswer(first_response, asked, kFlags, true, "first household answer");
      }
      SeekOrders(*store, rekey, asked, !raw_first, &t);
      family_tokens += asked.family_tokens;
      for (bool b : asked.delivered) delivered += b ? 1 : 0;
    }
    const double n = static_cast<double>(kRequests);
    fmt::print(
        "run {}: first household answer after a register batch {:.3f} s, register parsing "
        "scan {:.3f} s, index build {:.3f} s; per request, raw/answer, person 4 flags "
        "{:.1f}/{:.1f} ms, household 4 flags {:.1f}/{:.1f} ms (checksum {:x})\n",
        run, t[kFirstAnswer], t[kDecryptingScan], t[kBuild], 1e3 * t[kRawPerson + 1] / n,
        1e3 * t[kAnswerPerson + 1] / n, 1e3 * t[kRawHousehold + 1] / n,
        1e3 * t[kAnswerHousehold + 1] / n, checksum & 0xffff);
    std::fflush(stdout);
    for (size_t i = 0; i < kTimedCount; ++i) best[i] = std::min(best[i], t[i]);
  }

  const RunTimes& b = best;
  const double n = static_cast<double>(kRequests);
  const double asked_tokens = n * static_cast<double>(tokens);
  auto ms = [&](double seconds) { return 1e3 * seconds / n; };  // per request
  fmt::print(
      "\nper request of {} tokens: {} delivered by the wijkteam (looked up in each flag dataset), "
      "{} household members of those (household release); best of {} runs\n",
      Grouped(tokens), Grouped(delivered / kRequests), Grouped(family_tokens / kRequests), repeat);
  fmt::print("raw HMAC re-key of every token (HmacSha256Key::Mac) {:8.2f} ms {:9.0f} tokens/s\n",
             ms(b[kHmac]), asked_tokens / b[kHmac]);
  fmt::print("raw seeks of every token in {} (HasTokens)    {:8.2f} ms {:9.0f} seeks/s\n",
             kRecipient, ms(b[kSeekRecipient]), asked_tokens / b[kSeekRecipient]);
  for (size_t d = 0; d < kFlags; ++d) {
    fmt::print("raw seeks in {:<13}: delivered {:7.2f} ms, household members {:7.2f} ms\n",
               kFlagDatasets[d].name, ms(b[kSeekFlag + d]), ms(b[kSeekFamilyFlag + d]));
  }
  for (bool household : {false, true}) {
    fmt::print("{}\n", household ? "household release (index cached):" : "person release:");
    for (size_t f = 0; f < 2; ++f) {
      const double raw = b[(household ? kRawHousehold : kRawPerson) + f];
      const double answer = b[(household ? kAnswerHousehold : kAnswerPerson) + f];
      fmt::print(
          "  {} flags: raw HMAC + seeks {:7.2f} ms; Answer {:7.2f} ms = {:5.1f} answers/s, "
          "{:7.0f} tokens/s -> {:.2f}x raw ({:.0f}% of raw throughput)\n",
          kFlagCounts[f], ms(raw), ms(answer), n / answer, asked_tokens / answer, answer / raw,
          100 * raw / answer);
    }
  }
  fmt::print(
      "  (of the household answer: HouseholdIndex::Family of the delivered tokens {:.2f} ms)\n",
      ms(b[kFamilyLookup]));
  fmt::print(
      "seeks of a 4-flag person answer with the tokens in key order: {:.2f} ms, as asked {:.2f} ms "
      "-> {:.2f}x\n",
      ms(b[kSeeksInKeyOrder]), ms(b[kSeeksInRequestOrder]),
      b[kSeeksInKeyOrder] / b[kSeeksInRequestOrder]);
  fmt::print("household index build, {} register records:\n", Grouped(register_records));
  fmt::print(
      "  register scan {:.3f} s; parsing scan (RecordCursor + ParseStoredRecord) {:.3f} s, "
      "{:.0f} records/s\n",
      b[kPlainScan], b[kDecryptingScan],
      static_cast<double>(register_records) / b[kDecryptingScan]);
  fmt::print("  HouseholdIndex::Build {:.3f} s -> {:.2f}x the parsing scan\n", b[kBuild],
             b[kBuild] / b[kDecryptingScan]);
  fmt::print(
      "  a register batch of {} records queued by the responder (BatchCommitted, on the ingest "
      "thread) {:.2f} ms -> {:.2f}x parsing it ({:.2f} ms)\n",
      Grouped(kRecordsPerBatch - 1), 1e3 * b[kAddBatch], b[kAddBatch] / b[kParseBatch],
      1e3 * b[kParseBatch]);
  fmt::print(
      "  first Answer after a register batch (one request, 4 flags; waits for the batch being "
      "added) {:.3f} s -> {:.2f}x the same request right after ({:.3f} s)\n",
      b[kFirstAnswer], b[kFirstAnswer] / b[kAgain], b[kAgain]);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  fmt::print("peak RSS {:.0f} MiB (the bench holds two indexes at a time)\n",
             static_cast<double>(usage.ru_maxrss) / 1024.0);  // KiB on Linux
  return 0;
}

int Main(int argc, char** argv) {
  bench::ThisProgram().name = "flag_bench";
  CLI::App app{
      "flag_bench: purpose-bound release answers (FlagResponder) against the raw HMACs "
      "and RocksDB seeks they need, and the household index build against a parsing "
      "scan of the register, measured in the same run. Run through scripts/bench-flags."};
  uint32_t persons = 200000;
  int repeat = 5;
  size_t tokens = static_cast<size_t>(linker::FlagResponder::kMaxTokensPerCall);
  std::string dir;
  app.add_option("--persons", persons, "register persons")
      ->capture_default_str()
      ->check(CLI::Range(1000u, 100000000u));
  app.add_option("--repeat", repeat, "runs of each measurement; the best counts")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--tokens", tokens, "tokens per request")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, static_cast<size_t>(linker::FlagResponder::kMaxTokensPerCall)));
  app.add_option("--dir", dir,
                 "where to make the store (default: a new temporary directory, "
                 "removed at the end); must not exist yet");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (sodium_init() < 0) Die("libsodium does not initialise");
  fs::path work;
  if (dir.empty()) {
    std::string templ = (fs::temp_directory_path() / "koppel-flag-bench-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) Die("cannot make a temporary directory");
    work = templ;
    bench::ThisProgram().remove_on_exit = work;
  } else {
    work = dir;
    if (fs::exists(work)) Die(work.string() + " exists; give a new directory for the store");
    fs::create_directories(work);
  }
  const int rc = Run(persons, repeat, tokens, work);
  const fs::path& scratch = bench::ThisProgram().remove_on_exit;
  if (!scratch.empty()) fs::remove_all(scratch);
  return rc;
}

}  // namespace
}  // namespace koppel

int main(int argc, char** argv) { return koppel::Main(argc, argv); }
