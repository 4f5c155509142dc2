#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace livehub {
namespace {

size_t CountOf(const std::string& text, std::string_view needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

bool HasLine(const std::string& text, std::string_view line) {
  return ("\n" + text).find("\n" + std::string(line) + "\n") != std::string::npos;
}

constexpr int64_t kMs = 1'000'000;  // nanoseconds

TEST(CounterTest, AddsOneOrN) {
  Counter c;
  EXPECT_EQ(c.value(), 0u);
  c.Add();
  c.Add(41);
  EXPECT_EQ(c.value(), 42u);
}

TEST(GaugeTest, AddsAndSets) {
  Gauge g;
  g.Add(5);
  g.Add(-7);
  EXPECT_EQ(g.value(), -2);
  g.Set(10);
  EXPECT_EQ(g.value(), 10);
}

TEST(MetricsRegistryTest, SameNameAndLabelsReturnTheSameMetric) {
  MetricsRegistry r;
  Counter* a = r.GetCounter("x_total", "X.", "k=\"1\"");
  EXPECT_EQ(r.GetCounter("x_total", "X.", "k=\"1\""), a);
  EXPECT_NE(r.GetCounter("x_total", "X.", "k=\"2\""), a);
  EXPECT_NE(r.GetCounter("x_total", "X."), a);
  Gauge* g = r.GetGauge("g", "G.");
  EXPECT_EQ(r.GetGauge("g", "G."), g);
  Histogram* h = r.GetHistogram("h_seconds", "H.");
  EXPECT_EQ(r.GetHistogram("h_seconds", "H."), h);
}

TEST(MetricsRegistryTest, RendersCountersWithLabelsAndOneHeaderPerFamily) {
  MetricsRegistry r;
  r.GetCounter("drops_total", "Events dropped, by reason.", "reason=\"slow\"")->Add(3);
  r.GetCounter("drops_total", "Events dropped, by reason.", "reason=\"bad\"")->Add(1);
  r.GetCounter("plain_total", "A counter without labels.")->Add(7);
  const std::string text = r.Render();

  EXPECT_EQ(CountOf(text, "# HELP livehub_drops_total "), 1u) << text;
  EXPECT_EQ(CountOf(text, "# TYPE livehub_drops_total "), 1u) << text;
  EXPECT_TRUE(HasLine(text, "# HELP livehub_drops_total Events dropped, by reason.")) << text;
  EXPECT_TRUE(HasLine(text, "# TYPE livehub_drops_total counter")) << text;
  EXPECT_TRUE(HasLine(text, "livehub_drops_total{reason=\"slow\"} 3")) << text;
  EXPECT_TRUE(HasLine(text, "livehub_drops_total{reason=\"bad\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "# TYPE livehub_plain_total counter")) << text;
  EXPECT_TRUE(HasLine(text, "livehub_plain_total 7")) << text;

  // The header comes before the family's samples.
  EXPECT_LT(text.find("# HELP livehub_drops_total"), text.find("livehub_drops_total{"));
  EXPECT_LT(text.find("# TYPE livehub_drops_total"), text.find("livehub_drops_total{"));
}

TEST(MetricsRegistryTest, RendersGaugesIncludingNegativeValues) {
  MetricsRegistry r;
  r.GetGauge("connections", "Open connections.", "kind=\"ws\"")->Set(4);
  r.GetGauge("connections", "Open connections.", "kind=\"sse\"")->Add(-1);
  const std::string text = r.Render();
  EXPECT_EQ(CountOf(text, "# TYPE livehub_connections gauge\n"), 1u) << text;
  EXPECT_TRUE(HasLine(text, "livehub_connections{kind=\"ws\"} 4")) << text;
  EXPECT_TRUE(HasLine(text, "livehub_connections{kind=\"sse\"} -1")) << text;
}

TEST(MetricsRegistryTest, EverySampleLineIsPrefixedAndEndsWithANewline) {
  MetricsRegistry r;
  r.GetCounter("a_total", "A.")->Add();
  r.GetGauge("b", "B.")->Set(1);
  r.GetHistogram("c_seconds", "C.")->ObserveNs(kMs);
  const std::string text = r.Render();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string_view line(text.data() + start, end - start);
    EXPECT_TRUE(line.starts_with("# HELP livehub_") || line.starts_with("# TYPE livehub_") ||
                line.starts_with("livehub_"))
        << line;
    start = end + 1;
  }
}

TEST(HistogramTest, BucketForUsesInclusiveUpperBounds) {
  Histogram h({0.001, 0.01, 0.1});
  EXPECT_EQ(h.bucket_count(), 4u);
  EXPECT_EQ(h.BucketFor(0), 0u);
  EXPECT_EQ(h.BucketFor(1 * kMs), 0u);  // le="0.001" includes 1 ms
  EXPECT_EQ(h.BucketFor(1 * kMs + 1), 1u);
  EXPECT_EQ(h.BucketFor(10 * kMs), 1u);
  EXPECT_EQ(h.BucketFor(100 * kMs), 2u);
  EXPECT_EQ(h.BucketFor(100 * kMs + 1), 3u);
  EXPECT_EQ(h.BucketFor(int64_t{3600} * 1'000'000'000), 3u);
}

TEST(HistogramTest, ObservationExactlyOnADefaultBoundFallsInThatBucket) {
  const std::vector<double> bounds = LatencyBuckets();
  Histogram h(bounds);
  for (size_t i = 0; i < bounds.size(); ++i) {
    // The bound in whole nanoseconds, computed exactly from its decimal text.
    char text[32];
    std::snprintf(text, sizeof text, "%g", bounds[i]);
    const int64_t ns = std::llround(std::strtod(text, nullptr) * 1e9);
    EXPECT_EQ(h.BucketFor(ns), i) << "bound " << text << "s = " << ns << "ns";
  }
}

TEST(HistogramTest, RendersCumulativeBucketsSumAndCount) {
  MetricsRegistry r;
  Histogram* h = r.GetHistogram("delivery_latency_seconds", "Latency.", "kind=\"ws\"");
  h->ObserveNs(30'000);        // 30 µs   -> le 5e-05
  h->ObserveNs(30'000);        // 30 µs   -> le 5e-05
  h->ObserveNs(2 * kMs);       // 2 ms    -> le 0.0025
  h->ObserveNs(20'000 * kMs);  // 20 s -> +Inf only
  EXPECT_EQ(h->count(), 4u);
  const std::string text = r.Render();

  EXPECT_EQ(CountOf(text, "# TYPE livehub_delivery_latency_seconds histogram\n"), 1u) << text;
  const std::string b = "livehub_delivery_latency_seconds_bucket{kind=\"ws\",le=";
  EXPECT_TRUE(HasLine(text, b + "\"5e-05\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, b + "\"0.0001\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, b + "\"0.001\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, b + "\"0.0025\"} 3")) << text;
  EXPECT_TRUE(HasLine(text, b + "\"10\"} 3")) << text;
  EXPECT_TRUE(HasLine(text, b + "\"+Inf\"} 4")) << text;
  EXPECT_EQ(CountOf(text, "_bucket{"), LatencyBuckets().size() + 1) << text;
  EXPECT_TRUE(HasLine(text, "livehub_delivery_latency_seconds_sum{kind=\"ws\"} 20.002060000"))
      << text;
  EXPECT_TRUE(HasLine(text, "livehub_delivery_latency_seconds_count{kind=\"ws\"} 4")) << text;
}

TEST(HistogramTest, BucketCountsNeverDecreaseAlongLe) {
  Histogram h(LatencyBuckets());
  for (int64_t ns = 1; ns < int64_t{20} * 1'000'000'000; ns *= 3) h.ObserveNs(ns);
  std::string text;
  h.Render(&text, "x_seconds", "");
  uint64_t prev = 0;
  size_t buckets = 0;
  for (size_t pos = text.find("_bucket{"); pos != std::string::npos;
       pos = text.find("_bucket{", pos + 1)) {
    const size_t space = text.find("} ", pos);
    const uint64_t v = std::stoull(text.substr(space + 2));
    EXPECT_GE(v, prev);
    prev = v;
    ++buckets;
  }
  EXPECT_EQ(buckets, h.bucket_count());
  EXPECT_EQ(prev, h.count());
}

TEST(HistogramTest, RendersWithoutLabels) {
  Histogram h({0.5});
  h.ObserveNs(250 * kMs);
  std::string text;
  h.Render(&text, "t_seconds", "");
  EXPECT_EQ(text,
            "livehub_t_seconds_bucket{le=\"0.5\"} 1\n"
            "livehub_t_seconds_bucket{le=\"+Inf\"} 1\n"
            "livehub_t_seconds_sum 0.250000000\n"
            "livehub_t_seconds_count 1\n");
}

TEST(HistogramTest, NegativeObservationsCountAsZero) {
  Histogram h({0.001});
  h.ObserveNs(-5);
  EXPECT_EQ(h.count(), 1u);
  std::string text;
  h.Render(&text, "n_seconds", "");
  EXPECT_TRUE(HasLine(text, "livehub_n_seconds_bucket{le=\"0.001\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "livehub_n_seconds_sum 0.000000000")) << text;
}

TEST(HistogramTest, AddBatchEqualsRepeatedObserveNs) {
  const std::vector<int64_t> samples = {0,         10'000,     49'999,      50'000,
                                        50'001,    kMs,        3 * kMs,     77 * kMs,
                                        999 * kMs, 4000 * kMs, 9'999 * kMs, 60'000 * kMs};
  Histogram one_by_one(LatencyBuckets());
  Histogram batched(LatencyBuckets());
  std::vector<uint32_t> counts(batched.bucket_count(), 0);
  uint64_t sum = 0;
  for (int64_t ns : samples) {
    one_by_one.ObserveNs(ns);
    ++counts[batched.BucketFor(ns)];
    sum += static_cast<uint64_t>(ns);
  }
  batched.AddBatch(counts.data(), samples.size(), sum);

  std::string a, b;
  one_by_one.Render(&a, "lat_seconds", "k=\"v\"");
  batched.Render(&b, "lat_seconds", "k=\"v\"");
  EXPECT_EQ(a, b);
  EXPECT_EQ(batched.count(), samples.size());
}

TEST(MetricsRegistryTest, CollectorsAreAppendedAfterTheRegisteredFamilies) {
  MetricsRegistry r;
  r.GetCounter("zz_total", "Last by name.")->Add(1);
  int calls = 0;
  r.AddCollector([&](std::string* out) {
    ++calls;
    AppendFamilyHeader(out, "computed", "Computed at scrape time.", "gauge");
    *out += "livehub_computed 5\n";
  });
  r.AddCollector([](std::string* out) { *out += "livehub_second 6\n"; });

  const std::string text = r.Render();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(HasLine(text, "# HELP livehub_computed Computed at scrape time.")) << text;
  EXPECT_TRUE(HasLine(text, "# TYPE livehub_computed gauge")) << text;
  EXPECT_TRUE(HasLine(text, "livehub_computed 5")) << text;
  EXPECT_LT(text.find("livehub_zz_total 1"), text.find("# HELP livehub_computed"));
  EXPECT_LT(text.find("livehub_computed 5"), text.find("livehub_second 6"));

  r.Render();
  EXPECT_EQ(calls, 2);  // run on every scrape
}

TEST(AppendFamilyHeaderTest, WritesHelpThenType) {
  std::string out;
  AppendFamilyHeader(&out, "x_total", "Things.", "counter");
  EXPECT_EQ(out, "# HELP livehub_x_total Things.\n# TYPE livehub_x_total counter\n");
}

TEST(PromLabelValueTest, EscapesBackslashQuoteAndNewline) {
  EXPECT_EQ(PromLabelValue("plain/stream-1"), "plain/stream-1");
  EXPECT_EQ(PromLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(PromLabelValue("say \"x\""), "say \\\"x\\\"");
  EXPECT_EQ(PromLabelValue("two\nlines"), "two\\nlines");
}

}  // namespace
}  // namespace livehub
