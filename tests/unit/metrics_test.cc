// The metrics registry's text exposition format (escaping, cumulative histogram buckets, +Inf),
// the label values services may use, and the HTTP endpoint that serves the text.
#include "core/metrics.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "core/metrics_server.h"
#include "core/refusal.h"
#include "core/service_metrics.h"
#include "koppel/v1/linker.grpc.pb.h"
#include "tests/testing/http_get.h"

namespace koppel {
namespace {

TEST(MetricsRegistryTest, RendersCountersAndGaugesWithEscapedLabelValues) {
  MetricsRegistry registry;
  registry.GetCounter("koppel_things_total", "Things\ncounted \\ here", {{"rule", "a\"b\\c\nd"}})
      .Increment(3);
  registry.GetGauge("koppel_level", "A level").Set(2.5);
  EXPECT_EQ(registry.RenderText(),
            "# HELP koppel_level A level\n"
            "# TYPE koppel_level gauge\n"
            "koppel_level 2.5\n"
            "# HELP koppel_things_total Things\\ncounted \\\\ here\n"
            "# TYPE koppel_things_total counter\n"
            "koppel_things_total{rule=\"a\\\"b\\\\c\\nd\"} 3\n");
}

TEST(MetricsRegistryTest, TheSameLabelsGiveTheSameSample) {
  MetricsRegistry registry;
  Counter& a = registry.GetCounter("c_total", "c", {{"x", "1"}});
  Counter& b = registry.GetCounter("c_total", "c", {{"x", "1"}});
  Counter& other = registry.GetCounter("c_total", "c", {{"x", "2"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &other);
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulativeAndEndInInf) {
  MetricsRegistry registry;
  constexpr double kBounds[] = {0.25, 1, 10};
  Histogram& h = registry.GetHistogram("koppel_seconds", "Latency", kBounds, {{"method", "Query"}});
  for (double v : {0.125, 0.25, 0.5, 5.0, 50.0, 60.0}) h.Observe(v);
  EXPECT_EQ(registry.RenderText(),
            "# HELP koppel_seconds Latency\n"
            "# TYPE koppel_seconds histogram\n"
            "koppel_seconds_bucket{method=\"Query\",le=\"0.25\"} 2\n"
            "koppel_seconds_bucket{method=\"Query\",le=\"1\"} 3\n"
            "koppel_seconds_bucket{method=\"Query\",le=\"10\"} 4\n"
            "koppel_seconds_bucket{method=\"Query\",le=\"+Inf\"} 6\n"
            "koppel_seconds_sum{method=\"Query\"} 115.875\n"
            "koppel_seconds_count{method=\"Query\"} 6\n");
}

TEST(MetricsRegistryTest, CollectorsAreAskedAtEachRendering) {
  MetricsRegistry registry;
  double size = 1;
  registry.AddCollector("koppel_store_bytes", "Store size", MetricType::kGauge, [&size] {
    return std::vector<CollectedSample>{{{{"covenant", "c1"}}, size}};
  });
  EXPECT_NE(registry.RenderText().find("koppel_store_bytes{covenant=\"c1\"} 1\n"),
            std::string::npos);
  size = 4096;
  EXPECT_NE(registry.RenderText().find("koppel_store_bytes{covenant=\"c1\"} 4096\n"),
            std::string::npos);
}

TEST(MetricsRegistryTest, CountsFromManyThreadsAddUp) {
  MetricsRegistry registry;
  Counter& counter = registry.GetCounter("c_total", "c");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&counter] {
      for (int i = 0; i < 10000; ++i) counter.Increment();
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counter.value(), 40000u);
}

TEST(ServiceMetricsTest, RuleLabelsAreRuleNamesOnly) {
  const absl::Status by_rule =
      WithCovenantRule(absl::PermissionDeniedError("no"), "parties[agent-uwv].roles", "c", 1);
  EXPECT_EQ(RefusalRuleLabel(by_rule), "parties.roles");
  EXPECT_EQ(RefusalRuleLabel(absl::InternalError("no rule")), "none");
  // Nothing spelled unlike a rule name (digits: a BSN, a token in hex) becomes a label.
  EXPECT_EQ(RefusalRuleLabel(WithServiceRule(absl::InvalidArgumentError("x"), "111222333")),
            "other");
}

TEST(ServiceMetricsTest, MethodLabelsAreMethodsThisBinaryServes) {
  // Links the linker's messages, and so its service's descriptor, into this binary.
  ASSERT_NE(v1::DeliverRequest::descriptor(), nullptr);
  EXPECT_EQ(MethodLabel(std::string("/") + v1::LinkerService::service_full_name() + "/Deliver"),
            "Deliver");
  EXPECT_EQ(MethodLabel("/koppel.v1.LinkerService/111222333"), "other");
  EXPECT_EQ(MethodLabel("/no.such.Service/Deliver"), "other");
  EXPECT_EQ(MethodLabel("Deliver"), "other");
}

TEST(ServiceMetricsTest, CountRefusalLabelsServiceMethodAndRule) {
  MetricsRegistry registry;
  CountRefusal(registry, "linker", "Query",
               WithCovenantRule(absl::PermissionDeniedError("no"), "analysis", "c", 1));
  EXPECT_NE(registry.RenderText().find(
                "koppel_refusals_total{service=\"linker\",method=\"Query\",rule=\"analysis\"} 1\n"),
            std::string::npos);
}

TEST(MetricsServerTest, ServesTheTextAtMetricsAndNothingElse) {
  MetricsRegistry registry;
  registry.GetCounter("koppel_scraped_total", "c").Increment(7);
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);

  absl::StatusOr<test::HttpResponse> metrics = test::HttpGet((*server)->port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->headers.find("text/plain; version=0.0.4"), std::string::npos)
      << metrics->headers;
  EXPECT_EQ(metrics->body, registry.RenderText());

  absl::StatusOr<test::HttpResponse> other = test::HttpGet((*server)->port(), "/etc/passwd");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->status, 404);
}

TEST(MetricsServerTest, RefusesWhatIsNotAnAddressAndAPortInUse) {
  MetricsRegistry registry;
  EXPECT_EQ(MetricsServer::Start("localhost:9100", &registry).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsServer::Start("127.0.0.1:9100,127.0.0.1:9101", &registry).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::unique_ptr<MetricsServer>> first =
      MetricsServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(MetricsServer::Start(fmt::format("127.0.0.1:{}", (*first)->port()), &registry)
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
}

TEST(MetricsServerTest, TheMetricsPortIsNotTheServicePort) {
  EXPECT_TRUE(CheckMetricsAddress("", "127.0.0.1:7443").ok());
  EXPECT_TRUE(CheckMetricsAddress("127.0.0.1:9443", "127.0.0.1:7443").ok());
  EXPECT_TRUE(CheckMetricsAddress("127.0.0.1:0", "127.0.0.1:0").ok());
  const absl::Status same = CheckMetricsAddress("0.0.0.0:7443", "127.0.0.1:7443");
  EXPECT_EQ(same.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(same.message().find("port of its own"), std::string_view::npos) << same;
  // What only the real start found before (a restart loop under ExecStartPre=--check-config).
  EXPECT_EQ(CheckMetricsAddress("127.0.0.1:07443", "127.0.0.1:7443").code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status name = CheckMetricsAddress("localhost:9464", "127.0.0.1:7443");
  EXPECT_EQ(name.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(name.message().find("is not ADDRESS:PORT"), std::string_view::npos) << name;
}

}  // namespace
}  // namespace koppel
