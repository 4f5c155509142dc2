#include "process/window.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>
#include <string>
#include <vector>

#include "metrics/metrics.h"

namespace livehub {
namespace {

WindowSpec Tumbling(int64_t size_ms) {
  WindowSpec s;
  s.name = "w";
  s.input = "in/**";
  s.output = "out/w";
  s.kind = WindowKind::kTumbling;
  s.size_ms = s.slide_ms = size_ms;
  s.key = {"k"};
  s.time = TimeSpec::Field("t");
  s.idle_timeout_ms = 0;
  s.fields = {FieldAggSpec{"v",
                           {AggOp::kCount, AggOp::kSum, AggOp::kAvg, AggOp::kMin, AggOp::kMax,
                            AggOp::kFirst, AggOp::kLast, AggOp::kStddev, AggOp::kP50}}};
  return s;
}

struct Result {
  std::string stream;
  int64_t start = 0, end = 0;
  std::string key;
  uint64_t count = 0;
  bool final = false;
  double sum = 0, avg = 0, min = 0, max = 0, first = 0, last = 0, stddev = 0;
};

std::vector<Result> Parse(const std::vector<Output>& outs) {
  std::vector<Result> r;
  simdjson::dom::parser p;
  for (const Output& o : outs) {
    Result x;
    x.stream = o.stream;
    simdjson::dom::element e = p.parse(o.data);
    if (o.stream.ends_with("/late")) {
      x.start = e["event_time"].get_int64();
      r.push_back(x);
      continue;
    }
    x.start = e["start"].get_int64();
    x.end = e["end"].get_int64();
    x.key = std::string(simdjson::minify(e["key"]));
    x.count = e["count"].get_uint64();
    x.final = e["final"].get_bool();
    auto v = e["values"]["v"];
    if (v["count"].get_uint64().value() > 0) {
      x.sum = v["sum"].get_double();
      x.avg = v["avg"].get_double();
      x.min = v["min"].get_double();
      x.max = v["max"].get_double();
      x.first = v["first"].get_double();
      x.last = v["last"].get_double();
      x.stddev = v["stddev"].get_double();
    }
    r.push_back(x);
  }
  return r;
}

class Feeder {
 public:
  explicit Feeder(WindowSpec spec) : w(std::move(spec), &metrics) {}
  void Send(const std::string& key, int64_t t, double v) {
    std::string data =
        "{\"k\":\"" + key + "\",\"t\":" + std::to_string(t) + ",\"v\":" + std::to_string(v) + "}";
    w.OnRecord(InputRecord{"in/a", ++seq, 0, data}, &outs);
  }
  std::vector<Result> Take() {
    auto r = Parse(outs);
    outs.clear();
    return r;
  }
  MetricsRegistry metrics;
  WindowProcessor w;
  std::vector<Output> outs;
  uint64_t seq = 0;
};

TEST(WindowTest, TumblingWindowIsHalfOpenAndClosesWhenTheWatermarkPassesItsEnd) {
  Feeder f(Tumbling(1000));
  f.Send("a", 0, 1);
  f.Send("a", 999, 3);
  EXPECT_TRUE(f.Take().empty());
  f.Send("a", 1000, 10);  // next window; watermark 1000 closes [0, 1000)
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].start, 0);
  EXPECT_EQ(r[0].end, 1000);
  EXPECT_EQ(r[0].count, 2u);
  EXPECT_DOUBLE_EQ(r[0].sum, 4);
  EXPECT_DOUBLE_EQ(r[0].avg, 2);
  EXPECT_DOUBLE_EQ(r[0].min, 1);
  EXPECT_DOUBLE_EQ(r[0].max, 3);
  EXPECT_DOUBLE_EQ(r[0].stddev, 1);
  EXPECT_TRUE(r[0].final);
  EXPECT_EQ(r[0].key, R"({"k":"a"})");
}

TEST(WindowTest, KeyOfSeveralFieldsIsAValidJsonObjectInTheResult) {
  // Regression: the fields of a multi-field key were written without commas.
  WindowSpec spec = Tumbling(1000);
  spec.key = {"k", "t"};
  Feeder f(spec);
  f.Send("a", 10, 1);
  f.Send("a", 1000, 2);  // closes [0, 1000)
  auto r = f.Take();     // Parse() fails on invalid JSON
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].key, R"({"k":"a","t":10})");
}

TEST(WindowTest, GroupsByKeyAndEmitsKeysInFirstSeenOrder) {
  Feeder f(Tumbling(1000));
  f.Send("b", 10, 1);
  f.Send("a", 20, 2);
  f.Send("b", 30, 3);
  f.Send("x", 1500, 0);
  auto r = f.Take();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].key, R"({"k":"b"})");
  EXPECT_EQ(r[0].count, 2u);
  EXPECT_EQ(r[1].key, R"({"k":"a"})");
}

TEST(WindowTest, FirstAndLastFollowEventTimeNotArrival) {
  WindowSpec s = Tumbling(1000);
  s.out_of_orderness_ms = 500;
  Feeder f(s);
  f.Send("a", 500, 5);
  f.Send("a", 100, 1);  // earlier, arrives later
  f.Send("a", 900, 9);
  f.Send("a", 700, 7);
  f.Send("a", 1600, 0);  // watermark 1100
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_DOUBLE_EQ(r[0].first, 1);
  EXPECT_DOUBLE_EQ(r[0].last, 9);
}

TEST(WindowTest, OutOfOrdernessDelaysTheCloseAndAdmitsLateArrivals) {
  WindowSpec s = Tumbling(1000);
  s.out_of_orderness_ms = 300;
  Feeder f(s);
  f.Send("a", 900, 1);
  f.Send("a", 1200, 1);  // watermark 900: [0,1000) still open
  EXPECT_TRUE(f.Take().empty());
  f.Send("a", 950, 1);   // out of order but within bound: counted
  f.Send("a", 1300, 1);  // watermark 1000: closes
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].count, 2u);
  EXPECT_EQ(f.w.late_count(), 0u);
}

TEST(WindowTest, LateEventsBeyondAllowedLatenessAreCountedAndPublishedToLate) {
  WindowSpec s = Tumbling(1000);
  s.allowed_lateness_ms = 200;
  Feeder f(s);
  f.Send("a", 100, 1);
  f.Send("a", 1100, 1);  // watermark 1100 < 1000 + 200: still open
  EXPECT_TRUE(f.Take().empty());
  f.Send("a", 500, 1);   // late but within allowed lateness: counted in
  f.Send("a", 1200, 1);  // closes [0, 1000)
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].count, 2u);
  f.Send("a", 999, 1);  // beyond: late
  r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].stream, "out/w/late");
  EXPECT_EQ(r[0].start, 999);  // its event time
  EXPECT_EQ(f.w.late_count(), 1u);
}

TEST(WindowTest, HoppingWindowsCountAnEventInEveryWindowThatCoversIt) {
  WindowSpec s = Tumbling(1000);
  s.kind = WindowKind::kHopping;
  s.slide_ms = 250;
  Feeder f(s);
  f.Send("a", 600, 1);  // in [-250,750) [0,1000) [250,1250) [500,1500)
  f.Send("a", 5000, 1);
  auto r = f.Take();
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].start, -250);
  EXPECT_EQ(r[1].start, 0);
  EXPECT_EQ(r[2].start, 250);
  EXPECT_EQ(r[3].start, 500);
  for (const auto& x : r) EXPECT_EQ(x.end - x.start, 1000);
}

TEST(WindowTest, SessionsMergeWhenAnEventBridgesTheGap) {
  WindowSpec s = Tumbling(1000);
  s.kind = WindowKind::kSession;
  s.gap_ms = 100;
  s.out_of_orderness_ms = 1000;
  Feeder f(s);
  f.Send("a", 0, 1);    // [0, 100)
  f.Send("a", 250, 2);  // [250, 350): separate
  EXPECT_EQ(f.w.open_states(), 2u);
  f.Send("a", 120, 3);  // [120, 220) overlaps neither...
  EXPECT_EQ(f.w.open_states(), 3u);
  f.Send("a", 90, 4);  // [90, 190) bridges [0,100) and [120,220)
  EXPECT_EQ(f.w.open_states(), 2u);
  f.Send("a", 200, 5);  // [200, 300) bridges [0..220) and [250,350)
  EXPECT_EQ(f.w.open_states(), 1u);
  f.Send("b", 5000, 0);  // watermark 4000 closes everything of "a"
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].start, 0);
  EXPECT_EQ(r[0].end, 350);
  EXPECT_EQ(r[0].count, 5u);
  EXPECT_DOUBLE_EQ(r[0].sum, 15);
  EXPECT_DOUBLE_EQ(r[0].first, 1);
  EXPECT_DOUBLE_EQ(r[0].last, 2);  // t=250 is the latest
}

TEST(WindowTest, SessionsOfDifferentKeysAreIndependent) {
  WindowSpec s = Tumbling(1000);
  s.kind = WindowKind::kSession;
  s.gap_ms = 100;
  Feeder f(s);
  f.Send("a", 0, 1);
  f.Send("b", 50, 1);
  f.Send("a", 80, 1);
  f.Send("c", 1000, 1);
  auto r = f.Take();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].key, R"({"k":"b"})");  // ends at 150, before a's 180
  EXPECT_EQ(r[1].key, R"({"k":"a"})");
  EXPECT_EQ(r[1].end, 180);
  EXPECT_EQ(r[1].count, 2u);
}

TEST(WindowTest, RefusesNewKeysPastMaxKeysAndCountsThem) {
  WindowSpec s = Tumbling(1000);
  s.max_keys = 2;
  Feeder f(s);
  f.Send("a", 0, 1);
  f.Send("b", 0, 1);
  f.Send("c", 0, 1);   // refused
  f.Send("a", 10, 1);  // existing key: fine
  EXPECT_EQ(f.w.refused_count(), 1u);
  f.Send("a", 2000, 1);  // opens a new window: 2 states freed first? no: refused
  auto r = f.Take();
  ASSERT_EQ(r.size(), 2u);  // a and b; c never held
  EXPECT_EQ(r[0].count, 2u);
  EXPECT_NE(
      f.metrics.Render().find("livehub_window_refused_total{processor=\"w\",reason=\"max_keys\"} "),
      std::string::npos);
}

TEST(WindowTest, IdleSourceDoesNotHoldTheWatermarkForever) {
  WindowSpec s = Tumbling(1000);
  s.idle_timeout_ms = 5000;
  Feeder f(s);
  f.Send("a", 100, 1);
  f.w.OnTick(1'000'000, &f.outs);  // the tick that sees the input
  f.w.OnTick(1'004'000, &f.outs);  // 4 s quiet: not idle yet
  EXPECT_TRUE(f.Take().empty());
  f.w.OnTick(1'005'000, &f.outs);  // idle: event time advanced by 5 s
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].count, 1u);
}

TEST(WindowTest, ProcessingTimeUsesTheHubTimestampAndTheWallClock) {
  WindowSpec s = Tumbling(1000);
  s.time = TimeSpec::ProcessingTime();
  Feeder f(s);
  std::string d = R"({"k":"a","v":2})";
  f.w.OnRecord(InputRecord{"in/a", 1, 10'100, d}, &f.outs);
  f.w.OnRecord(InputRecord{"in/a", 2, 10'900, d}, &f.outs);
  f.w.OnTick(11'000, &f.outs);  // within the grace: open
  EXPECT_TRUE(f.Take().empty());
  f.w.OnTick(11'000 + WindowProcessor::kProcessingGraceMs, &f.outs);
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].start, 10'000);
  EXPECT_EQ(r[0].count, 2u);
}

TEST(WindowTest, EarlyResultsAreNotFinalAndOnlyForChangedKeys) {
  WindowSpec s = Tumbling(60'000);
  s.early_every_ms = 1000;
  Feeder f(s);
  f.w.OnTick(0, &f.outs);
  f.Send("a", 100, 1);
  f.Send("b", 100, 1);
  f.w.OnTick(1000, &f.outs);
  auto r = f.Take();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_FALSE(r[0].final);
  f.Send("a", 200, 1);
  f.w.OnTick(2000, &f.outs);
  r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].key, R"({"k":"a"})");
  EXPECT_EQ(r[0].count, 2u);
  f.Send("a", 60'000, 1);
  r = f.Take();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].final);
}

TEST(WindowTest, SkipsEventsWithoutAnEventTimeAndReadsSecondsAndRfc3339) {
  WindowSpec s = Tumbling(1000);
  s.time.unit = TimeUnit::kS;
  Feeder f(s);
  f.w.OnRecord(InputRecord{"in/a", 1, 0, R"({"k":"a","v":1})"}, &f.outs);          // no t
  f.w.OnRecord(InputRecord{"in/a", 2, 0, R"({"k":"a","t":1.5,"v":1})"}, &f.outs);  // 1500 ms
  f.w.OnRecord(InputRecord{"in/a", 3, 0, R"({"k":"a","t":"1970-01-01T00:00:01.700Z","v":1})"},
               &f.outs);
  f.w.OnRecord(InputRecord{"in/a", 4, 0, R"({"k":"a","t":"1970-01-01T01:00:03+01:00","v":1})"},
               &f.outs);  // 3000 ms: closes [1000, 2000)
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].start, 1000);
  EXPECT_EQ(r[0].count, 2u);
  EXPECT_NE(f.metrics.Render().find(
                "livehub_process_skipped_total{processor=\"w\",reason=\"no_event_time\"} 1"),
            std::string::npos);
}

TEST(WindowTest, ReplayingTheSameInputIntoAFreshProcessorGivesIdenticalOutputs) {
  for (WindowKind kind : {WindowKind::kTumbling, WindowKind::kHopping, WindowKind::kSession}) {
    WindowSpec s = Tumbling(1000);
    s.kind = kind;
    if (kind == WindowKind::kHopping) s.slide_ms = 300;
    if (kind == WindowKind::kSession) s.gap_ms = 150;
    s.out_of_orderness_ms = 400;
    s.fields[0].ops.push_back(AggOp::kP99);
    std::mt19937_64 rng(7);
    std::vector<std::string> input;
    int64_t t = 0;
    for (int i = 0; i < 3000; ++i) {
      t += static_cast<int64_t>(rng() % 40);
      // Mostly within the bound, one in ten far beyond it (late).
      int64_t jitter = static_cast<int64_t>(rng() % 10 == 0 ? rng() % 3000 : rng() % 300);
      input.push_back("{\"k\":\"k" + std::to_string(rng() % 7) + "\",\"t\":" +
                      std::to_string(t - jitter) + ",\"v\":" + std::to_string(rng() % 1000) + "}");
    }
    auto run = [&] {
      MetricsRegistry m;
      WindowProcessor w(s, &m);
      std::vector<Output> outs;
      for (size_t i = 0; i < input.size(); ++i) {
        w.OnRecord(InputRecord{"in/a", i + 1, 0, input[i]}, &outs);
      }
      std::string all;
      for (const Output& o : outs) all += o.stream + " " + o.data + "\n";
      return std::make_pair(all, w.late_count());
    };
    auto a = run(), b = run();
    EXPECT_GT(a.first.size(), 1000u);
    EXPECT_GT(a.second, 0u) << "the input should have late events";
    EXPECT_EQ(a.first, b.first);
  }
}

}  // namespace
}  // namespace livehub
