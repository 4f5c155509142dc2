#include "process/process_manager.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "app/config.h"
#include "core/clock.h"
#include "metrics/metrics.h"
#include "stream/hub.h"

namespace livehub {
namespace {

ProcessConfig Parse(const std::string& yaml) {
  auto c = ParseConfig(yaml, "test.yaml");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? c->processors : ProcessConfig{};
}

std::vector<std::string> DataOf(Hub* hub, const std::string& stream) {
  std::vector<std::string> out;
  Stream* s = hub->Find(stream);
  if (!s) return out;
  std::vector<EventPtr> evs;
  bool more = false;
  uint64_t next = 0;
  EXPECT_TRUE(s->Read(1, 100'000, &evs, &more, &next).ok());
  for (const EventPtr& e : evs) out.emplace_back(e->data());
  return out;
}

const char* kConfig = R"(
processors:
  windows:
    - name: w
      input: "in/**"
      output: out/w
      size_s: 1
      key: [k]
      time_field: t
      out_of_orderness_s: 0.2
      idle_timeout_s: 0
      aggregates: {v: [count, avg, p99]}
  alerts:
    - name: big
      type: threshold
      input: out/w
      output: alerts/w
      when: "count > 40"
)";

struct Rig {
  explicit Rig(ProcessConfig c) : hub(HubOptions{}, &clock, &metrics), pm(&hub, c) {
    pm.Start(/*thread=*/false);
  }
  FakeClock clock;
  MetricsRegistry metrics;
  Hub hub;
  ProcessManager pm;
};

TEST(ProcessManagerTest, PublishedEventsBecomeDerivedStreamsThatFeedFurtherProcessors) {
  Rig r(Parse(kConfig));
  std::vector<std::string> batch;
  for (int i = 0; i < 50; ++i) {
    batch.push_back("{\"k\":\"a\",\"t\":" + std::to_string(1000 + i * 10) +
                    ",\"v\":" + std::to_string(i) + "}");
  }
  ASSERT_TRUE(r.hub.Publish("in/s1", batch).ok());
  ASSERT_TRUE(r.hub.Publish("in/s2", {R"({"k":"b","t":2500,"v":1})"}).ok());  // closes [1000,2000)
  EXPECT_EQ(r.pm.RunOnce(r.clock.NowMs()), 51u);
  auto out = DataOf(&r.hub, "out/w");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].find(R"("key":{"k":"a"},"count":50)"), std::string::npos) << out[0];
  // The window's output is itself an input: the alert runs on the next round.
  r.pm.RunOnce(r.clock.NowMs());
  auto alerts = DataOf(&r.hub, "alerts/w");
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_NE(alerts[0].find(R"("type":"ThresholdAlert")"), std::string::npos);
  // ...and is announced on $sys/events.
  auto sys = DataOf(&r.hub, "$sys/events");
  ASSERT_FALSE(sys.empty());
  EXPECT_EQ(sys.back().rfind(
                R"({"event":"alert","stream":"alerts/w","alert":{"type":"ThresholdAlert")", 0),
            0u)
      << sys.back();
  EXPECT_EQ(r.pm.AlertRecent("alerts/w"), 50u);
  EXPECT_EQ(r.pm.AlertRecent("out/w"), std::nullopt);
}

TEST(ProcessManagerTest, TimeFieldSchemaReadsEachStreamsSchemaTimeIndex) {
  ProcessConfig c = Parse(R"(
processors:
  windows:
    - name: w
      input: "in/**"
      output: out/w
      size_s: 1
      time_field: $schema
      idle_timeout_s: 0
      aggregates: {v: [count]}
)");
  ASSERT_EQ(c.windows.size(), 1u);
  EXPECT_TRUE(c.windows[0].time.from_schema);
  FakeClock clock;
  MetricsRegistry metrics;
  Hub hub(HubOptions{}, &clock, &metrics);
  // in/a's schema says its event time is `when`; in/b has no time index.
  ProcessManager pm(&hub, c, [](std::string_view stream) -> std::optional<std::string> {
    if (stream == "in/a") return "when";
    return std::nullopt;
  });
  pm.Start(/*thread=*/false);
  ASSERT_TRUE(
      hub.Publish("in/a", {R"({"when":1100,"t":99999,"v":1})", R"({"when":1200,"t":99999,"v":2})",
                           R"({"when":2100,"t":99999,"v":3})"})  // closes [1000,2000)
          .ok());
  ASSERT_TRUE(hub.Publish("in/b", {R"({"when":1300,"v":4})"}).ok());  // no event time: skipped
  pm.RunOnce(clock.NowMs());
  auto out = DataOf(&hub, "out/w");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].find(R"("start":1000)"), std::string::npos) << out[0];
  EXPECT_NE(out[0].find(R"("count":2)"), std::string::npos) << out[0];
}

TEST(ProcessManagerTest, ReplayingTheInputFromHistoryGivesTheSameOutputsAsLive) {
  std::mt19937_64 rng(11);
  Rig live(Parse(kConfig));
  int64_t t = 0;
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> batch;
    for (int i = 0; i < 100; ++i) {
      t += static_cast<int64_t>(rng() % 30);
      const int64_t jitter = static_cast<int64_t>(rng() % 10 == 0 ? rng() % 2000 : rng() % 150);
      batch.push_back("{\"k\":\"k" + std::to_string(rng() % 5) + "\",\"t\":" +
                      std::to_string(t - jitter) + ",\"v\":" + std::to_string(rng() % 100) + "}");
    }
    ASSERT_TRUE(live.hub.Publish("in/a", batch).ok());
    live.pm.RunOnce(live.clock.NowMs());  // live: processed as it arrives
  }
  const auto live_out = DataOf(&live.hub, "out/w");
  const auto live_late = DataOf(&live.hub, "out/w/late");
  ASSERT_GT(live_out.size(), 50u);
  ASSERT_GT(live_late.size(), 0u);
  // Replay: the input's history, read back, into a fresh hub and processor.
  Rig replay(Parse(kConfig));
  ASSERT_TRUE(replay.hub.Publish("in/a", DataOf(&live.hub, "in/a")).ok());
  replay.pm.RunOnce(replay.clock.NowMs());
  EXPECT_EQ(DataOf(&replay.hub, "out/w"), live_out);
  // Late events name their input seq, which the replay keeps too.
  EXPECT_EQ(DataOf(&replay.hub, "out/w/late"), live_late);
}

TEST(ProcessManagerTest, DropsAndCountsPastTheQueueBound) {
  ProcessConfig c = Parse(kConfig);
  c.queue_events = 1000;
  Rig r(c);
  std::vector<std::string> batch(1500, R"({"k":"a","t":1,"v":1})");
  ASSERT_TRUE(r.hub.Publish("in/a", batch).ok());
  EXPECT_EQ(r.pm.RunOnce(r.clock.NowMs()), 1000u);
  EXPECT_NE(r.metrics.Render().find(
                "livehub_process_dropped_total{processor=\"w\",reason=\"queue_full\"} 500"),
            std::string::npos);
}

TEST(ProcessManagerTest, WorkerThreadPublishesWithoutBeingDriven) {
  ProcessConfig c = Parse(kConfig);
  MetricsRegistry metrics;
  Hub hub(HubOptions{}, SystemClock::Get(), &metrics);
  ProcessManager pm(&hub, c);
  pm.Start();
  ASSERT_TRUE(
      hub.Publish("in/a", {R"({"k":"a","t":100,"v":1})", R"({"k":"a","t":5000,"v":1})"}).ok());
  for (int i = 0; i < 500 && DataOf(&hub, "out/w").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(DataOf(&hub, "out/w").size(), 1u);
  pm.Stop();
}

}  // namespace
}  // namespace livehub
