#include "process/process_config.h"

#include <gtest/gtest.h>

#include "app/config.h"

namespace livehub {
namespace {

std::string ErrorOf(const std::string& yaml) {
  auto c = ParseConfig(yaml, "f.yaml");
  return c.ok() ? "ok" : c.status().message();
}

TEST(ProcessConfigTest, ReadsWindowsAndAlerts) {
  auto c = ParseConfig(R"(
processors:
  queue_events: 5000
  windows:
    - name: t5
      input: "sensors/**"
      output: derived/t5
      type: hopping
      size_s: 300
      slide_s: 60
      key: [station, line]
      time_field: ts
      time_unit: s
      out_of_orderness_s: 5
      allowed_lateness_s: 2
      early_every_s: 10
      aggregates: {temp: [avg, p95], delay: [max]}
  alerts:
    - {name: hot, type: threshold, input: "sensors/**", output: alerts/t, when: "temp > 30", clear: "temp < 28", for_s: 10, level: critical}
    - {name: z, type: zscore, input: "sensors/**", output: alerts/t, field: temp, window: 50}
    - {name: down, type: source_health, output: alerts/src, sources: [m1]}
)",
                       "f.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  const ProcessConfig& p = c->processors;
  EXPECT_EQ(p.queue_events, 5000u);
  ASSERT_EQ(p.windows.size(), 1u);
  const WindowSpec& w = p.windows[0];
  EXPECT_EQ(w.kind, WindowKind::kHopping);
  EXPECT_EQ(w.size_ms, 300'000);
  EXPECT_EQ(w.slide_ms, 60'000);
  EXPECT_EQ(w.key, (std::vector<std::string>{"station", "line"}));
  EXPECT_FALSE(w.time.processing_time);
  EXPECT_EQ(w.time.unit, TimeUnit::kS);
  EXPECT_EQ(w.out_of_orderness_ms, 5000);
  EXPECT_EQ(w.allowed_lateness_ms, 2000);
  EXPECT_EQ(w.early_every_ms, 10'000);
  ASSERT_EQ(w.fields.size(), 2u);
  EXPECT_EQ(w.fields[0].ops, (std::vector<AggOp>{AggOp::kAvg, AggOp::kP95}));
  ASSERT_EQ(p.alerts.size(), 3u);
  EXPECT_EQ(p.alerts[0].for_ms, 10'000);
  EXPECT_TRUE(p.alerts[0].clear.has_value());
  EXPECT_EQ(p.alerts[0].level, AlertLevel::kCritical);
  EXPECT_EQ(p.alerts[1].kind, AlertKind::kZScore);
  EXPECT_EQ(p.alerts[2].input, "$sys/events");
  EXPECT_EQ(p.alerts[2].recent, 50u);
}

TEST(ProcessConfigTest, DefaultsToProcessingTimeTumbling) {
  auto c = ParseConfig("processors:\n  windows:\n    - {name: a, input: x, output: y, size_s: 1}\n",
                       "f.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->processors.windows[0].kind, WindowKind::kTumbling);
  EXPECT_TRUE(c->processors.windows[0].time.processing_time);
  EXPECT_EQ(c->processors.windows[0].allowed_lateness_ms, 0);
}

TEST(ProcessConfigTest, ErrorsNameTheKeyAndTheProblem) {
  const std::string w = "processors:\n  windows:\n    - {name: a, input: x, output: y, ";
  const std::string a = "processors:\n  alerts:\n    - {name: a, input: x, output: y, ";
  struct Case {
    std::string yaml;
    const char* says;
  } cases[] = {
      {w + "size_s: 1, bogus: 2}\n", "processors.windows[0].bogus: unknown key"},
      {w + "type: tumbling}\n", "processors.windows[0].size_s: is required"},
      {w + "type: hopping, size_s: 10}\n", "processors.windows[0].slide_s: is required"},
      {w + "type: hopping, size_s: 10, slide_s: 20}\n", "slide_s: must not exceed size_s"},
      {w + "type: hopping, size_s: 10000, slide_s: 1}\n",
       "slide_s: size_s / slide_s must be at most"},
      {w + "type: session}\n", "processors.windows[0].gap_s: is required"},
      {w + "type: session, gap_s: 1, size_s: 2}\n", "size_s: does not apply to session windows"},
      {w + "type: rolling, size_s: 1}\n", "processors.windows[0].type: must be tumbling"},
      {w + "size_s: 1, aggregates: {v: [mean]}}\n", "aggregates.v: unknown aggregate 'mean'"},
      {w + "size_s: 1, aggregates: {v: []}}\n", "aggregates.v: lists no aggregates"},
      {w + "size_s: -1}\n", "size_s: must not be negative"},
      {w + "size_s: 1, time_unit: h}\n", "time_unit: must be ms or s"},
      {w + "size_s: 1, sketch_alpha: 0.9}\n", "sketch_alpha: must be in (0, 0.5]"},
      {w + "size_s: 1, max_keys: 0}\n", "max_keys: must be at least 1"},
      {"processors:\n  windows:\n    - {input: x, output: y, size_s: 1}\n",
       "windows[0].name: is required"},
      {"processors:\n  windows:\n    - {name: a, output: y, size_s: 1}\n",
       "windows[0].input: is required"},
      {"processors:\n  windows:\n    - {name: a, input: x, output: 'y//z', size_s: 1}\n",
       "windows[0].output: "},
      {"processors:\n  windows:\n    - {name: a, input: 'x/**', output: x/y, size_s: 1}\n",
       "windows[0].output: feeds the processor's own input"},
      {"processors:\n  windows:\n    - {name: a, input: 'p/*', output: q/a, size_s: 1}\n"
       "    - {name: b, input: 'q/*', output: p/b, size_s: 1}\n",
       "whose outputs lead back here: a loop"},
      {"processors:\n  windows:\n    - {name: a, input: x, output: y, size_s: 1}\n"
       "    - {name: a, input: x, output: z, size_s: 1}\n",
       "windows[1].name: 'a' is used by another"},
      {a + "type: threshold}\n", "alerts[0].when: is required"},
      {a + "type: threshold, when: 'temp >> 3'}\n", "alerts[0].when: '> 3' is not a number"},
      {a + "type: threshold, when: 'temp > 3', clear: 'temp <'}\n",
       "alerts[0].clear: missing constant"},
      {a + "type: threshold, when: 'temp > 3', field: x}\n",
       "alerts[0].field: applies to zscore and ewma"},
      {a + "type: zscore}\n", "alerts[0].field: is required"},
      {a + "type: ewma, field: v, alpha: 2}\n", "alerts[0].alpha: must be in (0, 1]"},
      {a + "type: zscore, field: v, window: 1}\n", "alerts[0].window: must be at least 2"},
      {a + "type: threshold, when: 'v > 1', level: urgent}\n",
       "alerts[0].level: must be info, warning"},
      {a + "type: magic}\n", "alerts[0].type: must be threshold"},
      {a + "type: source_health}\n", "alerts[0].input: source_health reads $sys/events"},
      {"processors:\n  what: 1\n",
       "processors.what: unknown key (known here: alerts, queue_events, windows)"},
  };
  for (const Case& c : cases) {
    std::string err = ErrorOf(c.yaml);
    EXPECT_NE(err.find(c.says), std::string::npos) << c.yaml << "\n -> " << err;
    EXPECT_EQ(err.rfind("f.yaml: ", 0), 0u) << err;
  }
}

}  // namespace
}  // namespace livehub
