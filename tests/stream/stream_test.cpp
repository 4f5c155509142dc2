#include "stream/stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "metrics/metrics.h"
#include "stream/event.h"
#include "stream/history_ring.h"
#include "stream/hub.h"
#include "stream/pattern.h"

namespace livehub {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;

HistoryLimits Unbounded() {
  HistoryLimits l;
  l.max_events = 1'000'000;
  l.max_bytes = size_t{1} << 40;
  l.max_age_ms = int64_t{1} << 50;
  return l;
}

HistoryLimits KeepLast(size_t n) {
  HistoryLimits l = Unbounded();
  l.max_events = n;
  return l;
}

// `n` distinct compact-JSON payloads: {"i":first}, {"i":first+1}, ...
std::vector<std::string> Datas(int n, int first = 0) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("{\"i\":" + std::to_string(first + i) + "}");
  return out;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

struct Gap {
  Stream* stream;
  uint64_t from;
  uint64_t to;
  std::string reason;
  size_t events_before;  // how many events had been delivered when it came
};

// Records what a stream delivers. Never calls back into the stream.
class RecordingSubscriber final : public Subscriber {
 public:
  void OnEvent(const EventPtr& ev) override {
    seqs.push_back(ev->seq);
    events.push_back(ev);
  }
  void OnGap(Stream* stream, uint64_t from_seq, uint64_t to_seq, std::string_view reason) override {
    gaps.push_back(Gap{stream, from_seq, to_seq, std::string(reason), seqs.size()});
  }

  std::vector<uint64_t> seqs;
  std::vector<EventPtr> events;
  std::vector<Gap> gaps;
};

class StreamTest : public ::testing::Test {
 protected:
  std::unique_ptr<Stream> MakeStream(HistoryLimits limits) {
    return std::make_unique<Stream>("s/a", "ep1", limits, &clock_);
  }
  FakeClock clock_{kT0};
  std::shared_ptr<RecordingSubscriber> sub_ = std::make_shared<RecordingSubscriber>();
};

// ---------------------------------------------------------------------------
// Append and Read
// ---------------------------------------------------------------------------

TEST_F(StreamTest, SeqStartsAtOneAndIsContiguousAcrossBatches) {
  auto s = MakeStream(Unbounded());
  EXPECT_EQ(s->latest_seq(), 0u);
  EXPECT_EQ(s->first_seq(), 1u);

  PublishAck a = s->Append(Datas(1));
  EXPECT_EQ(a.first_seq, 1u);
  EXPECT_EQ(a.last_seq, 1u);
  PublishAck b = s->Append(Datas(3));
  EXPECT_EQ(b.first_seq, 2u);
  EXPECT_EQ(b.last_seq, 4u);
  PublishAck c = s->Append(Datas(2));
  EXPECT_EQ(c.first_seq, 5u);
  EXPECT_EQ(c.last_seq, 6u);
  EXPECT_EQ(s->latest_seq(), 6u);
}

TEST_F(StreamTest, AppendAckNamesTheStreamAndItsEpoch) {
  auto s = MakeStream(Unbounded());
  PublishAck a = s->Append(Datas(2));
  EXPECT_EQ(a.stream, "s/a");
  EXPECT_EQ(a.epoch, "ep1");
}

TEST_F(StreamTest, AppendedEventsCarryTheirDataStreamAndOneTimestampPerBatch) {
  auto s = MakeStream(Unbounded());
  s->Append(Datas(3, 10));
  std::vector<EventPtr> out;
  bool has_more = true;
  uint64_t next = 0;
  ASSERT_TRUE(s->Read(1, 10, &out, &has_more, &next).ok());
  ASSERT_EQ(out.size(), 3u);
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i]->seq, i + 1);
    EXPECT_EQ(out[i]->stream, s.get());
    EXPECT_EQ(out[i]->ts_ms, kT0);
    EXPECT_EQ(out[i]->data(), "{\"i\":" + std::to_string(10 + i) + "}");
  }
}

TEST_F(StreamTest, TimestampNeverGoesBackwardsWhenTheWallClockDoes) {
  auto s = MakeStream(Unbounded());
  s->Append(Datas(1));
  clock_.AdvanceMs(-5000);
  s->Append(Datas(1));
  clock_.AdvanceMs(10'000);
  s->Append(Datas(1));
  std::vector<EventPtr> out;
  bool has_more = false;
  uint64_t next = 0;
  ASSERT_TRUE(s->Read(1, 10, &out, &has_more, &next).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0]->ts_ms, kT0);
  EXPECT_EQ(out[1]->ts_ms, kT0);
  EXPECT_EQ(out[2]->ts_ms, kT0 + 5000);
  EXPECT_EQ(s->GetWatermark().latest_ts_ms, kT0 + 5000);
}

TEST_F(StreamTest, ReadPagesWithHasMoreAndNextSeq) {
  auto s = MakeStream(Unbounded());
  s->Append(Datas(5));

  std::vector<EventPtr> out;
  bool has_more = false;
  uint64_t next = 0;
  ASSERT_TRUE(s->Read(1, 2, &out, &has_more, &next).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]->seq, 1u);
  EXPECT_EQ(out[1]->seq, 2u);
  EXPECT_TRUE(has_more);
  EXPECT_EQ(next, 3u);

  out.clear();
  ASSERT_TRUE(s->Read(next, 2, &out, &has_more, &next).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]->seq, 3u);
  EXPECT_TRUE(has_more);
  EXPECT_EQ(next, 5u);

  out.clear();
  ASSERT_TRUE(s->Read(next, 2, &out, &has_more, &next).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->seq, 5u);
  EXPECT_FALSE(has_more);
  EXPECT_EQ(next, 6u);
}

TEST_F(StreamTest, ReadFromSeqZeroStartsAtTheBeginning) {
  auto s = MakeStream(Unbounded());
  s->Append(Datas(2));
  std::vector<EventPtr> out;
  bool has_more = true;
  uint64_t next = 0;
  ASSERT_TRUE(s->Read(0, 10, &out, &has_more, &next).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]->seq, 1u);
  EXPECT_FALSE(has_more);
  EXPECT_EQ(next, 3u);
}

TEST_F(StreamTest, ReadPastTheLatestReturnsNothing) {
  auto s = MakeStream(Unbounded());
  s->Append(Datas(2));
  std::vector<EventPtr> out;
  bool has_more = true;
  uint64_t next = 0;
  ASSERT_TRUE(s->Read(3, 10, &out, &has_more, &next).ok());
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(has_more);
  EXPECT_EQ(next, 3u);
}

TEST_F(StreamTest, ReadOfAnEvictedSeqReturnsEvictedWithTheOldestHeldSeq) {
  auto s = MakeStream(KeepLast(3));
  s->Append(Datas(10));
  EXPECT_EQ(s->first_seq(), 8u);

  std::vector<EventPtr> out;
  bool has_more = false;
  uint64_t next = 0;
  Status st = s->Read(5, 10, &out, &has_more, &next);
  EXPECT_EQ(st.code(), StatusCode::kEvicted);
  EXPECT_EQ(st.reason(), "evicted");
  ASSERT_TRUE(st.detail().has_value());
  EXPECT_EQ(*st.detail(), 8u);
  EXPECT_TRUE(out.empty());

  ASSERT_TRUE(s->Read(8, 10, &out, &has_more, &next).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out.front()->seq, 8u);
}

TEST_F(StreamTest, StatsCountEventsBytesAndEvictions) {
  auto s = MakeStream(KeepLast(2));
  s->Append({"1", "22", "333"});
  StreamStats st = s->GetStats();
  EXPECT_EQ(st.events_in, 3u);
  EXPECT_EQ(st.bytes_in, 6u);
  EXPECT_EQ(st.evicted, 1u);
  EXPECT_EQ(st.history_events, 2u);
  EXPECT_EQ(st.first_seq, 2u);
  EXPECT_EQ(st.watermark.latest_seq, 3u);
  EXPECT_EQ(st.watermark.stream, "s/a");
  EXPECT_EQ(st.watermark.epoch, "ep1");
  EXPECT_EQ(st.created_ms, kT0);
}

TEST_F(StreamTest, EvictExpiredUsesTheStreamsClock) {
  HistoryLimits l = Unbounded();
  l.max_age_ms = 1000;
  auto s = MakeStream(l);
  s->Append(Datas(2));
  clock_.AdvanceMs(600);
  s->Append(Datas(1));
  clock_.AdvanceMs(600);  // the first two are 1200 ms old, the third 600 ms
  EXPECT_EQ(s->EvictExpired(), 2u);
  EXPECT_EQ(s->first_seq(), 3u);
  EXPECT_EQ(s->latest_seq(), 3u);
  EXPECT_EQ(s->GetStats().evicted, 2u);
}

// ---------------------------------------------------------------------------
// Attach, CatchUp, Detach
// ---------------------------------------------------------------------------

TEST_F(StreamTest, AttachIsNeverLiveUntilCatchUp) {
  auto s = MakeStream(Unbounded());
  auto a = s->Attach(sub_, 0);
  EXPECT_FALSE(a->live);
  s->Append(Datas(2));
  EXPECT_TRUE(sub_->seqs.empty());
  EXPECT_EQ(s->GetStats().subscribers, 1u);

  // Events appended after attaching "from now" are due, and CatchUp brings them.
  EXPECT_TRUE(s->CatchUp(a.get(), SIZE_MAX));
  EXPECT_TRUE(a->live);
  EXPECT_EQ(sub_->seqs, Range(1, 2));
  s->Append(Datas(1));
  EXPECT_EQ(sub_->seqs, Range(1, 3));
  EXPECT_TRUE(sub_->gaps.empty());
}

TEST_F(StreamTest, AttachFromNowSkipsExistingHistory) {
  auto s = MakeStream(Unbounded());
  s->Append(Datas(4));
  auto a = s->Attach(sub_, 0);
  EXPECT_EQ(a->start_seq, 5u);
  EXPECT_TRUE(s->CatchUp(a.get(), SIZE_MAX));
  EXPECT_TRUE(sub_->seqs.empty());
  s->Append(Datas(2));
  EXPECT_EQ(sub_->seqs, Range(5, 6));
}

TEST_F(StreamTest, AttachPastTheLatestMeansFromNow) {
  auto s = MakeStream(Unbounded());
  s->Append(Datas(3));
  auto a = s->Attach(sub_, 1000);
  EXPECT_EQ(a->start_seq, 4u);
  EXPECT_EQ(a->next_seq, 4u);
  EXPECT_TRUE(s->CatchUp(a.get(), SIZE_MAX));
  s->Append(Datas(1));
  EXPECT_EQ(sub_->seqs, Range(4, 4));
}

TEST_F(StreamTest, CatchUpDeliversExactlyTheMissingEventsThenLiveWithoutGapOrDuplicate) {
  auto s = MakeStream(Unbounded());
  s->Append(Datas(5));
  auto a = s->Attach(sub_, 3);
  EXPECT_EQ(a->start_seq, 3u);
  s->Append(Datas(2));  // between attach and catch-up: seqs 6, 7
  EXPECT_TRUE(sub_->seqs.empty());

  EXPECT_TRUE(s->CatchUp(a.get(), SIZE_MAX));
  EXPECT_EQ(sub_->seqs, Range(3, 7));

  s->Append(Datas(3));
  EXPECT_EQ(sub_->seqs, Range(3, 10));
  EXPECT_TRUE(sub_->gaps.empty());

  // Once live, CatchUp is a no-op that says so.
  EXPECT_TRUE(s->CatchUp(a.get(), SIZE_MAX));
  EXPECT_EQ(sub_->seqs, Range(3, 10));
}

TEST_F(StreamTest, CatchUpWithABudgetDeliversInSeveralSteps) {
  auto s = MakeStream(Unbounded());
  s->Append(Datas(6));
  auto a = s->Attach(sub_, 1);

  std::vector<size_t> delivered_per_call;
  size_t calls = 0;
  bool live = false;
  while (!live) {
    ASSERT_LT(++calls, 100u) << "CatchUp never finished";
    const size_t before = sub_->seqs.size();
    live = s->CatchUp(a.get(), 1);  // the smallest budget: about one event per call
    delivered_per_call.push_back(sub_->seqs.size() - before);
    if (calls == 3) s->Append(Datas(1));  // history grows while catching up
  }
  EXPECT_GT(calls, 1u);
  for (size_t n : delivered_per_call) EXPECT_EQ(n, 1u);
  EXPECT_EQ(sub_->seqs, Range(1, 7));
  s->Append(Datas(1));
  EXPECT_EQ(sub_->seqs, Range(1, 8));
}

TEST_F(StreamTest, CatchUpBudgetIsCountedInEventCharges) {
  auto s = MakeStream(Unbounded());
  s->Append(Datas(6));
  std::vector<EventPtr> out;
  bool has_more = false;
  uint64_t next = 0;
  ASSERT_TRUE(s->Read(1, 1, &out, &has_more, &next).ok());
  const size_t budget = 2 * out[0]->charge();  // all six events are the same size

  auto a = s->Attach(sub_, 1);
  EXPECT_FALSE(s->CatchUp(a.get(), budget));
  EXPECT_EQ(sub_->seqs, Range(1, 2));
  EXPECT_FALSE(s->CatchUp(a.get(), budget));
  EXPECT_EQ(sub_->seqs, Range(1, 4));
  EXPECT_TRUE(s->CatchUp(a.get(), budget));
  EXPECT_EQ(sub_->seqs, Range(1, 6));
}

TEST_F(StreamTest, CatchUpFromAnEvictedStartReportsTheGapFirst) {
  auto s = MakeStream(KeepLast(3));
  s->Append(Datas(10));  // holds 8..10
  auto a = s->Attach(sub_, 2);
  EXPECT_TRUE(s->CatchUp(a.get(), SIZE_MAX));

  ASSERT_EQ(sub_->gaps.size(), 1u);
  const Gap& g = sub_->gaps[0];
  EXPECT_EQ(g.stream, s.get());
  EXPECT_EQ(g.from, 2u);
  EXPECT_EQ(g.to, 7u);
  EXPECT_EQ(g.reason, "evicted");
  EXPECT_EQ(g.events_before, 0u);
  EXPECT_EQ(sub_->seqs, Range(8, 10));

  s->Append(Datas(1));
  EXPECT_EQ(sub_->seqs, Range(8, 11));
  EXPECT_EQ(sub_->gaps.size(), 1u);
}

TEST_F(StreamTest, EvictionDuringABudgetedCatchUpIsReportedAsAGap) {
  auto s = MakeStream(KeepLast(4));
  s->Append(Datas(4));  // holds 1..4
  auto a = s->Attach(sub_, 1);
  EXPECT_FALSE(s->CatchUp(a.get(), 1));  // delivers 1
  s->Append(Datas(4));                   // holds 5..8; 2..4 are gone
  while (!s->CatchUp(a.get(), 1)) {
  }
  ASSERT_EQ(sub_->gaps.size(), 1u);
  EXPECT_EQ(sub_->gaps[0].from, 2u);
  EXPECT_EQ(sub_->gaps[0].to, 4u);
  EXPECT_EQ(sub_->gaps[0].events_before, 1u);
  EXPECT_EQ(sub_->seqs, (std::vector<uint64_t>{1, 5, 6, 7, 8}));
}

TEST_F(StreamTest, DetachStopsDelivery) {
  auto s = MakeStream(Unbounded());
  auto a = s->Attach(sub_, 0);
  ASSERT_TRUE(s->CatchUp(a.get(), SIZE_MAX));
  s->Append(Datas(1));
  s->Detach(a);
  EXPECT_FALSE(a->live);
  EXPECT_EQ(s->GetStats().subscribers, 0u);
  s->Append(Datas(2));
  EXPECT_EQ(sub_->seqs, Range(1, 1));
  s->Detach(a);  // detaching twice is harmless
  EXPECT_EQ(s->GetStats().subscribers, 0u);
}

TEST_F(StreamTest, DetachingOneSubscriberKeepsTheOthersAttached) {
  auto s = MakeStream(Unbounded());
  auto b = std::make_shared<RecordingSubscriber>();
  auto c = std::make_shared<RecordingSubscriber>();
  auto aa = s->Attach(sub_, 0);
  auto ab = s->Attach(b, 0);
  auto ac = s->Attach(c, 0);
  for (auto* at : {aa.get(), ab.get(), ac.get()}) ASSERT_TRUE(s->CatchUp(at, SIZE_MAX));

  s->Detach(aa);  // the first: the last one moves into its slot
  s->Append(Datas(1));
  s->Detach(ac);
  s->Append(Datas(1));
  s->Detach(aa);  // stale handle: must not detach anyone else
  s->Append(Datas(1));

  EXPECT_TRUE(sub_->seqs.empty());
  EXPECT_EQ(b->seqs, Range(1, 3));
  EXPECT_EQ(c->seqs, Range(1, 1));
  EXPECT_EQ(s->GetStats().subscribers, 1u);
  s->Detach(ab);
  EXPECT_EQ(s->GetStats().subscribers, 0u);
}

TEST_F(StreamTest, EverySubscriberSeesEachEventOnceInOrder) {
  auto s = MakeStream(Unbounded());
  auto late = std::make_shared<RecordingSubscriber>();
  auto a = s->Attach(sub_, 1);
  ASSERT_TRUE(s->CatchUp(a.get(), SIZE_MAX));
  s->Append(Datas(3));
  auto b = s->Attach(late, 2);
  s->Append(Datas(2));
  ASSERT_TRUE(s->CatchUp(b.get(), SIZE_MAX));
  s->Append(Datas(2));
  EXPECT_EQ(sub_->seqs, Range(1, 7));
  EXPECT_EQ(late->seqs, Range(2, 7));
}

// Counts how events arrive: one OnEvents call per publish, not per event.
class BatchCountingSubscriber final : public Subscriber {
 public:
  void OnEvent(const EventPtr& ev) override {
    calls.push_back(1);
    seqs.push_back(ev->seq);
  }
  void OnEvents(const EventPtr* evs, size_t n) override {
    calls.push_back(n);
    for (size_t i = 0; i < n; ++i) seqs.push_back(evs[i]->seq);
  }
  void OnGap(Stream*, uint64_t, uint64_t, std::string_view) override {}
  std::vector<size_t> calls;
  std::vector<uint64_t> seqs;
};

TEST_F(StreamTest, APublishedBatchReachesEachSubscriberInOneCall) {
  HistoryLimits limits = Unbounded();
  limits.max_events = 4;
  auto s = MakeStream(limits);
  auto sub = std::make_shared<BatchCountingSubscriber>();
  auto a = s->Attach(sub, 1);
  ASSERT_TRUE(s->CatchUp(a.get(), SIZE_MAX));
  s->Append(Datas(1));
  s->Append(Datas(6));  // more than the history holds: all six still arrive
  s->Append(Datas(2));
  EXPECT_EQ(sub->calls, (std::vector<size_t>{1, 6, 2}));
  EXPECT_EQ(sub->seqs, Range(1, 9));
  EXPECT_EQ(s->first_seq(), 6u);
}

// ---------------------------------------------------------------------------
// MakeEvent wire forms
// ---------------------------------------------------------------------------

// Decodes a server-to-client WebSocket frame header. Returns the payload, or
// fails the test if the frame is not one unmasked FIN text frame.
std::string_view TextFramePayload(std::string_view frame) {
  EXPECT_GE(frame.size(), 2u);
  if (frame.size() < 2) return {};
  const auto b0 = static_cast<uint8_t>(frame[0]);
  const auto b1 = static_cast<uint8_t>(frame[1]);
  EXPECT_EQ(b0, 0x81) << "FIN + text opcode, no RSV bits";
  EXPECT_EQ(b1 & 0x80, 0) << "server frames are unmasked";
  uint64_t len = b1 & 0x7f;
  size_t pos = 2;
  if (len == 126) {
    len = (uint64_t{static_cast<uint8_t>(frame[2])} << 8) | static_cast<uint8_t>(frame[3]);
    EXPECT_GE(len, 126u) << "minimal length encoding";
    pos = 4;
  } else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<uint8_t>(frame[2 + i]);
    EXPECT_GT(len, 0xffffu) << "minimal length encoding";
    pos = 10;
  }
  EXPECT_EQ(frame.size() - pos, len);
  return frame.substr(pos);
}

TEST(MakeEventTest, JsonIsTheV1EventMessage) {
  EventPtr ev = MakeEvent(nullptr, "demo/a", "ep9", 42, kT0, 7, R"({"v":[1,2],"s":"x"})");
  EXPECT_EQ(ev->json(),
            R"({"type":"event","stream":"demo/a","seq":42,"epoch":"ep9","ts":1700000000000,)"
            R"("data":{"v":[1,2],"s":"x"}})");
  EXPECT_EQ(ev->data(), R"({"v":[1,2],"s":"x"})");
  EXPECT_EQ(ev->seq, 42u);
  EXPECT_EQ(ev->ts_ms, kT0);
  EXPECT_EQ(ev->mono_ns, 7);
}

TEST(MakeEventTest, ExtremeNumbersAndNamesThatNeedEscaping) {
  EventPtr ev = MakeEvent(nullptr, "a\"b\\c", "e\n", UINT64_MAX, -1'000, 0, "null");
  EXPECT_EQ(ev->json(), R"({"type":"event","stream":"a\"b\\c","seq":18446744073709551615,)"
                        R"("epoch":"e\n","ts":-1000,"data":null})");
  EXPECT_EQ(ev->data(), "null");
}

TEST(MakeEventTest, DataCanBeAnyJsonValue) {
  for (std::string_view data : {"1", "\"text\"", "null", "[]", "true", "-0.5e3"}) {
    EventPtr ev = MakeEvent(nullptr, "x", "e", 1, 0, 0, data);
    EXPECT_EQ(ev->data(), data);
    EXPECT_EQ(ev->json(), R"({"type":"event","stream":"x","seq":1,"epoch":"e","ts":0,"data":)" +
                              std::string(data) + "}");
  }
}

TEST(MakeEventTest, WsFrameIsAnUnmaskedTextFrameOfTheJson) {
  // Payload lengths on both sides of the 7-bit, 16-bit and 64-bit encodings.
  for (size_t n : {0u, 10u, 60u, 125u, 126u, 200u, 1000u, 65535u, 65536u, 70000u}) {
    std::string data = "\"" + std::string(n, 'z') + "\"";
    EventPtr ev = MakeEvent(nullptr, "s", "e", 3, kT0, 0, data);
    std::string_view payload = TextFramePayload(ev->ws_frame());
    EXPECT_EQ(payload, ev->json()) << "data size " << n;
    EXPECT_EQ(ev->data(), data);
  }
}

TEST(MakeEventTest, ChargeCoversTheSerialisedEvent) {
  EventPtr ev = MakeEvent(nullptr, "s", "e", 1, 0, 0, std::string(5000, '1'));
  EXPECT_GE(ev->charge(), ev->ws_frame().size() + sizeof(Event));
}

TEST_F(StreamTest, AppendedEventJsonNamesTheStreamEpochSeqAndTimestamp) {
  auto s = MakeStream(Unbounded());
  s->Append(Datas(2));
  auto a = s->Attach(sub_, 2);
  ASSERT_TRUE(s->CatchUp(a.get(), SIZE_MAX));
  ASSERT_EQ(sub_->events.size(), 1u);
  EXPECT_EQ(sub_->events[0]->json(),
            R"({"type":"event","stream":"s/a","seq":2,"epoch":"ep1","ts":1700000000000,)"
            R"("data":{"i":1}})");
  EXPECT_EQ(TextFramePayload(sub_->events[0]->ws_frame()), sub_->events[0]->json());
}

// ---------------------------------------------------------------------------
// Hub
// ---------------------------------------------------------------------------

class RecordingWatcher final : public StreamWatcher {
 public:
  void OnStreamCreated(Stream* stream) override { created.push_back(stream->name()); }
  std::vector<std::string> created;
};

class HubTest : public ::testing::Test {
 protected:
  static HubOptions Options() {
    HubOptions o;
    o.history = Unbounded();
    return o;
  }
  static StreamRule Rule(std::string_view pattern, HistoryLimits limits) {
    auto p = Pattern::Parse(pattern);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return StreamRule{p.value(), limits, std::nullopt, std::nullopt, std::nullopt};
  }
  std::unique_ptr<Hub> MakeHub(HubOptions o) {
    return std::make_unique<Hub>(std::move(o), &clock_, &metrics_);
  }

  FakeClock clock_{kT0};
  MetricsRegistry metrics_;  // declared before hubs so it outlives them
};

TEST_F(HubTest, PublishCreatesTheStreamOnFirstUse) {
  auto hub = MakeHub(Options());
  EXPECT_EQ(hub->Find("a/b"), nullptr);
  EXPECT_EQ(hub->stream_count(), 0u);

  auto ack = hub->Publish("a/b", Datas(2));
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->stream, "a/b");
  EXPECT_EQ(ack->first_seq, 1u);
  EXPECT_EQ(ack->last_seq, 2u);
  EXPECT_FALSE(ack->epoch.empty());

  Stream* s = hub->Find("a/b");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->epoch(), ack->epoch);
  EXPECT_EQ(s->latest_seq(), 2u);
  EXPECT_EQ(hub->stream_count(), 1u);

  auto again = hub->Publish("a/b", Datas(1));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->first_seq, 3u);
  EXPECT_EQ(again->epoch, ack->epoch);
  EXPECT_EQ(hub->Find("a/b"), s);
  EXPECT_EQ(hub->stream_count(), 1u);
}

TEST_F(HubTest, EachStreamGetsItsOwnEpoch) {
  auto hub = MakeHub(Options());
  auto a = hub->Publish("a", Datas(1));
  auto b = hub->Publish("b", Datas(1));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->epoch, b->epoch);
}

TEST_F(HubTest, ListIsSortedByName) {
  auto hub = MakeHub(Options());
  for (std::string_view name : {"c", "a/z", "b", "a"})
    ASSERT_TRUE(hub->Publish(name, Datas(1)).ok());
  std::vector<std::string> names;
  for (Stream* s : hub->List()) names.push_back(s->name());
  EXPECT_EQ(names, (std::vector<std::string>{"a", "a/z", "b", "c"}));
}

TEST_F(HubTest, PublishCountsEventsAndBytes) {
  auto hub = MakeHub(Options());
  ASSERT_TRUE(hub->Publish("a", {"1", "22"}).ok());
  const std::string text = metrics_.Render();
  EXPECT_NE(text.find("livehub_events_published_total 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("livehub_bytes_published_total 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("livehub_streams_created_total 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("livehub_stream_latest_seq{stream=\"a\"} 2\n"), std::string::npos) << text;
}

TEST_F(HubTest, ClientsCannotPublishToSystemStreams) {
  auto hub = MakeHub(Options());
  auto r = hub->Publish("$sys/events", Datas(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(hub->Find("$sys/events"), nullptr);
}

TEST_F(HubTest, TheHubItselfMayPublishToSystemStreams) {
  auto hub = MakeHub(Options());
  auto r = hub->Publish("$sys/events", Datas(1), /*allow_system=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(hub->Find("$sys/events"), nullptr);
}

TEST_F(HubTest, SysEventPublishesToSysEvents) {
  auto hub = MakeHub(Options());
  hub->SysEvent("test_kind", JsonFields().Add("n", 1).Add("why", "a \"quoted\"\nline"));
  Stream* s = hub->Find("$sys/events");
  ASSERT_NE(s, nullptr);
  std::vector<EventPtr> out;
  bool has_more = false;
  uint64_t next = 0;
  ASSERT_TRUE(s->Read(1, 10, &out, &has_more, &next).ok());
  ASSERT_EQ(out.size(), 1u);
  // Fields are escaped: the event stays one valid JSON object.
  EXPECT_EQ(out[0]->data(), R"({"event":"test_kind","n":1,"why":"a \"quoted\"\nline"})");
}

TEST_F(HubTest, PublishRejectsBadNames) {
  auto hub = MakeHub(Options());
  for (std::string_view name : {"", "a//b", "a/", "a b", "a$", "$sys/"}) {
    auto r = hub->Publish(name, Datas(1), /*allow_system=*/true);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(r.status().reason(), "bad_stream_name") << name;
  }
  EXPECT_EQ(hub->stream_count(), 0u);
}

TEST_F(HubTest, PublishRejectsAnEmptyBatchWithoutCreatingTheStream) {
  auto hub = MakeHub(Options());
  auto r = hub->Publish("a", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(hub->Find("a"), nullptr);
}

TEST_F(HubTest, EnforcesMaxStreams) {
  HubOptions o = Options();
  o.max_streams = 2;
  auto hub = MakeHub(o);
  ASSERT_TRUE(hub->Publish("a", Datas(1)).ok());
  ASSERT_TRUE(hub->Publish("b", Datas(1)).ok());

  auto r = hub->Publish("c", Datas(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(r.status().reason(), "too_many_streams");
  EXPECT_NE(r.status().message().find("max_streams is 2"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(hub->Find("c"), nullptr);
  EXPECT_EQ(hub->stream_count(), 2u);

  // Existing streams still accept events.
  EXPECT_TRUE(hub->Publish("a", Datas(1)).ok());
  EXPECT_NE(
      metrics_.Render().find("livehub_publish_rejected_total{reason=\"too_many_streams\"} 1\n"),
      std::string::npos);
}

TEST_F(HubTest, FirstMatchingStreamRuleSetsHistoryLimits) {
  HubOptions o = Options();
  o.rules.push_back(Rule("debug/*", KeepLast(2)));
  o.rules.push_back(Rule("debug/**", KeepLast(4)));
  o.rules.push_back(Rule("market/**", KeepLast(3)));
  auto hub = MakeHub(o);
  for (std::string_view name : {"debug/x", "debug/x/y", "market/a/b", "other"}) {
    ASSERT_TRUE(hub->Publish(name, Datas(10)).ok());
  }
  EXPECT_EQ(hub->Find("debug/x")->first_seq(), 9u);     // debug/*: last 2
  EXPECT_EQ(hub->Find("debug/x/y")->first_seq(), 7u);   // debug/**: last 4
  EXPECT_EQ(hub->Find("market/a/b")->first_seq(), 8u);  // market/**: last 3
  EXPECT_EQ(hub->Find("other")->first_seq(), 1u);       // default: all
}

TEST_F(HubTest, EvictExpiredAppliesEachStreamsAgeLimit) {
  HubOptions o = Options();
  HistoryLimits short_lived = Unbounded();
  short_lived.max_age_ms = 1000;
  o.rules.push_back(Rule("fast/*", short_lived));
  auto hub = MakeHub(o);
  ASSERT_TRUE(hub->Publish("fast/a", Datas(3)).ok());
  ASSERT_TRUE(hub->Publish("slow", Datas(3)).ok());
  clock_.AdvanceMs(1001);
  hub->EvictExpired();
  EXPECT_EQ(hub->Find("fast/a")->first_seq(), 4u);
  EXPECT_EQ(hub->Find("slow")->first_seq(), 1u);
  EXPECT_NE(metrics_.Render().find("livehub_history_evicted_total{reason=\"age\"} 3\n"),
            std::string::npos);
}

TEST_F(HubTest, WatchReportsExistingMatchesThroughTheCallback) {
  auto hub = MakeHub(Options());
  for (std::string_view name : {"a/1", "a/2", "b/1"})
    ASSERT_TRUE(hub->Publish(name, Datas(1)).ok());
  auto watcher = std::make_shared<RecordingWatcher>();
  std::vector<std::string> existing;
  hub->Watch(Pattern::Parse("a/*").value(), watcher,
             [&](Stream* s) { existing.push_back(s->name()); });
  std::sort(existing.begin(), existing.end());
  EXPECT_EQ(existing, (std::vector<std::string>{"a/1", "a/2"}));
  EXPECT_TRUE(watcher->created.empty());
}

TEST_F(HubTest, WatchReportsLaterMatchingStreamsExactlyOnce) {
  auto hub = MakeHub(Options());
  ASSERT_TRUE(hub->Publish("a/1", Datas(1)).ok());
  auto watcher = std::make_shared<RecordingWatcher>();
  std::vector<std::string> existing;
  hub->Watch(Pattern::Parse("a/*").value(), watcher,
             [&](Stream* s) { existing.push_back(s->name()); });

  ASSERT_TRUE(hub->Publish("a/2", Datas(1)).ok());
  ASSERT_TRUE(hub->Publish("a/2", Datas(3)).ok());
  ASSERT_TRUE(hub->Publish("b/2", Datas(1)).ok());
  ASSERT_TRUE(hub->Publish("a/1", Datas(1)).ok());
  ASSERT_TRUE(hub->Publish("a/3", Datas(1)).ok());

  EXPECT_EQ(existing, (std::vector<std::string>{"a/1"}));
  EXPECT_EQ(watcher->created, (std::vector<std::string>{"a/2", "a/3"}));
}

TEST_F(HubTest, WatchOfAnExactNameCatchesTheStreamWhenItIsCreated) {
  auto hub = MakeHub(Options());
  auto watcher = std::make_shared<RecordingWatcher>();
  int existing = 0;
  hub->Watch(Pattern::Parse("x/y").value(), watcher, [&](Stream*) { ++existing; });
  ASSERT_TRUE(hub->Publish("x/y", Datas(1)).ok());
  ASSERT_TRUE(hub->Publish("x/y", Datas(1)).ok());
  ASSERT_TRUE(hub->Publish("x/z", Datas(1)).ok());
  EXPECT_EQ(existing, 0);
  EXPECT_EQ(watcher->created, (std::vector<std::string>{"x/y"}));

  auto second = std::make_shared<RecordingWatcher>();
  hub->Watch(Pattern::Parse("x/y").value(), second, [&](Stream*) { ++existing; });
  EXPECT_EQ(existing, 1);
  EXPECT_TRUE(second->created.empty());
}

TEST_F(HubTest, WildcardWatchDoesNotSeeSystemStreams) {
  auto hub = MakeHub(Options());
  auto watcher = std::make_shared<RecordingWatcher>();
  int existing = 0;
  hub->Watch(Pattern::Parse("**").value(), watcher, [&](Stream*) { ++existing; });
  ASSERT_TRUE(hub->Publish("$sys/events", Datas(1), /*allow_system=*/true).ok());
  ASSERT_TRUE(hub->Publish("data", Datas(1)).ok());
  EXPECT_EQ(watcher->created, (std::vector<std::string>{"data"}));

  auto sys = std::make_shared<RecordingWatcher>();
  std::vector<std::string> sys_existing;
  hub->Watch(Pattern::Parse("$sys/**").value(), sys,
             [&](Stream* s) { sys_existing.push_back(s->name()); });
  EXPECT_EQ(sys_existing, (std::vector<std::string>{"$sys/events"}));
}

TEST_F(HubTest, UnwatchStopsNotifications) {
  auto hub = MakeHub(Options());
  auto watcher = std::make_shared<RecordingWatcher>();
  auto other = std::make_shared<RecordingWatcher>();
  uint64_t id = hub->Watch(Pattern::Parse("a/*").value(), watcher, [](Stream*) {});
  uint64_t other_id = hub->Watch(Pattern::Parse("a/*").value(), other, [](Stream*) {});
  EXPECT_NE(id, other_id);
  ASSERT_TRUE(hub->Publish("a/1", Datas(1)).ok());
  hub->Unwatch(id);
  ASSERT_TRUE(hub->Publish("a/2", Datas(1)).ok());
  EXPECT_EQ(watcher->created, (std::vector<std::string>{"a/1"}));
  EXPECT_EQ(other->created, (std::vector<std::string>{"a/1", "a/2"}));
}

TEST_F(HubTest, AWatcherThatIsGoneIsSkipped) {
  auto hub = MakeHub(Options());
  auto watcher = std::make_shared<RecordingWatcher>();
  hub->Watch(Pattern::Parse("a/*").value(), watcher, [](Stream*) {});
  watcher.reset();
  EXPECT_TRUE(hub->Publish("a/1", Datas(1)).ok());
}

}  // namespace
}  // namespace livehub
