// SubscriberSession's write loop without sockets (issue 17): a FakeSession
// whose byte sink the test scripts (take everything, take some, would_block
// and complete later, fail), on an io_context the test polls on its own
// thread. No WritePacer is installed here, so batches are written at once.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "codec/json_value.h"
#include "core/clock.h"
#include "fanout/admission.h"
#include "fanout/fanout_options.h"
#include "fanout/session.h"
#include "metrics/metrics.h"
#include "stream/hub.h"

namespace livehub {
namespace {

using boost::system::error_code;

// How the sink answers a non-blocking write (WriteBytesNow): the bytes it
// takes of the `offered` ones; setting `ec` takes none.
using SinkFn = std::function<size_t(size_t offered, error_code& ec)>;

SinkFn TakeAll() {
  return [](size_t offered, error_code&) { return offered; };
}
SinkFn TakeSome(size_t n) {
  return [n](size_t offered, error_code&) { return std::min(n, offered); };
}
SinkFn WouldBlock() {
  return [](size_t, error_code& ec) {
    ec = boost::asio::error::would_block;
    return size_t{0};
  };
}
SinkFn Fail(error_code error) {
  return [error](size_t, error_code& ec) {
    ec = error;
    return size_t{0};
  };
}

// The first `limit` bytes the buffers point at, read now (as a kernel reads
// them when it takes them: a buffer left pointing at reused memory shows).
std::string Gather(std::span<const asio::const_buffer> bufs, size_t limit = SIZE_MAX) {
  std::string out;
  for (const asio::const_buffer& b : bufs) {
    const size_t n = std::min(b.size(), limit - out.size());
    out.append(static_cast<const char*>(b.data()), n);
    if (out.size() == limit) break;
  }
  return out;
}

// A transport with a trivial framing, each message ending in ';': an event
// is "E<seq>;", a control message its JSON and ";", raw bytes as they are
// (the close marker: "CLOSE <code> <reason>;").
// Thread safety: the test thread only (it is the session thread).
class FakeSession final : public SubscriberSession {
 public:
  FakeSession(FanoutContext* ctx, asio::io_context& ioc, tcp::socket socket)
      : SubscriberSession(ctx, ioc, std::move(socket)) {}

  using SubscriberSession::CloseAfterFlush;
  using SubscriberSession::closed_local;
  using SubscriberSession::CloseNow;
  using SubscriberSession::Subscribe;
  using SubscriberSession::write_in_flight;

  void SetSink(SinkFn sink) { sink_ = std::move(sink); }

  // Every byte the sink took, in order.
  const std::string& written() const { return written_; }
  // What each non-blocking write was offered: one entry per batch.
  const std::vector<std::string>& batches() const { return batches_; }
  // Writes started while an asynchronous one was still waiting (must stay 0).
  int overlapping_writes() const { return overlapping_; }

  // An asynchronous write waits for the test to complete it.
  bool async_waiting() const { return waiting_; }
  size_t async_bytes() const { return waiting_ ? Gather(waiting_bufs_).size() : 0; }
  // Completes the waiting write having taken its first `n` bytes.
  void CompleteAsync(size_t n) {
    ASSERT_TRUE(waiting_) << "no asynchronous write is waiting";
    ASSERT_GT(n, 0u);
    ASSERT_LE(n, async_bytes());
    waiting_ = false;
    written_ += Gather(waiting_bufs_, n);
    WrittenAsync({}, n);  // may start the next write at once
  }
  void CompleteAsyncAll() { CompleteAsync(async_bytes()); }
  void FailAsync(error_code ec) {
    ASSERT_TRUE(waiting_) << "no asynchronous write is waiting";
    waiting_ = false;
    WrittenAsync(ec, 0);
  }

 protected:
  // Events are copied into the scratch buffer; control and raw text is
  // written from the item itself (the batch keeps it until the write
  // completes), so a waiting batch mixes both kinds of buffers. Pieces
  // record scratch offsets until scratch stops growing.
  void EncodeBatch(std::vector<OutItem>& items, std::string* scratch,
                   std::vector<asio::const_buffer>* bufs) override {
    struct Piece {
      const char* ext;  // null: scratch[off, off + len)
      size_t off;
      size_t len;
    };
    std::vector<Piece> pieces;
    auto copy = [&](std::string_view s) {
      pieces.push_back({nullptr, scratch->size(), s.size()});
      scratch->append(s);
    };
    auto ext = [&](std::string_view s) { pieces.push_back({s.data(), 0, s.size()}); };
    for (const OutItem& it : items) {
      switch (it.kind) {
        case ItemKind::kEvent:
          copy("E" + std::to_string(it.event->seq) + ";");
          break;
        case ItemKind::kControl:
          ext(it.ctl->text);
          copy(";");
          break;
        case ItemKind::kRaw:
          ext(it.ctl->text);
          break;
      }
    }
    for (const Piece& p : pieces) {
      bufs->push_back(asio::buffer(p.ext ? p.ext : scratch->data() + p.off, p.len));
    }
  }
  void StartReading() override {}
  void OnTick(int64_t) override {}
  void SendClose(uint16_t code, std::string_view reason) override {
    EnqueueRaw("CLOSE " + std::to_string(code) + " " + std::string(reason) + ";");
  }
  const char* kind() const override { return "fake"; }

  size_t WriteBytesNow(std::span<const asio::const_buffer> bufs, error_code& ec) override {
    if (waiting_) ++overlapping_;
    std::string offered = Gather(bufs);
    const size_t n = sink_(offered.size(), ec);
    written_.append(offered, 0, n);
    batches_.push_back(std::move(offered));
    return n;
  }
  void AsyncWriteBytes(std::span<const asio::const_buffer> bufs) override {
    if (waiting_) ++overlapping_;
    waiting_ = true;
    waiting_bufs_ = bufs;
  }

 private:
  SinkFn sink_ = TakeAll();
  std::string written_;
  std::vector<std::string> batches_;
  int overlapping_ = 0;
  bool waiting_ = false;
  std::span<const asio::const_buffer> waiting_bufs_;
};

// ----- Reading the wire -----

// The messages on the wire, without their ';'.
std::vector<std::string> Messages(std::string_view bytes) {
  std::vector<std::string> out;
  while (!bytes.empty()) {
    const size_t end = bytes.find(';');
    out.emplace_back(bytes.substr(0, end));
    if (end == std::string_view::npos) break;
    bytes.remove_prefix(end + 1);
  }
  return out;
}

bool IsEvent(const std::string& m) { return m.size() > 1 && m[0] == 'E'; }
uint64_t SeqOf(const std::string& m) { return std::stoull(m.substr(1)); }

// A control message's JSON (null for an event or raw bytes).
JsonValue Json(const std::string& m) {
  if (m.empty() || m[0] != '{') return JsonValue();
  auto v = JsonValue::Parse(m);
  return v.ok() ? *v : JsonValue();
}
std::string TypeOf(const std::string& m) {
  const JsonValue v = Json(m);
  const JsonValue* type = v.Find("type");
  return type ? type->string_value() : "";
}
uint64_t Field(const JsonValue& v, std::string_view key) {
  const JsonValue* f = v.Find(key);
  return f ? static_cast<uint64_t>(f->int_value()) : 0;
}

// The seqs of every event delivered, those inside `batch` messages included.
std::vector<uint64_t> Seqs(std::string_view bytes) {
  std::vector<uint64_t> out;
  for (const std::string& m : Messages(bytes)) {
    if (IsEvent(m)) out.push_back(SeqOf(m));
    if (TypeOf(m) == "batch") {
      const JsonValue batch = Json(m);
      for (const JsonValue& e : batch.Find("events")->array()) out.push_back(Field(e, "seq"));
    }
  }
  return out;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

constexpr char kStream[] = "s/a";
// Small, so a cursor that falls behind reads events history has evicted
// (retained for it: see "The stream's log" in docs/architecture.md).
constexpr size_t kHistoryEvents = 16;

class SessionWriteTest : public ::testing::Test {
 protected:
  SessionWriteTest() : hub_(Options(), &clock_, &metrics_), admission_(&ctx_, nullptr) {
    ctx_.hub = &hub_;
    ctx_.InitMetrics(&metrics_);
    ctx_.admission = &admission_;
  }
  // Every session closes, so the streams detach it (an attachment holds its
  // session: without a close both would leak), and what it held is released.
  ~SessionWriteTest() override {
    for (auto& s : sessions_) s->CloseNow("test over");
    Poll();
    EXPECT_EQ(ctx_.queued_bytes->value(), 0);
    EXPECT_EQ(ctx_.subscriptions->value(), 0);
  }

  static HubOptions Options() {
    HubOptions o;
    o.history.max_events = kHistoryEvents;
    return o;
  }

  // Runs what is ready on the session thread (kicks, posted closes).
  void Poll() {
    ioc_.restart();
    ioc_.poll();
  }

  // Set ctx_.options first: the session's queue takes its budget.
  std::shared_ptr<FakeSession> NewSession() {
    sessions_.push_back(std::make_shared<FakeSession>(&ctx_, ioc_, tcp::socket(ioc_)));
    return sessions_.back();
  }

  // A session subscribed live to stream `name` (created by one event first if
  // it does not exist), its `subscribed` reply written.
  std::shared_ptr<FakeSession> SubscribedLive(std::string_view name = kStream, double max_hz = 0) {
    if (!hub_.Find(name)) Publish(1, name);
    auto s = NewSession();
    EXPECT_TRUE(s->Subscribe(1, {std::string(name)}, CursorMap{}, false, max_hz));
    Poll();
    const auto messages = Messages(s->written());
    EXPECT_EQ(messages.size(), 1u) << s->written();
    EXPECT_EQ(TypeOf(messages.at(0)), "subscribed");
    return s;
  }

  // `n` events, one publish each, with about `pad` bytes of data each.
  void Publish(int n, std::string_view name = kStream, size_t pad = 0) {
    for (int i = 0; i < n; ++i) PublishBatch(1, name, pad);
  }
  // `n` events in one publish (one append).
  void PublishBatch(int n, std::string_view name = kStream, size_t pad = 0) {
    std::vector<std::string> datas;
    for (int i = 0; i < n; ++i) {
      datas.push_back("{\"i\":" + std::to_string(i) + ",\"pad\":\"" + std::string(pad, 'x') +
                      "\"}");
    }
    ASSERT_TRUE(hub_.Publish(name, datas).ok());
  }

  Stream* stream() { return hub_.Find(kStream); }

  FakeClock clock_;
  MetricsRegistry metrics_;
  Hub hub_;
  FanoutContext ctx_;
  Admission admission_;
  asio::io_context ioc_;
  std::vector<std::shared_ptr<FakeSession>> sessions_;
};

// ----- Delivery -----

TEST_F(SessionWriteTest, LiveEventsFollowTheSubscribedReplyInOrderAndAreCounted) {
  auto s = SubscribedLive();  // the stream holds seq 1 already
  EXPECT_EQ(ctx_.writes->value(), 1u);
  PublishBatch(2);
  Publish(1);
  Poll();
  const auto messages = Messages(s->written());
  ASSERT_EQ(messages.size(), 4u) << s->written();
  EXPECT_EQ(TypeOf(messages[0]), "subscribed");
  EXPECT_EQ(std::vector<std::string>(messages.begin() + 1, messages.end()),
            (std::vector<std::string>{"E2", "E3", "E4"}));
  // The reply was one write; the three events, woken once, one more.
  EXPECT_EQ(s->batches().size(), 2u);
  EXPECT_EQ(ctx_.writes->value(), 2u);
  EXPECT_EQ(ctx_.deliveries->value(), 3u);
  EXPECT_EQ(ctx_.bytes_out->value(), s->written().size());
}

TEST_F(SessionWriteTest, AStreamCreatedAfterSubscribingIsDeliveredFromItsFirstEvent) {
  auto s = NewSession();
  ASSERT_TRUE(s->Subscribe(-1, {"s/new"}, CursorMap{}));
  Poll();
  PublishBatch(3, "s/new");  // created by this publish: caught up from seq 1
  Poll();
  Publish(1, "s/new");  // live, read from the log
  Poll();
  EXPECT_EQ(Seqs(s->written()), Range(1, 4)) << s->written();
  EXPECT_EQ(ctx_.deliveries->value(), 4u);
}

// ----- Partial and asynchronous writes -----

TEST_F(SessionWriteTest, APartialWriteContinuesWhereItStoppedAndLaterEventsWaitForTheNextBatch) {
  auto s = SubscribedLive();
  const size_t reply = s->written().size();
  s->SetSink(TakeSome(5));
  PublishBatch(3);  // E2;E3;E4; = 9 bytes
  Poll();
  EXPECT_EQ(s->written().substr(reply), "E2;E3");
  ASSERT_TRUE(s->async_waiting());
  EXPECT_EQ(s->async_bytes(), 4u);
  EXPECT_TRUE(s->write_in_flight());

  // Published while the write is in flight: no second write starts.
  PublishBatch(2);
  Poll();
  EXPECT_EQ(s->batches().size(), 2u);
  EXPECT_EQ(s->async_bytes(), 4u);

  s->CompleteAsync(1);  // ";"
  ASSERT_TRUE(s->async_waiting());
  EXPECT_EQ(s->async_bytes(), 3u);
  s->CompleteAsync(2);  // "E4"
  s->CompleteAsync(1);  // ";": done; the next batch starts at once
  ASSERT_EQ(s->batches().size(), 3u);
  EXPECT_EQ(s->batches()[1], "E2;E3;E4;");
  EXPECT_EQ(s->batches()[2], "E5;E6;");  // the in-flight ones, in the next batch
  ASSERT_TRUE(s->async_waiting());       // it took 5 of its 6 bytes
  s->CompleteAsyncAll();
  Poll();

  EXPECT_EQ(s->written().substr(reply), "E2;E3;E4;E5;E6;");
  EXPECT_FALSE(s->async_waiting());
  EXPECT_FALSE(s->write_in_flight());
  EXPECT_EQ(s->overlapping_writes(), 0);
  EXPECT_EQ(ctx_.writes->value(), 3u);  // a write counts once, however many pieces
  EXPECT_EQ(ctx_.deliveries->value(), 5u);
  EXPECT_EQ(ctx_.bytes_out->value(), s->written().size());
}

TEST_F(SessionWriteTest, AWaitingBatchKeepsItsBytesWhileAnotherSessionReusesTheThreadScratch) {
  Publish(9, "s/b");
  auto a = SubscribedLive();
  auto b = SubscribedLive("s/b");
  const size_t a_reply = a->written().size(), b_reply = b->written().size();
  a->SetSink(WouldBlock());
  PublishBatch(2);  // a: E2;E3; encoded into the thread's scratch, then waits
  Poll();
  ASSERT_TRUE(a->async_waiting());
  PublishBatch(3, "s/b");  // b: E10;E11;E12; written over the same scratch
  Poll();
  EXPECT_EQ(b->written().substr(b_reply), "E10;E11;E12;");
  a->CompleteAsyncAll();
  EXPECT_EQ(a->written().substr(a_reply), "E2;E3;");
}

TEST_F(SessionWriteTest, NothingIsLostOrDuplicatedAcrossFullPartialAndBlockedWrites) {
  // Small batches: a read often stops before the log's end and goes on in
  // the next batch.
  ctx_.options.write_batch_bytes = 2 << 10;
  auto s = SubscribedLive();
  const size_t reply = s->written().size();
  std::mt19937 rng(17);
  auto uniform = [&rng](size_t lo, size_t hi) {
    return std::uniform_int_distribution<size_t>(lo, hi)(rng);
  };
  int turn = 0;
  s->SetSink([&](size_t offered, error_code& ec) -> size_t {
    switch (turn++ % 3) {
      case 0:
        return offered;
      case 1:
        return offered > 1 ? uniform(1, offered - 1) : offered;
      default:
        ec = boost::asio::error::would_block;
        return 0;
    }
  });
  constexpr int kEvents = 1000;
  int published = 0;
  size_t max_retained = 0;
  while (published < kEvents) {
    const int n = std::min<int>(static_cast<int>(uniform(1, 20)), kEvents - published);
    PublishBatch(n);
    published += n;
    max_retained = std::max(max_retained, stream()->GetStats().retained_bytes);
    switch (uniform(0, 2)) {
      case 0:
        Poll();
        break;
      case 1:
        if (s->async_waiting()) s->CompleteAsync(uniform(1, s->async_bytes()));
        break;
      default:
        break;  // publish more before the session runs
    }
  }
  for (int i = 0; i < 100'000; ++i) {
    Poll();
    if (!s->async_waiting()) break;
    s->CompleteAsync(uniform(1, s->async_bytes()));
  }
  ASSERT_FALSE(s->async_waiting());

  EXPECT_EQ(Seqs(s->written()), Range(2, kEvents + 1));
  for (const std::string& m : Messages(s->written().substr(reply))) {
    ASSERT_TRUE(IsEvent(m)) << "not an event: " << m;
  }
  EXPECT_EQ(s->overlapping_writes(), 0);
  EXPECT_EQ(ctx_.deliveries->value(), static_cast<uint64_t>(kEvents));
  EXPECT_EQ(ctx_.bytes_out->value(), s->written().size());
  EXPECT_EQ(ctx_.writes->value(), s->batches().size());
  // The session fell behind history (16 events) and read on from the log.
  EXPECT_GT(max_retained, 0u);
}

TEST_F(SessionWriteTest, ALongBacklogIsWrittenInRoundsThatGiveTheThreadBack) {
  ctx_.options.write_batch_bytes = 1 << 10;  // a few events per batch
  auto s = SubscribedLive();
  const size_t reply_batches = s->batches().size();
  PublishBatch(100);
  ioc_.restart();
  ASSERT_EQ(ioc_.poll_one(), 1u);  // the kick: some batches at once, then it yields
  const size_t first_turn = Seqs(s->written()).size();
  EXPECT_GT(s->batches().size() - reply_batches, 1u);
  EXPECT_GT(first_turn, 0u);
  EXPECT_LT(first_turn, 100u);
  Poll();  // ...and is kicked again for the rest
  EXPECT_EQ(Seqs(s->written()), Range(2, 101));
}

// ----- Slow clients -----

TEST_F(SessionWriteTest, DropOldestSendsOneSlowClientGapForExactlyTheDroppedEvents) {
  ctx_.options.queue_bytes = 8 << 10;
  auto s = SubscribedLive();
  const size_t reply = s->written().size();
  s->SetSink(WouldBlock());  // E2 waits in flight, the rest piles up
  constexpr int kEvents = 200;
  size_t max_retained = 0;
  for (int i = 0; i < kEvents; ++i) {
    Publish(1, kStream, 100);
    Poll();
    max_retained = std::max(max_retained, stream()->GetStats().retained_bytes);
  }
  // Unread events past history stay readable, but no more than the budget.
  EXPECT_GT(max_retained, 0u);
  EXPECT_LE(max_retained, ctx_.options.queue_bytes);

  s->SetSink(TakeAll());
  s->CompleteAsyncAll();
  Poll();
  ASSERT_FALSE(s->async_waiting());

  const auto messages = Messages(s->written().substr(reply));
  ASSERT_GE(messages.size(), 3u) << s->written();
  EXPECT_EQ(messages[0], "E2");
  std::vector<JsonValue> gaps;
  for (const std::string& m : messages) {
    if (TypeOf(m) == "gap") gaps.push_back(Json(m));
  }
  ASSERT_EQ(gaps.size(), 1u) << s->written();
  const JsonValue& gap = gaps[0];
  EXPECT_EQ(gap.Find("reason")->string_value(), "slow_client");
  EXPECT_EQ(gap.Find("stream")->string_value(), kStream);
  const uint64_t from = Field(gap, "from_seq"), to = Field(gap, "to_seq");
  EXPECT_EQ(TypeOf(messages[1]), "gap");  // ahead of anything newer
  // The gap names exactly what is missing: E2, then from `to` + 1 to the last.
  EXPECT_EQ(from, 3u);
  ASSERT_LT(to, static_cast<uint64_t>(kEvents + 1));
  std::vector<uint64_t> expected{2};
  for (uint64_t seq : Range(to + 1, kEvents + 1)) expected.push_back(seq);
  EXPECT_EQ(Seqs(s->written()), expected);
  EXPECT_EQ(ctx_.drops_slow_client->value(), to - from + 1);
  EXPECT_EQ(ctx_.deliveries->value(), expected.size());
}

TEST_F(SessionWriteTest, DisconnectClosesWith1008AfterTheWriteInFlightAndSendsNothingAfter) {
  ctx_.options.queue_bytes = 8 << 10;
  ctx_.options.slow_client = SlowClientPolicy::kDisconnect;
  auto s = SubscribedLive();
  const size_t reply = s->written().size();
  s->SetSink(WouldBlock());
  for (int i = 0; i < 200; ++i) {
    Publish(1, kStream, 100);
    Poll();
  }
  EXPECT_EQ(ctx_.disconnects_slow_client->value(), 1u);
  s->SetSink(TakeAll());
  s->CompleteAsyncAll();  // E2, then the close marker, then closed
  Poll();
  Publish(5, kStream, 100);
  Poll();

  const auto messages = Messages(s->written().substr(reply));
  ASSERT_EQ(messages.size(), 2u) << s->written();
  EXPECT_EQ(messages[0], "E2");
  EXPECT_EQ(messages[1], "CLOSE 1008 slow consumer: outbound queue exceeded 8192 bytes");
  EXPECT_TRUE(s->closed_local());
  EXPECT_EQ(stream()->GetStats().subscribers, 0u);
  EXPECT_EQ(ctx_.disconnects_slow_client->value(), 1u);
}

// ----- Closing -----

TEST_F(SessionWriteTest, AGracefulCloseWritesTheUnreadEventsBeforeTheCloseAndNothingAfter) {
  auto s = SubscribedLive();
  const size_t reply = s->written().size();
  s->SetSink(WouldBlock());
  Publish(1);  // E2: in flight
  Poll();
  ASSERT_TRUE(s->async_waiting());
  Publish(2);  // E3, E4: unread in the log
  s->CloseAfterFlush(1000, "bye");
  Publish(2);  // E5, E6: after the close
  Poll();
  EXPECT_EQ(s->batches().size(), 2u);  // still one write in flight
  s->SetSink(TakeAll());
  s->CompleteAsyncAll();
  Poll();

  EXPECT_EQ(Messages(s->written().substr(reply)),
            (std::vector<std::string>{"E2", "E3", "E4", "CLOSE 1000 bye"}));
  EXPECT_TRUE(s->closed_local());
  EXPECT_EQ(stream()->GetStats().subscribers, 0u);
  EXPECT_EQ(ctx_.deliveries->value(), 3u);
}

TEST_F(SessionWriteTest, AFailedWriteClosesTheSessionAndDetachesItsStreams) {
  auto now = SubscribedLive();
  auto later = SubscribedLive();
  now->SetSink(Fail(boost::asio::error::broken_pipe));
  later->SetSink(WouldBlock());
  const uint64_t writes = ctx_.writes->value();
  Publish(1);
  Poll();
  EXPECT_TRUE(now->closed_local());
  ASSERT_TRUE(later->async_waiting());
  later->FailAsync(boost::asio::error::connection_reset);
  EXPECT_TRUE(later->closed_local());
  EXPECT_EQ(stream()->GetStats().subscribers, 0u);
  EXPECT_EQ(ctx_.writes->value(), writes);  // neither counts as a write
  EXPECT_EQ(ctx_.deliveries->value(), 0u);
}

// ----- Resume -----

TEST_F(SessionWriteTest, AResumeDeliversWhatFollowsTheCursorThenLiveEventsWithoutGapOrDuplicate) {
  Publish(5);
  auto s = NewSession();
  CursorMap from{{kStream, StreamCursor{stream()->epoch(), 2}}};
  ASSERT_TRUE(s->Subscribe(1, {kStream}, from));
  Publish(1);  // E6: after the catch-up, before the session ran
  Poll();
  const auto messages = Messages(s->written());
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(TypeOf(messages[0]), "subscribed");
  EXPECT_EQ(Seqs(s->written()), Range(3, 6));
  PublishBatch(2);
  Publish(1);
  Poll();
  EXPECT_EQ(Seqs(s->written()), Range(3, 9));
  for (const std::string& m : Messages(s->written())) EXPECT_NE(TypeOf(m), "gap") << m;
}

// ----- max_hz -----

TEST_F(SessionWriteTest, MaxHzSendsTheFirstEventAtOnceAndTheBurstAfterItAsOneBatch) {
  // 5 Hz: the held events wait up to 200 ms for the coalesce timer (the
  // session's monotonic clock is the system's, not clock_).
  auto s = SubscribedLive(kStream, 5);
  const size_t reply = s->written().size();
  Publish(4);
  Poll();
  EXPECT_EQ(Messages(s->written().substr(reply)), std::vector<std::string>{"E2"});

  ioc_.restart();
  ioc_.run_for(std::chrono::milliseconds(900));  // returns once the flush is written
  const auto messages = Messages(s->written().substr(reply));
  ASSERT_EQ(messages.size(), 2u) << s->written();
  EXPECT_EQ(messages[0], "E2");
  EXPECT_EQ(TypeOf(messages[1]), "batch");
  EXPECT_EQ(Seqs(s->written()), Range(2, 5));
  EXPECT_EQ(ctx_.coalesced_flushes->value(), 1u);
  EXPECT_EQ(ctx_.deliveries->value(), 4u);
}

TEST_F(SessionWriteTest, AGracefulCloseFlushesWhatMaxHzHoldsBeforeTheClose) {
  auto s = SubscribedLive(kStream, 5);
  const size_t reply = s->written().size();
  Publish(3);  // E2 at once; E3, E4 held
  Poll();
  s->CloseAfterFlush(1001, "going away");
  Poll();
  const auto messages = Messages(s->written().substr(reply));
  ASSERT_EQ(messages.size(), 3u) << s->written();
  EXPECT_EQ(messages[0], "E2");
  EXPECT_EQ(TypeOf(messages[1]), "batch");
  EXPECT_EQ(messages[2], "CLOSE 1001 going away");
  EXPECT_EQ(Seqs(s->written()), Range(2, 4));
  EXPECT_TRUE(s->closed_local());
}

}  // namespace
}  // namespace livehub
