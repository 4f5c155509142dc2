// OutboundQueue: byte accounting, drop_oldest with its gap ranges, batches
// and the disconnect release, without sockets or threads.
#include "fanout/outbound_queue.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "stream/stream.h"

namespace livehub {
namespace {

class OutboundQueueTest : public ::testing::Test {
 protected:
  OutboundQueueTest()
      : a_("s/a", "ep1", HistoryLimits{}, &clock_),
        b_("s/b", "ep2", HistoryLimits{}, &clock_),
        queued_(metrics_.GetGauge("outbound_queue_bytes", "")),
        drops_(metrics_.GetCounter("drops_total", "", "reason=\"slow_client\"")) {}

  EventPtr Ev(Stream* s, uint64_t seq, size_t payload = 10) {
    return MakeEvent(s, s->name(), s->epoch(), seq, 0, 0, "\"" + std::string(payload, 'x') + "\"");
  }
  // A queue whose budget holds about `events` events of the default size.
  std::unique_ptr<OutboundQueue> Queue(size_t events) {
    return std::make_unique<OutboundQueue>(events * Ev(&a_, 1)->charge(), queued_, drops_);
  }
  static std::vector<std::string> Texts(const std::vector<OutItem>& items) {
    std::vector<std::string> out;
    for (const OutItem& it : items) {
      out.push_back(it.event ? "event " + std::to_string(it.event->seq) : it.ctl->text);
    }
    return out;
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  Stream a_;
  Stream b_;
  Gauge* queued_;
  Counter* drops_;
};

TEST_F(OutboundQueueTest, BytesCountPendingInFlightAndHeldAndFollowTheGauge) {
  auto q = Queue(100);
  const size_t c = Ev(&a_, 1)->charge();
  q->Push(OutItem::ForEvent(Ev(&a_, 1)));
  q->Push(OutItem::ForControl("pong", "{\"type\":\"pong\"}"));
  q->Hold(c);
  const size_t control = OutItem::ControlCharge(15);
  EXPECT_EQ(q->bytes(), 2 * c + control);
  EXPECT_EQ(q->held_bytes(), c);
  EXPECT_EQ(queued_->value(), static_cast<int64_t>(q->bytes()));
  q->CheckInvariant();

  std::vector<OutItem> batch;
  EXPECT_TRUE(q->TakeBatch(&batch, 1024, 1 << 20));  // carries an event
  EXPECT_EQ(batch.size(), 2u);
  EXPECT_EQ(q->inflight_bytes(), c + control);
  EXPECT_EQ(q->bytes(), 2 * c + control);  // in flight still counts
  q->CheckInvariant();
  q->CompleteBatch();
  EXPECT_EQ(q->bytes(), c);  // only the held event
  q->Unhold(c);
  EXPECT_EQ(q->bytes(), 0u);
  EXPECT_EQ(queued_->value(), 0);
  q->CheckInvariant();
}

TEST_F(OutboundQueueTest, ABatchOfRepliesOnlyDoesNotCarryEvents) {
  auto q = Queue(100);
  q->Push(OutItem::ForControl("subscribed", "{}"));
  q->Push(OutItem::ForRaw("raw"));
  std::vector<OutItem> batch;
  EXPECT_FALSE(q->TakeBatch(&batch, 1024, 1 << 20));
}

TEST_F(OutboundQueueTest, DropOldestFreesHalfTheBudgetAndOwesOneGapPerContiguousRange) {
  auto q = Queue(10);
  q->Push(OutItem::ForControl("subscribed", "{\"type\":\"subscribed\"}"));
  for (uint64_t seq = 1; seq <= 4; ++seq) q->Push(OutItem::ForEvent(Ev(&a_, seq)));
  q->Push(OutItem::ForEvent(Ev(&b_, 7)));
  for (uint64_t seq = 5; seq <= 8; ++seq) q->Push(OutItem::ForEvent(Ev(&a_, seq)));
  ASSERT_FALSE(q->Fits(2 * Ev(&a_, 9)->charge()));

  q->DropOldest(Ev(&a_, 9)->charge());
  EXPECT_FALSE(q->OverDropTarget(Ev(&a_, 9)->charge()));
  q->CheckInvariant();
  // The oldest events went; the reply stayed; the newest survive.
  std::vector<OutItem> batch;
  q->TakeBatch(&batch, 1024, 1 << 20);
  std::vector<std::string> texts = Texts(batch);
  ASSERT_GE(texts.size(), 3u);
  // Owed gaps come first: every queued event of their stream is newer.
  // Here s/a lost 1..5 (contiguous in s/a, whatever s/b lost in between).
  EXPECT_EQ(
      texts[0],
      R"({"type":"gap","stream":"s/a","epoch":"ep1","from_seq":1,"to_seq":5,"reason":"slow_client"})");
  EXPECT_EQ(
      texts[1],
      R"({"type":"gap","stream":"s/b","epoch":"ep2","from_seq":7,"to_seq":7,"reason":"slow_client"})");
  EXPECT_EQ(texts[2], R"({"type":"subscribed"})");
  // What survives is the newest of s/a, in order, right after the gap.
  EXPECT_EQ(std::vector<std::string>(texts.begin() + 3, texts.end()),
            (std::vector<std::string>{"event 6", "event 7", "event 8"}));
  EXPECT_EQ(drops_->value(), 6u);  // every seq is in a gap or delivered
  EXPECT_EQ(batch[0].ctl->stream, &a_);
  EXPECT_EQ(batch[0].ctl->seq, 5u);  // the SSE cursor moves past the gap
  q->CompleteBatch();
  q->CheckInvariant();
  EXPECT_EQ(q->bytes(), 0u);
}

TEST_F(OutboundQueueTest, DroppedSeqsExtendTheirStreamsLastRangeOnlyWhenContiguous) {
  auto q = Queue(10);
  q->AddDropped(&a_, 3);
  q->AddDropped(&b_, 1);
  q->AddDropped(&a_, 4);
  q->AddDropped(&a_, 6);
  std::vector<OutItem> batch;
  q->TakeBatch(&batch, 1024, 1 << 20);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_NE(batch[0].ctl->text.find("\"from_seq\":3,\"to_seq\":4"), std::string::npos);
  EXPECT_NE(batch[1].ctl->text.find("\"stream\":\"s/b\",\"epoch\":\"ep2\",\"from_seq\":1"),
            std::string::npos);
  EXPECT_NE(batch[2].ctl->text.find("\"from_seq\":6,\"to_seq\":6"), std::string::npos);
  EXPECT_EQ(drops_->value(), 4u);
}

TEST_F(OutboundQueueTest, AMaxHzBatchIsDroppedWithEveryEventItCarries) {
  auto q = Queue(4);
  OutItem batch = OutItem::ForControl("batch", "{\"type\":\"batch\"}", &a_, 3);
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    batch.ctl->batch.push_back(Ev(&a_, seq));
    batch.ctl->batch_charge += Ev(&a_, seq)->charge();
  }
  q->Push(std::move(batch));
  q->DropOldest(q->budget());
  EXPECT_EQ(q->pending_items(), 0u);
  EXPECT_EQ(q->bytes(), 0u);
  std::vector<OutItem> out;
  q->TakeBatch(&out, 1024, 1 << 20);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].ctl->text.find("\"from_seq\":1,\"to_seq\":3"), std::string::npos);
}

TEST_F(OutboundQueueTest, BatchesStopAtTheirItemAndByteLimitsAndKeepOrder) {
  auto q = Queue(100);
  for (uint64_t seq = 1; seq <= 10; ++seq) q->Push(OutItem::ForEvent(Ev(&a_, seq)));
  EXPECT_TRUE(q->FullBatch(10, 1 << 20));
  EXPECT_FALSE(q->FullBatch(11, 1 << 20));
  std::vector<OutItem> batch;
  q->TakeBatch(&batch, 4, 1 << 20);
  EXPECT_EQ(Texts(batch), (std::vector<std::string>{"event 1", "event 2", "event 3", "event 4"}));
  q->CompleteBatch();
  batch.clear();
  q->TakeBatch(&batch, 1024, 1);  // one item always goes, however large
  EXPECT_EQ(Texts(batch), std::vector<std::string>{"event 5"});
  q->CompleteBatch();
  EXPECT_EQ(q->pending_items(), 5u);
  q->CheckInvariant();
}

TEST_F(OutboundQueueTest, DisconnectReleasesWhatIsPendingButNotWhatIsInFlight) {
  auto q = Queue(100);
  for (uint64_t seq = 1; seq <= 4; ++seq) q->Push(OutItem::ForEvent(Ev(&a_, seq)));
  std::vector<OutItem> batch;
  q->TakeBatch(&batch, 2, 1 << 20);
  q->ClearPending();
  EXPECT_EQ(q->pending_items(), 0u);
  EXPECT_EQ(q->bytes(), q->inflight_bytes());
  q->CheckInvariant();
  q->Release();
  EXPECT_EQ(q->bytes(), 0u);
  EXPECT_EQ(queued_->value(), 0);
}

TEST_F(OutboundQueueTest, DropsAreReportedAtMostOnceASecond) {
  auto q = Queue(10);
  const int64_t s = 1'000'000'000;
  EXPECT_EQ(q->TakeDropReport(5 * s), 0u);  // nothing dropped
  q->AddDropped(&a_, 1);
  q->AddDropped(&a_, 2);
  EXPECT_EQ(q->TakeDropReport(5 * s), 2u);
  q->AddDropped(&a_, 3);
  EXPECT_EQ(q->TakeDropReport(5 * s + s / 2), 0u);  // within the second
  EXPECT_EQ(q->TakeDropReport(6 * s + 1), 1u);
}

TEST_F(OutboundQueueTest, AQueueGoneWithBytesChargedLeavesTheGaugeAtZero) {
  {
    auto q = Queue(100);
    q->Push(OutItem::ForEvent(Ev(&a_, 1)));
    q->Hold(100);
  }
  EXPECT_EQ(queued_->value(), 0);
}

}  // namespace
}  // namespace livehub

namespace livehub {
namespace {

TEST_F(OutboundQueueTest, ADroppedRangeOfLogEventsIsOneGapAndCountsEachEvent) {
  auto q = Queue(100);
  q->AddDropped(&a_, 3);
  q->AddDroppedRange(&a_, 4, 9);    // contiguous: extends 3..3
  q->AddDroppedRange(&b_, 1, 2);    // another stream: its own range
  q->AddDroppedRange(&a_, 12, 12);  // not contiguous: a new range
  EXPECT_EQ(drops_->value(), 1u + 6 + 2 + 1);
  std::vector<OutItem> batch;
  q->TakeBatch(&batch, 1024, 1 << 20);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_NE(
      batch[0].ctl->text.find("\"stream\":\"s/a\",\"epoch\":\"ep1\",\"from_seq\":3,\"to_seq\":9"),
      std::string::npos)
      << batch[0].ctl->text;
  EXPECT_NE(batch[1].ctl->text.find("\"from_seq\":1,\"to_seq\":2"), std::string::npos);
  EXPECT_NE(batch[2].ctl->text.find("\"from_seq\":12,\"to_seq\":12"), std::string::npos);
  q->CompleteBatch();
  q->CheckInvariant();
}

TEST_F(OutboundQueueTest, EventsReadFromALogAreChargedInFlightUntilTheBatchCompletes) {
  std::atomic<size_t> mirror{0};
  auto q = std::make_unique<OutboundQueue>(100 * Ev(&a_, 1)->charge(), queued_, drops_, &mirror);
  q->Push(OutItem::ForControl("pong", "{\"type\":\"pong\"}"));
  std::vector<OutItem> batch;
  q->TakeBatch(&batch, 1024, 1 << 20);
  const size_t control = q->inflight_bytes();
  q->AddInflight(500);  // the write loop read 500 bytes of events from a log
  EXPECT_EQ(q->inflight_bytes(), control + 500);
  EXPECT_EQ(q->bytes(), control + 500);
  EXPECT_EQ(mirror.load(), q->bytes());  // the lock-free copy follows
  EXPECT_EQ(queued_->value(), static_cast<int64_t>(q->bytes()));
  q->CheckInvariant();
  q->CompleteBatch();
  EXPECT_EQ(q->bytes(), 0u);
  EXPECT_EQ(mirror.load(), 0u);
  EXPECT_EQ(queued_->value(), 0);
}

TEST_F(OutboundQueueTest, AFullBatchCountsBytesWaitingElsewhere) {
  auto q = Queue(100);
  q->Push(OutItem::ForEvent(Ev(&a_, 1)));
  const size_t c = q->bytes();
  EXPECT_FALSE(q->FullBatch(1024, 4 * c));
  EXPECT_TRUE(q->FullBatch(1024, 4 * c, 3 * c));  // unread log events make it full
}

}  // namespace
}  // namespace livehub
