// Refusals as data: the rule a status carries survives the way to a gRPC status and back, so a
// client reads it from the error details; statuses without one stay as they are.
#include "core/refusal.h"

#include <gtest/gtest.h>

#include "core/tls.h"
#include "google/rpc/status.pb.h"

namespace koppel {
namespace {

TEST(RefusalTest, TheStableRuleLeavesOutNamesAndPositions) {
  EXPECT_EQ(RuleOfKeyPath("parties[research-unit].roles"), "parties.roles");
  EXPECT_EQ(RuleOfKeyPath("parties[agent-brp].datasets[brp].fields"), "parties.datasets.fields");
  EXPECT_EQ(RuleOfKeyPath("analysis.disclosure.max_releases"), "analysis.disclosure.max_releases");
  EXPECT_EQ(RuleOfKeyPath("a[b[c]].d"), "a.d");
}

TEST(RefusalTest, ACovenantRuleNamesTheCovenantAndTheKey) {
  const absl::Status refused =
      WithCovenantRule(absl::PermissionDeniedError("covenant c v2: no (rule: parties[x].roles)"),
                       "parties[x].roles", "c", 2);
  std::optional<v1::Refusal> refusal = RefusalOf(refused);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->rule(), "parties.roles");
  EXPECT_EQ(refusal->covenant_id(), "c");
  EXPECT_EQ(refusal->covenant_version(), 2u);
  EXPECT_EQ(refusal->covenant_key(), "parties[x].roles");
  EXPECT_EQ(RefusalRule(refused), "parties.roles");
  EXPECT_EQ(DescribeRefusal(*refusal), "rule parties.roles (parties[x].roles) of covenant c v2");
  EXPECT_EQ(refused.message(), "covenant c v2: no (rule: parties[x].roles)");
}

TEST(RefusalTest, TheRefusalCrossesTheWireInTheErrorDetails) {
  const absl::Status refused =
      WithServiceRule(absl::ResourceExhaustedError("'a' has used 10 of its 10 OPRF evaluations"),
                      "oprf_quota", "c");
  const grpc::Status wire = ToGrpcStatus(refused);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(wire.error_message(), refused.message());
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(wire.error_details()));
  EXPECT_EQ(details.code(), static_cast<int32_t>(absl::StatusCode::kResourceExhausted));
  ASSERT_EQ(details.details_size(), 1);
  EXPECT_TRUE(details.details(0).Is<v1::Refusal>());
  EXPECT_EQ(details.details(0).type_url(), kRefusalTypeUrl);

  const absl::Status back = FromGrpcStatus(wire);
  EXPECT_EQ(back.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(back.message(), refused.message());
  ASSERT_TRUE(RefusalOf(back).has_value());
  EXPECT_EQ(RefusalOf(back)->rule(), "oprf_quota");
  EXPECT_EQ(RefusalOf(back)->covenant_id(), "c");
}

TEST(RefusalTest, AStatusWithoutARefusalHasNoDetails) {
  const absl::Status failed = absl::UnavailableError("the linker cannot write its audit log");
  EXPECT_FALSE(RefusalOf(failed).has_value());
  EXPECT_EQ(RefusalRule(failed), "");
  const grpc::Status wire = ToGrpcStatus(failed);
  EXPECT_TRUE(wire.error_details().empty());
  EXPECT_FALSE(RefusalOf(FromGrpcStatus(wire)).has_value());
  EXPECT_TRUE(WithServiceRule(absl::OkStatus(), "party_name").ok());
}

TEST(RefusalTest, GarbledDetailsAreIgnored) {
  const absl::Status back =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "no", "\xff\xff garbage"));
  EXPECT_EQ(back.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(RefusalOf(back).has_value());
}

TEST(RefusalTest, ARewordedStatusKeepsTheRefusal) {
  const absl::Status refused =
      WithServiceRule(absl::PermissionDeniedError("not bound"), "covenant_binding", "c");
  const absl::Status reworded =
      WithRefusalOf(absl::PermissionDeniedError("the linker refused: not bound"), refused);
  EXPECT_EQ(RefusalRule(reworded), "covenant_binding");
}

}  // namespace
}  // namespace koppel
