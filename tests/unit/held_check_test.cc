// The agent's side of a linker restored from a backup (agents/held_check.h): receipts of
// batches the linker no longer holds move to receipts.orphaned/, kept, and their batches count
// as undelivered again. Against an in-process linker stand-in that answers CheckHeld only.
#include "agents/held_check.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "absl/synchronization/mutex.h"
#include "agents/outbox.h"
#include "tests/testing/temp_dir.h"

namespace koppel::agent {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::string BatchId(int n) { return fmt::format("{:064x}", n); }

// Holds the batches in `held`; records every request.
class FakeLinker final : public v1::LinkerService::Service {
 public:
  explicit FakeLinker(std::set<std::string> held) : held_(std::move(held)) {}
  grpc::Status CheckHeld(grpc::ServerContext*, const v1::CheckHeldRequest* request,
                         v1::CheckHeldResponse* response) override {
    absl::MutexLock lock(&mutex_);
    requests_.push_back(*request);
    for (const std::string& id : request->batch_ids()) {
      if (!held_.contains(id)) response->add_not_held(id);
    }
    return grpc::Status::OK;
  }
  std::vector<v1::CheckHeldRequest> requests() {
    absl::MutexLock lock(&mutex_);
    return requests_;
  }

 private:
  const std::set<std::string> held_;
  absl::Mutex mutex_;
  std::vector<v1::CheckHeldRequest> requests_ ABSL_GUARDED_BY(mutex_);
};

class HeldCheckTest : public ::testing::Test {
 protected:
  // An outbox with one completed run of `batches` batches of dataset uwv, all delivered.
  Outbox MakeDeliveredOutbox(int batches) {
    absl::StatusOr<Outbox> outbox = Outbox::Open(dir_ / "outbox");
    EXPECT_TRUE(outbox.ok()) << outbox.status();
    nlohmann::json ids = nlohmann::json::array();
    for (int i = 0; i < batches; ++i) {
      const std::string id = BatchId(i);
      ids.push_back(id);
      test::WriteFile(outbox->BatchPath(id), "sealed");
      v1::Receipt receipt;
      receipt.set_batch_id(id);
      receipt.set_dataset("uwv");
      receipt.set_covenant_id("c1");
      EXPECT_TRUE(outbox->WriteReceipt(receipt).ok());
    }
    nlohmann::json manifest = {{"run_id", "r1"}, {"dataset", "uwv"}, {"batches", ids}};
    EXPECT_TRUE(outbox->WriteManifest("r1", manifest.dump()).ok());
    return *std::move(outbox);
  }

  absl::StatusOr<HeldCheck> Check(Outbox& outbox, grpc::Service* linker, int page_size) {
    grpc::ServerBuilder builder;
    builder.RegisterService(linker);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    v1::LinkerService::Stub stub(server->InProcessChannel(grpc::ChannelArguments()));
    absl::StatusOr<HeldCheck> check = OrphanUnheldReceipts(outbox, stub, page_size);
    server->Shutdown();
    return check;
  }

  TempDir dir_;
};

TEST_F(HeldCheckTest, OrphansTheReceiptsOfWhatTheLinkerLostAndAsksInPages) {
  Outbox outbox = MakeDeliveredOutbox(5);
  FakeLinker linker({BatchId(0), BatchId(2), BatchId(4)});
  absl::StatusOr<HeldCheck> check = Check(outbox, &linker, 2);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->receipts_checked, 5u);
  EXPECT_EQ(check->calls, 3u);
  EXPECT_EQ(check->resend, (std::vector<std::string>{BatchId(1), BatchId(3)}));
  EXPECT_TRUE(check->lost.empty());
  ASSERT_EQ(linker.requests().size(), 3u);
  for (const v1::CheckHeldRequest& r : linker.requests()) {
    EXPECT_EQ(r.covenant_id(), "c1");
    EXPECT_EQ(r.dataset(), "uwv");
    EXPECT_LE(r.batch_ids_size(), 2);
  }
  // Kept aside, and the batches are undelivered again, in run order.
  EXPECT_TRUE(fs::exists(dir_ / "outbox/receipts.orphaned" / (BatchId(1) + ".receipt")));
  EXPECT_TRUE(fs::exists(dir_ / "outbox/receipts.orphaned" / (BatchId(3) + ".receipt")));
  EXPECT_FALSE(fs::exists(outbox.ReceiptPath(BatchId(1))));
  absl::StatusOr<std::vector<std::string>> undelivered = outbox.Undelivered();
  ASSERT_TRUE(undelivered.ok());
  EXPECT_EQ(*undelivered, (std::vector<std::string>{BatchId(1), BatchId(3)}));
  absl::StatusOr<std::vector<v1::Receipt>> delivered = outbox.DeliveredReceipts();
  ASSERT_TRUE(delivered.ok());
  EXPECT_EQ(delivered->size(), 3u);
}

TEST_F(HeldCheckTest, AReceiptOrphanedTwiceKeepsBoth) {
  Outbox outbox = MakeDeliveredOutbox(1);
  const std::string first = test::ReadFile(outbox.ReceiptPath(BatchId(0)));
  absl::StatusOr<fs::path> moved = outbox.OrphanReceipt(BatchId(0));
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, dir_ / "outbox/receipts.orphaned" / (BatchId(0) + ".receipt"));
  v1::Receipt again;
  again.set_batch_id(BatchId(0));
  again.set_dataset("uwv");
  again.set_covenant_id("c1");
  again.set_records_accepted(7);
  ASSERT_TRUE(outbox.WriteReceipt(again).ok());
  moved = outbox.OrphanReceipt(BatchId(0));
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, dir_ / "outbox/receipts.orphaned" / (BatchId(0) + ".2.receipt"));
  EXPECT_EQ(test::ReadFile(dir_ / "outbox/receipts.orphaned" / (BatchId(0) + ".receipt")), first);
  EXPECT_EQ(test::ReadFile(*moved), again.SerializeAsString());
}

TEST_F(HeldCheckTest, ABatchGoneFromTheOutboxKeepsItsReceiptAndIsNamed) {
  Outbox outbox = MakeDeliveredOutbox(2);
  fs::remove(outbox.BatchPath(BatchId(1)));
  FakeLinker linker({});
  absl::StatusOr<HeldCheck> check = Check(outbox, &linker, 10);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->resend, std::vector<std::string>{BatchId(0)});
  EXPECT_EQ(check->lost, std::vector<std::string>{BatchId(1)});
  EXPECT_TRUE(fs::exists(outbox.ReceiptPath(BatchId(1))));
}

TEST_F(HeldCheckTest, ALinkerWithoutCheckHeldChangesNothing) {
  Outbox outbox = MakeDeliveredOutbox(2);
  v1::LinkerService::Service old_linker;  // answers UNIMPLEMENTED
  absl::StatusOr<HeldCheck> check = Check(outbox, &old_linker, 10);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->linker_cannot_check);
  EXPECT_TRUE(check->resend.empty());
  EXPECT_FALSE(fs::exists(dir_ / "outbox/receipts.orphaned"));
  absl::StatusOr<std::vector<std::string>> undelivered = outbox.Undelivered();
  ASSERT_TRUE(undelivered.ok());
  EXPECT_TRUE(undelivered->empty());
}

TEST_F(HeldCheckTest, NoReceiptsNoCall) {
  absl::StatusOr<Outbox> outbox = Outbox::Open(dir_ / "outbox");
  ASSERT_TRUE(outbox.ok());
  FakeLinker linker({});
  absl::StatusOr<HeldCheck> check = Check(*outbox, &linker, 10);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->calls, 0u);
  EXPECT_TRUE(linker.requests().empty());
}

}  // namespace
}  // namespace koppel::agent
