// Benchmarks of stream processing (Google Benchmark):
//   BM_WindowAggregate    WindowProcessor alone: tumbling 60 s windows,
//                         10,000 keys, 3 aggregates (avg, max, p95) of one
//                         field; items/s = input events/s, window-close
//                         emission (10,000 results per window) included.
//   BM_PublishToDerived   the whole in-process path: Hub::Publish -> tap ->
//                         queue -> worker -> WindowProcessor -> Hub::Publish
//                         of the result -> a subscriber of the derived
//                         stream; reports the latency p50/p99 (us).
// Run: make bench-process   (figures in docs/benchmarks.md)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "app/config.h"
#include "core/clock.h"
#include "metrics/metrics.h"
#include "process/process_manager.h"
#include "process/window.h"
#include "stream/hub.h"

namespace livehub {
namespace {

WindowSpec Spec(int64_t size_ms) {
  WindowSpec s;
  s.name = "bench";
  s.input = "in/**";
  s.output = "out/bench";
  s.size_ms = s.slide_ms = size_ms;
  s.key = {"station"};
  s.time = TimeSpec::Field("t");
  s.idle_timeout_ms = 0;
  s.fields = {FieldAggSpec{"temp", {AggOp::kAvg, AggOp::kMax, AggOp::kP95}}};
  return s;
}

void BM_WindowAggregate(benchmark::State& state) {
  const int keys = static_cast<int>(state.range(0));
  constexpr int kEventsPerKeyPerWindow = 10;
  const int per_window = keys * kEventsPerKeyPerWindow;
  // Two windows' worth of input, replayed with event times moving on.
  std::vector<std::string> rows;
  const int n = per_window * 2;
  rows.reserve(n);
  for (int i = 0; i < n; ++i) {
    rows.push_back("{\"station\":\"st-" + std::to_string((i * 7919) % keys) +
                   "\",\"temp\":" + std::to_string(15 + (i * 31) % 200 / 10.0) + ",\"t\":");
  }
  MetricsRegistry metrics;
  WindowProcessor w(Spec(60'000), &metrics);
  std::vector<Output> out;
  std::string data;
  int64_t i = 0;
  size_t emitted = 0;
  for (auto _ : state) {
    // per_window events span one 60 s window.
    const int64_t t = i * 60'000 / per_window;
    data = rows[static_cast<size_t>(i % n)];
    data += std::to_string(t);
    data += '}';
    w.OnRecord(InputRecord{"in/a", static_cast<uint64_t>(i), 0, data}, &out);
    emitted += out.size();
    out.clear();
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["results"] = static_cast<double>(emitted);
  state.counters["open_states"] = static_cast<double>(w.open_states());
}
BENCHMARK(BM_WindowAggregate)->Arg(10'000)->MinTime(3.0);

class LatencySubscriber final : public Subscriber {
 public:
  void OnEvent(const EventPtr& ev) override {
    last_mono_ns.store(SystemClock::Get()->MonoNs());
    count.store(ev->seq);
  }
  void OnGap(Stream*, uint64_t, uint64_t, std::string_view) override {}
  std::atomic<uint64_t> count{0};
  std::atomic<int64_t> last_mono_ns{0};
};

void BM_PublishToDerived(benchmark::State& state) {
  auto cfg = ParseConfig(R"(
processors:
  windows:
    - {name: lat, input: "in/**", output: out/lat, size_s: 1, key: [k], time_field: t,
       idle_timeout_s: 0, aggregates: {v: [avg, max, p95]}}
)",
                         "bench");
  MetricsRegistry metrics;
  Hub hub(HubOptions{}, SystemClock::Get(), &metrics);
  ProcessManager pm(&hub, cfg->processors);
  pm.Start();
  // The first event opens a window; each next one (1 s later in event time)
  // closes the previous: one derived result per publish.
  (void)hub.Publish("in/a", {R"({"k":"a","t":0,"v":1})"});
  for (int i = 0; i < 100 && !hub.Find("in/a"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto sub = std::make_shared<LatencySubscriber>();
  std::shared_ptr<Attachment> att;
  std::vector<double> lat_us;
  int64_t t = 1000;
  uint64_t want = 0;
  for (auto _ : state) {
    const int64_t start = SystemClock::Get()->MonoNs();
    (void)hub.Publish("in/a", {"{\"k\":\"a\",\"t\":" + std::to_string(t) + ",\"v\":2}"});
    t += 1000;
    ++want;
    if (!att) {
      // The derived stream exists after its first result.
      while (!hub.Find("out/lat")) std::this_thread::yield();
      Stream* s = hub.Find("out/lat");
      att = s->Attach(sub, 0);
      s->CatchUp(att.get(), SIZE_MAX);
      sub->count.store(s->latest_seq());
      want = s->latest_seq();
      continue;
    }
    while (sub->count.load() < want) std::this_thread::yield();
    lat_us.push_back(static_cast<double>(sub->last_mono_ns.load() - start) / 1000.0);
  }
  pm.Stop();
  std::sort(lat_us.begin(), lat_us.end());
  auto pct = [&](double q) {
    return lat_us.empty() ? 0.0
                          : lat_us[static_cast<size_t>(q * static_cast<double>(lat_us.size() - 1))];
  };
  state.counters["p50_us"] = pct(0.50);
  state.counters["p99_us"] = pct(0.99);
  state.counters["max_us"] = pct(1.0);
}
BENCHMARK(BM_PublishToDerived)->Iterations(20'000)->UseRealTime();

}  // namespace
}  // namespace livehub

BENCHMARK_MAIN();
