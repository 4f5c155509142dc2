// The stream's log read by cursors (AttachMode::kLogCursor): wake-ups,
// reads, slow-client drops, retention past history eviction, and a
// publisher racing a reader (run under make tsan).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "stream/event.h"
#include "stream/history_ring.h"
#include "stream/stream.h"

namespace livehub {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;

HistoryLimits KeepLast(size_t n) {
  HistoryLimits l;
  l.max_events = n;
  l.max_bytes = size_t{1} << 40;
  l.max_age_ms = int64_t{1} << 50;
  return l;
}

std::vector<std::string> Datas(int n, int first = 0) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("{\"i\":" + std::to_string(first + i) + "}");
  return out;
}

// A cursor reader that records its wake-ups and drops, and asks for the
// verdict it is told to give. Never calls back into the stream.
class CursorReader final : public Subscriber {
 public:
  void OnEvent(const EventPtr& ev) override { pushed.push_back(ev->seq); }
  void OnGap(Stream*, uint64_t, uint64_t, std::string_view) override {}
  LogVerdict OnLogAppend(Stream*, size_t added_bytes, bool wake) override {
    unread += added_bytes;
    appends.fetch_add(1);
    if (wake) wakes.fetch_add(1);
    return verdict;
  }
  void OnLogDropped(Stream*, uint64_t from_seq, uint64_t to_seq, size_t bytes,
                    bool report) override {
    unread -= bytes;
    drops.push_back({from_seq, to_seq});
    reported = report;
  }

  std::vector<uint64_t> pushed;  // catch-up (kPush hand-over)
  std::atomic<size_t> unread{0};
  std::atomic<int> appends{0};
  std::atomic<int> wakes{0};
  LogVerdict verdict;
  std::vector<std::pair<uint64_t, uint64_t>> drops;
  bool reported = false;
};

class StreamLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<Stream> MakeStream(HistoryLimits limits) {
    return std::make_unique<Stream>("s/log", "ep1", limits, &clock_);
  }
  // Attaches a cursor at the live edge and makes it live.
  std::shared_ptr<Attachment> AttachLive(Stream* s, const std::shared_ptr<CursorReader>& r) {
    auto a = s->Attach(r, 0, nullptr, AttachMode::kLogCursor);
    EXPECT_TRUE(s->CatchUp(a.get(), SIZE_MAX));
    return a;
  }
  static std::vector<uint64_t> Read(Stream* s, Attachment* a, size_t max_items, LogRead* r) {
    std::vector<EventPtr> out;
    *r = s->ReadLog(a, max_items, SIZE_MAX, &out);
    std::vector<uint64_t> seqs;
    for (const EventPtr& e : out) seqs.push_back(e->seq);
    return seqs;
  }
  FakeClock clock_{kT0};
};

TEST_F(StreamLogTest, AppendsWakeTheReaderOnceUntilItCatchesUp) {
  auto s = MakeStream(KeepLast(100));
  auto r = std::make_shared<CursorReader>();
  auto a = AttachLive(s.get(), r);
  s->Append(Datas(1));
  s->Append(Datas(2));
  EXPECT_EQ(r->appends.load(), 2);
  EXPECT_EQ(r->wakes.load(), 1);   // the second append found it signalled
  EXPECT_TRUE(r->pushed.empty());  // nothing handed over per event
  EXPECT_EQ(a->unread_bytes, r->unread.load());

  LogRead read;
  EXPECT_EQ(Read(s.get(), a.get(), 100, &read), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(read.caught_up);
  EXPECT_EQ(read.bytes, r->unread.load());
  EXPECT_EQ(a->unread_bytes, 0u);
  s->Append(Datas(1));
  EXPECT_EQ(r->wakes.load(), 2);  // caught up: the next append wakes it again
}

TEST_F(StreamLogTest, AReadStopsAtItsLimitAndStaysSignalled) {
  auto s = MakeStream(KeepLast(100));
  auto r = std::make_shared<CursorReader>();
  auto a = AttachLive(s.get(), r);
  s->Append(Datas(5));
  LogRead read;
  EXPECT_EQ(Read(s.get(), a.get(), 2, &read), (std::vector<uint64_t>{1, 2}));
  EXPECT_FALSE(read.caught_up);
  s->Append(Datas(1));
  EXPECT_EQ(r->wakes.load(), 1);  // still signalled: no second wake
  EXPECT_EQ(Read(s.get(), a.get(), 100, &read), (std::vector<uint64_t>{3, 4, 5, 6}));
  EXPECT_TRUE(read.caught_up);
}

TEST_F(StreamLogTest, CatchUpIsPushedThenTheCursorTakesOver) {
  auto s = MakeStream(KeepLast(100));
  s->Append(Datas(3));
  auto r = std::make_shared<CursorReader>();
  auto a = s->Attach(r, 2, nullptr, AttachMode::kLogCursor);
  s->Append(Datas(1));  // not live yet: not a cursor append
  EXPECT_EQ(r->appends.load(), 0);
  EXPECT_TRUE(s->CatchUp(a.get(), SIZE_MAX));
  EXPECT_EQ(r->pushed, (std::vector<uint64_t>{2, 3, 4}));
  s->Append(Datas(1));
  LogRead read;
  EXPECT_EQ(Read(s.get(), a.get(), 100, &read), (std::vector<uint64_t>{5}));
}

TEST_F(StreamLogTest, UnreadEventsOutliveHistoryEvictionWithoutAGap) {
  auto s = MakeStream(KeepLast(2));
  auto r = std::make_shared<CursorReader>();
  auto a = AttachLive(s.get(), r);
  s->Append(Datas(6));
  EXPECT_EQ(s->first_seq(), 5u);  // history moved on...
  LogRead read;
  // ...but the cursor still reads everything it has not read.
  EXPECT_EQ(Read(s.get(), a.get(), 100, &read), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_GT(s->GetStats().retained_bytes, 0u);
  // Once read, the retained events go at the next append.
  s->Append(Datas(1));
  EXPECT_EQ(s->GetStats().retained_bytes, 0u);
  EXPECT_EQ(s->first_seq(), 6u);
  EXPECT_EQ(s->GetStats().history_events, 2u);
}

TEST_F(StreamLogTest, ADetachedReaderNoLongerRetainsAndReadsNothing) {
  auto s = MakeStream(KeepLast(1));
  auto r = std::make_shared<CursorReader>();
  auto a = AttachLive(s.get(), r);
  s->Append(Datas(3));
  EXPECT_EQ(s->Detach(a), r->unread.load());  // the unread bytes are handed back
  EXPECT_EQ(a->unread_bytes, 0u);
  LogRead read;
  EXPECT_TRUE(Read(s.get(), a.get(), 100, &read).empty());
  EXPECT_TRUE(read.caught_up);
  s->Append(Datas(1));  // trims what only the detached reader retained
  EXPECT_EQ(s->first_seq(), 4u);
}

TEST_F(StreamLogTest, AVerdictDropsTheOldestUnreadAndReportsTheRange) {
  auto s = MakeStream(KeepLast(100));
  auto r = std::make_shared<CursorReader>();
  auto a = AttachLive(s.get(), r);
  s->Append(Datas(4));
  const size_t one = a->unread_bytes / 4;  // equal-sized events
  r->verdict.drop_bytes = 2 * one;         // the next append asks to drop two events' worth
  s->Append(Datas(1));
  ASSERT_EQ(r->drops.size(), 1u);
  EXPECT_EQ(r->drops[0], (std::pair<uint64_t, uint64_t>{1, 2}));
  EXPECT_TRUE(r->reported);
  EXPECT_EQ(a->unread_bytes, r->unread.load());
  r->verdict = {};
  LogRead read;
  EXPECT_EQ(Read(s.get(), a.get(), 100, &read), (std::vector<uint64_t>{3, 4, 5}));
}

TEST_F(StreamLogTest, ASilentVerdictDropsEverythingUnread) {
  auto s = MakeStream(KeepLast(100));
  auto r = std::make_shared<CursorReader>();
  auto a = AttachLive(s.get(), r);
  s->Append(Datas(2));
  r->verdict = LogVerdict{LogVerdict::kAll, false};
  s->Append(Datas(1));
  ASSERT_EQ(r->drops.size(), 1u);
  EXPECT_EQ(r->drops[0], (std::pair<uint64_t, uint64_t>{1, 3}));
  EXPECT_FALSE(r->reported);
  EXPECT_EQ(a->unread_bytes, 0u);
  EXPECT_EQ(r->unread.load(), 0u);
}

TEST_F(StreamLogTest, PushAndCursorSubscribersSeeTheSameEvents) {
  auto s = MakeStream(KeepLast(100));
  auto pushed = std::make_shared<CursorReader>();
  auto p = s->Attach(pushed, 0);  // kPush
  ASSERT_TRUE(s->CatchUp(p.get(), SIZE_MAX));
  auto r = std::make_shared<CursorReader>();
  auto a = AttachLive(s.get(), r);
  s->Append(Datas(3));
  LogRead read;
  EXPECT_EQ(Read(s.get(), a.get(), 100, &read), pushed->pushed);
  EXPECT_EQ(pushed->appends.load(), 0);
}

// A publisher thread and a reader thread: every event is read exactly once,
// in order, and the ring never grows past what is unread plus history.
TEST_F(StreamLogTest, AReaderRacingAPublisherReadsEveryEventOnceInOrder) {
  auto s = MakeStream(KeepLast(4));
  auto r = std::make_shared<CursorReader>();
  auto a = AttachLive(s.get(), r);
  constexpr int kEvents = 20'000;
  std::thread publisher([&] {
    for (int i = 0; i < kEvents; i += 10) s->Append(Datas(10, i));
  });
  std::vector<uint64_t> seen;
  seen.reserve(kEvents);
  std::vector<EventPtr> out;
  while (seen.size() < static_cast<size_t>(kEvents)) {
    out.clear();
    s->ReadLog(a.get(), 64, SIZE_MAX, &out);
    for (const EventPtr& e : out) seen.push_back(e->seq);
    if (out.empty()) std::this_thread::yield();
  }
  publisher.join();
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], i + 1);
  EXPECT_EQ(a->unread_bytes, 0u);
  s->Append(Datas(1));
  EXPECT_EQ(s->GetStats().history_events, 4u);
  EXPECT_EQ(s->GetStats().retained_bytes, 0u);
}

}  // namespace
}  // namespace livehub
