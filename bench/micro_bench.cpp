// Micro-benchmarks of the hot paths (Google Benchmark): serialise-once event
// construction, append + in-process fan-out to N attached subscribers,
// pattern matching, publish-body decoding and WebSocket frame parsing.
// Run: make microbench   (or ./build/livehub_microbench --benchmark_filter=...)
// End-to-end figures over real sockets come from `livehub bench`; see
// docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "codec/body_decoder.h"
#include "codec/ws_codec.h"
#include "core/clock.h"
#include "stream/event.h"
#include "stream/pattern.h"
#include "stream/stream.h"

namespace livehub {
namespace {

std::string Payload(size_t bytes) {
  std::string s = "{\"v\":\"";
  while (s.size() + 2 < bytes) s.push_back('x');
  s += "\"}";
  return s;
}

void BM_MakeEvent(benchmark::State& state) {
  const std::string data = Payload(static_cast<size_t>(state.range(0)));
  uint64_t seq = 0;
  for (auto _ : state) {
    EventPtr ev =
        MakeEvent(nullptr, "demo/sensors/station-1", "eckyld7b1mv2", ++seq, 1732233600123, 0, data);
    benchmark::DoNotOptimize(ev);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_MakeEvent)->Arg(100)->Arg(1000)->Arg(16000);

// A subscriber that only keeps a reference, like a session queue does.
class HoldingSubscriber final : public Subscriber {
 public:
  void OnEvent(const EventPtr& ev) override { last_ = ev; }
  void OnGap(Stream*, uint64_t, uint64_t, std::string_view) override {}

 private:
  EventPtr last_;
};

// Append one 100-byte event to a stream with N live subscribers: the
// per-event cost of sequencing, history and handing the shared event to
// every subscriber (no copy per subscriber).
void BM_AppendFanout(benchmark::State& state) {
  Stream stream("bench/s0", "e1", HistoryLimits{}, SystemClock::Get());
  std::vector<std::shared_ptr<Attachment>> attachments;
  for (int64_t i = 0; i < state.range(0); ++i) {
    auto a = stream.Attach(std::make_shared<HoldingSubscriber>(), 0);
    stream.CatchUp(a.get(), 1 << 20);
    attachments.push_back(std::move(a));
  }
  const std::vector<std::string> one{Payload(100)};
  for (auto _ : state) benchmark::DoNotOptimize(stream.Append(one));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
  state.counters["deliveries/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AppendFanout)->Arg(1)->Arg(100)->Arg(1000);

void BM_PatternMatch(benchmark::State& state) {
  auto p = Pattern::Parse("demo/**/station-*");
  const std::string names[] = {"demo/sensors/station-1", "demo/ticker/BTC-USD",
                               "other/sensors/station-2", "demo/a/b/c/station-9"};
  size_t i = 0, hits = 0;
  for (auto _ : state) hits += p->Matches(names[i++ & 3]);
  benchmark::DoNotOptimize(hits);
}
BENCHMARK(BM_PatternMatch);

void BM_DecodeNdjson(benchmark::State& state) {
  std::string body;
  for (int i = 0; i < 1000; ++i) {
    body += "{\"station\":\"s" + std::to_string(i % 7) + "\",\"t\":21." + std::to_string(i % 10) +
            ",\"ok\":true}\n";
  }
  std::vector<std::string> out;
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(DecodeBody(BodyFormat::kNdjson, body, DecodeLimits{}, &out));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 1000);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_DecodeNdjson);

void BM_DecodeCsv(benchmark::State& state) {
  std::string body = "station,t,ok\n";
  for (int i = 0; i < 1000; ++i) body += "s" + std::to_string(i % 7) + ",21.5,true\n";
  std::vector<std::string> out;
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(DecodeBody(BodyFormat::kCsv, body, DecodeLimits{}, &out));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 1000);
}
BENCHMARK(BM_DecodeCsv);

// Client -> hub direction: masked text frames, as browsers send them.
void BM_WsParseMaskedFrames(benchmark::State& state) {
  const uint8_t mask[4] = {1, 2, 3, 4};
  std::string wire;
  for (int i = 0; i < 100; ++i) {
    wire += ws::EncodeFrame(ws::Opcode::kText, "{\"op\":\"ping\",\"id\":" + std::to_string(i) + "}",
                            mask);
  }
  size_t messages = 0;
  for (auto _ : state) {
    ws::FrameParser parser(ws::FrameParser::Role::kServer, 1 << 20);
    benchmark::DoNotOptimize(parser.Feed(wire, [&](ws::Opcode, std::string_view) { ++messages; }));
  }
  benchmark::DoNotOptimize(messages);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 100);
}
BENCHMARK(BM_WsParseMaskedFrames);

}  // namespace
}  // namespace livehub

BENCHMARK_MAIN();
