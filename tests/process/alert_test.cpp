#include "process/alert.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "metrics/metrics.h"
#include "process/condition.h"

namespace livehub {
namespace {

TEST(ConditionTest, ParsesFieldOperatorAndTypedConstant) {
  auto c = ParseCondition("  m.temp >= -2.5 ");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->field, "m.temp");
  EXPECT_EQ(c->path, (std::vector<std::string>{"m", "temp"}));
  EXPECT_EQ(c->op, CmpOp::kGe);
  EXPECT_EQ(c->type, Condition::Type::kNumber);
  EXPECT_DOUBLE_EQ(c->number, -2.5);
  auto s = ParseCondition("status == 'down'");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->type, Condition::Type::kString);
  EXPECT_EQ(s->str, "down");
  auto b = ParseCondition("ok != true");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->type, Condition::Type::kBool);
  EXPECT_TRUE(b->boolean);
}

TEST(ConditionTest, ParseErrorsSayWhatIsWrong) {
  struct Case {
    const char* text;
    const char* says;
  } cases[] = {
      {"", "empty condition"},
      {"temp", "missing operator after 'temp'"},
      {"temp = 3", "'=' is not an operator (use ==)"},
      {"temp ~ 3", "unknown operator"},
      {"temp >", "missing constant"},
      {"temp > abc", "'abc' is not a number"},
      {"temp > 3 and x < 2", "is not a number"},
      {"name > 'x'", "strings and booleans compare only with == or !="},
      {"name == 'x", "unterminated string"},
      {"a..b > 1", "empty segment"},
      {"> 3", "expected a field name"},
  };
  for (const Case& c : cases) {
    auto r = ParseCondition(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().reason(), "bad_condition");
    EXPECT_NE(r.status().message().find(c.says), std::string::npos)
        << c.text << " -> " << r.status().message();
  }
}

TEST(ConditionTest, MissingFieldsAndOtherTypesAreUnknown) {
  RecordReader r;
  ASSERT_TRUE(r.Parse(R"({"temp":31,"name":"x","ok":true})"));
  EXPECT_EQ(Evaluate(*ParseCondition("temp > 30"), r), true);
  EXPECT_EQ(Evaluate(*ParseCondition("temp <= 30"), r), false);
  EXPECT_EQ(Evaluate(*ParseCondition("name == 'x'"), r), true);
  EXPECT_EQ(Evaluate(*ParseCondition("ok == false"), r), false);
  EXPECT_EQ(Evaluate(*ParseCondition("missing > 1"), r), std::nullopt);
  EXPECT_EQ(Evaluate(*ParseCondition("name > 1"), r), std::nullopt);
  EXPECT_EQ(Evaluate(*ParseCondition("ok > 0"), r), std::nullopt);
}

struct Alert {
  std::string type, state, level, key, message;
  double value = 0;
  int64_t time = 0;
};

class AlertFeeder {
 public:
  explicit AlertFeeder(AlertSpec spec) : p(std::move(spec), &metrics) {}
  void Send(const std::string& data, int64_t ts = 0) {
    p.OnRecord(InputRecord{"in/a", ++seq, ts, data}, &outs);
  }
  std::vector<Alert> Take() {
    std::vector<Alert> r;
    simdjson::dom::parser parser;
    for (const Output& o : outs) {
      simdjson::dom::element e = parser.parse(o.data);
      Alert a;
      a.type = std::string(e["type"].get_string().value());
      a.state = std::string(e["state"].get_string().value());
      a.level = std::string(e["level"].get_string().value());
      a.key = std::string(simdjson::minify(e["key"]));
      a.message = std::string(e["message"].get_string().value());
      a.time = e["time"].get_int64();
      if (e["value"].is_number()) a.value = e["value"].get_double();
      EXPECT_EQ(std::string(e["rule"].get_string().value()), "r");
      EXPECT_TRUE(e["stream"].is_string());
      r.push_back(a);
    }
    outs.clear();
    return r;
  }
  MetricsRegistry metrics;
  AlertProcessor p;
  std::vector<Output> outs;
  uint64_t seq = 0;
};

AlertSpec Threshold(const char* when, const char* clear = nullptr, int64_t for_ms = 0) {
  AlertSpec s;
  s.name = "r";
  s.input = "in/**";
  s.output = "alerts/x";
  s.key = {"k"};
  s.when = *ParseCondition(when);
  if (clear) s.clear = *ParseCondition(clear);
  s.for_ms = for_ms;
  s.level = AlertLevel::kCritical;
  return s;
}

std::string Ev(const char* k, double temp) {
  return std::string("{\"k\":\"") + k + "\",\"temp\":" + std::to_string(temp) + "}";
}

TEST(ThresholdAlertTest, FiresOnceAndResolvesWhenTheConditionNoLongerHolds) {
  AlertFeeder f(Threshold("temp > 30"));
  f.Send(Ev("a", 29));
  f.Send(Ev("a", 31), 5);
  f.Send(Ev("a", 35));
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, "ThresholdAlert");
  EXPECT_EQ(r[0].state, "firing");
  EXPECT_EQ(r[0].level, "critical");
  EXPECT_EQ(r[0].key, R"({"k":"a"})");
  EXPECT_DOUBLE_EQ(r[0].value, 31);
  EXPECT_EQ(r[0].time, 5);
  f.Send(Ev("a", 30));
  r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].state, "resolved");
  EXPECT_NE(f.metrics.Render().find("livehub_alerts_total{rule=\"r\",level=\"critical\"} 1"),
            std::string::npos);
}

TEST(ThresholdAlertTest, HysteresisKeepsItFiringUntilTheClearThreshold) {
  AlertFeeder f(Threshold("temp > 30", "temp < 28"));
  f.Send(Ev("a", 31));
  f.Send(Ev("a", 29));    // below 30 but not below 28: still firing
  f.Send(Ev("a", 30.5));  // no second firing
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  f.Send(Ev("a", 27.9));
  r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].state, "resolved");
  f.Send(Ev("a", 29));  // below the fire threshold: nothing
  EXPECT_TRUE(f.Take().empty());
  f.Send(Ev("a", 31));
  EXPECT_EQ(f.Take().size(), 1u);
}

TEST(ThresholdAlertTest, ForDurationNeedsTheConditionToHoldThatLong) {
  AlertFeeder f(Threshold("temp > 30", nullptr, 10'000));
  f.Send(Ev("a", 31), 1000);
  f.Send(Ev("a", 32), 6000);
  f.Send(Ev("a", 20), 9000);  // broken: starts over
  f.Send(Ev("a", 31), 12'000);
  f.Send(Ev("a", 31), 21'999);
  EXPECT_TRUE(f.Take().empty());
  f.Send(Ev("a", 33), 22'000);
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].state, "firing");
  EXPECT_NE(r[0].message.find("for 10 s"), std::string::npos) << r[0].message;
}

TEST(ThresholdAlertTest, KeysAreIndependentAndBoundedByMaxKeys) {
  AlertSpec s = Threshold("temp > 30");
  s.max_keys = 2;
  AlertFeeder f(s);
  f.Send(Ev("a", 31));
  f.Send(Ev("b", 31));
  f.Send(Ev("c", 31));  // refused
  auto r = f.Take();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].key, R"({"k":"b"})");
  EXPECT_NE(f.metrics.Render().find("livehub_alert_refused_total{processor=\"r\"} 1"),
            std::string::npos);
}

AlertSpec Anomaly(AlertKind kind) {
  AlertSpec s;
  s.name = "r";
  s.kind = kind;
  s.input = "in/**";
  s.output = "alerts/x";
  s.key = {"k"};
  s.field = "temp";
  s.window = 20;
  s.min_samples = 10;
  s.threshold = 3;
  s.alpha = 0.2;
  return s;
}

TEST(AnomalyTest, ZScoreFlagsAnOutlierAgainstTheRollingWindowPerKey) {
  AlertFeeder f(Anomaly(AlertKind::kZScore));
  for (int i = 0; i < 20; ++i) f.Send(Ev("a", 20 + (i % 2)));  // mean 20.5, sd 0.5
  f.Send(Ev("a", 21.9));                                       // z = 2.8: no
  EXPECT_TRUE(f.Take().empty());
  f.Send(Ev("b", 100));   // another key, no history yet: no
  f.Send(Ev("a", 22.5));  // z ~ 3.8
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, "AnomalyDetected");
  EXPECT_EQ(r[0].key, R"({"k":"a"})");
  EXPECT_DOUBLE_EQ(r[0].value, 22.5);
}

TEST(AnomalyTest, ZScoreWaitsForMinSamples) {
  AlertFeeder f(Anomaly(AlertKind::kZScore));
  for (int i = 0; i < 9; ++i) f.Send(Ev("a", 20 + (i % 2)));
  f.Send(Ev("a", 1000));
  EXPECT_TRUE(f.Take().empty());
}

TEST(AnomalyTest, EwmaFlagsAJumpAndAdaptsToALevelShift) {
  AlertFeeder f(Anomaly(AlertKind::kEwma));
  for (int i = 0; i < 30; ++i) f.Send(Ev("a", 10 + (i % 3)));
  EXPECT_TRUE(f.Take().empty());
  f.Send(Ev("a", 40));
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_NE(r[0].message.find("ewma"), std::string::npos);
  for (int i = 0; i < 60; ++i) f.Send(Ev("a", 40 + (i % 3)));
  f.Take();
  f.Send(Ev("a", 41));  // the new normal
  EXPECT_TRUE(f.Take().empty());
}

TEST(SourceHealthAlertTest, DownAfterBeingUpThenRecovered) {
  AlertSpec s;
  s.name = "r";
  s.kind = AlertKind::kSourceHealth;
  s.input = "$sys/events";
  s.output = "alerts/sources";
  s.sources = {"m1"};
  s.level = AlertLevel::kCritical;
  AlertFeeder f(s);
  auto health = [](const char* src, const char* state) {
    return std::string(R"({"event":"health","source":")") + src + R"(","state":")" + state + "\"}";
  };
  f.Send(health("m1", "connecting"));
  f.Send(health("m1", "disconnected"));  // never up yet: no alert
  f.Send(health("m1", "receiving"));
  f.Send(health("m2", "stalled"));  // not watched
  f.Send(R"({"event":"reconnect","source":"m1"})");
  EXPECT_TRUE(f.Take().empty());
  f.Send(health("m1", "stalled"));
  f.Send(health("m1", "disconnected"));  // already down: once
  auto r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, "DataSourceDown");
  EXPECT_EQ(r[0].level, "critical");
  EXPECT_EQ(r[0].key, R"({"source":"m1"})");
  f.Send(health("m1", "connecting"));
  f.Send(health("m1", "receiving"));
  r = f.Take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, "DataSourceRecovered");
}

}  // namespace
}  // namespace livehub
