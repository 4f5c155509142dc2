#include "fanout/session.h"

#include <algorithm>
#include <span>
#include <thread>

#include "codec/json_value.h"
#include "codec/ws_codec.h"
#include "core/json_writer.h"
#include "core/log.h"
#include "fanout/write_pacer.h"

namespace livehub {
namespace {

constexpr size_t kMaxBatchItems = 1024;

int64_t MonoNowNs() { return SystemClock::Get()->MonoNs(); }

}  // namespace

SubscriberSession::SubscriberSession(FanoutContext* ctx, asio::io_context& ioc, tcp::socket socket)
    : ctx_(ctx),
      ioc_(ioc),
      socket_(std::move(socket)),
      id_(ctx->next_session_id.fetch_add(1)),
      timer_(ioc),
      coalesce_timer_(ioc),
      expiry_timer_(ioc),
      kicks_(&asio::use_service<WriteKicks>(ioc)),
      queue_(ctx->options.queue_bytes, ctx->queued_bytes, ctx->drops_slow_client),
      access_(Access::Everything()) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) peer_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  socket_.set_option(tcp::no_delay(true), ec);
  if (size_t sndbuf = ctx->options.socket_send_buffer; sndbuf > 0) {
    socket_.set_option(asio::socket_base::send_buffer_size(static_cast<int>(sndbuf)), ec);
  }
  last_read_ns_ = last_write_ns_ = MonoNowNs();
  ctx_->connections.fetch_add(1);
}

SubscriberSession::~SubscriberSession() { ctx_->connections.fetch_sub(1); }

// ---------------------------------------------------------------------------
// Delivery (any thread)
// ---------------------------------------------------------------------------

void SubscriberSession::OnEvent(const EventPtr& ev) {
  MutexLock lock(mu_);
  OnEventLocked(ev);
}

void SubscriberSession::OnEvents(const EventPtr* evs, size_t n) {
  MutexLock lock(mu_);
  for (size_t i = 0; i < n; ++i) OnEventLocked(evs[i]);
}

void SubscriberSession::OnEventLocked(const EventPtr& ev) {
  if (lifecycle_ != Lifecycle::kOpen) return;
  // Unread log events of cursor streams count against the same budget.
  const size_t charge = ev->charge() + log_bytes_.load(std::memory_order_relaxed);
  const bool fits = queue_.Fits(charge);
  Subscriptions::StreamSub* sub = subs_.coalesced() || !fits ? subs_.Find(ev->stream) : nullptr;
  if (!fits) {
    SlowClientPolicy policy = sub ? sub->policy : ctx_->PolicyFor(ev->stream->name());
    if (policy == SlowClientPolicy::kDisconnect) return DisconnectSlowLocked();
    DropOldestLocked(charge);
    if (!queue_.Fits(charge)) {
      // Still no room (in-flight bytes alone fill the budget): drop this one.
      queue_.AddDropped(ev->stream, ev->seq);
      KickLocked();
      return;
    }
  }
  if (sub && sub->interval_ns && HoldLocked(ev->stream, *sub, ev)) {
    return;
  }
  PushLocked(OutItem::ForEvent(ev));
}

void SubscriberSession::DisconnectSlowLocked() {
  ctx_->disconnects_slow_client->Add();
  AdvanceLocked(Lifecycle::kClosing);
  // Drop what is pending: the client is gone for us; in-flight bytes stay.
  // (Unread log events are dropped by the streams: OnLogAppend's verdict
  // once closing, and Detach.)
  queue_.ClearPending();
  ready_.clear();
  for (auto& [stream, sub] : subs_.streams()) DropHeldLocked(sub, false);
  std::string reason = "slow consumer: outbound queue exceeded " +
                       std::to_string(ctx_->options.queue_bytes) + " bytes";
  asio::post(ioc_, [self = shared_from_this(), reason = std::move(reason)]() mutable {
    self->CloseAfterFlush(1008, std::move(reason));
  });
}

LogVerdict SubscriberSession::OnLogAppend(Stream* stream, size_t added_bytes, bool wake) {
  const size_t before = log_bytes_.fetch_add(added_bytes, std::memory_order_relaxed);
  const size_t unread = before + added_bytes;
  if (unread + queue_.shared_bytes() > ctx_->options.queue_bytes) {
    return LogOverBudget(stream, wake);
  }
  // A paced session (write_delay_ms) is kicked early once a write's worth
  // waits; otherwise only the first unread event needs mu_.
  const size_t full = ctx_->options.write_batch_bytes;
  const bool filled = before < full && unread >= full;
  if (!wake && !filled) return {};
  MutexLock lock(mu_);
  if (lifecycle_ != Lifecycle::kOpen) return LogVerdict{LogVerdict::kAll, false};
  if (wake) ready_.push_back(stream);
  PokeLocked();
  return {};
}

LogVerdict SubscriberSession::LogOverBudget(Stream* stream, bool wake) {
  MutexLock lock(mu_);
  if (lifecycle_ != Lifecycle::kOpen) return LogVerdict{LogVerdict::kAll, false};
  LogVerdict verdict;
  const size_t unread = log_bytes_.load(std::memory_order_relaxed);
  if (queue_.bytes() + unread > queue_.budget()) {  // exact under mu_
    const Subscriptions::StreamSub* sub = subs_.Find(stream);
    SlowClientPolicy policy = sub ? sub->policy : ctx_->PolicyFor(stream->name());
    if (policy == SlowClientPolicy::kDisconnect) {
      DisconnectSlowLocked();
      return LogVerdict{LogVerdict::kAll, false};
    }
    // drop_oldest: queued and held events are older than the unread ones,
    // so they go first; then this stream's oldest unread, down to half the
    // budget like DropOldest (other streams' unread go at their appends).
    DropOldestLocked(unread);
    const size_t total = queue_.bytes() + unread;
    if (total > queue_.budget() / 2) verdict.drop_bytes = total - queue_.budget() / 2;
  }
  if (wake) ready_.push_back(stream);
  PokeLocked();
  return verdict;
}

void SubscriberSession::OnLogDropped(Stream* stream, uint64_t from_seq, uint64_t to_seq,
                                     size_t bytes, bool report) {
  log_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  if (!report) return;
  MutexLock lock(mu_);
  queue_.AddDroppedRange(stream, from_seq, to_seq);  // owed as a slow_client gap
  KickLocked();
}

void SubscriberSession::OnGap(Stream* stream, uint64_t from_seq, uint64_t to_seq,
                              std::string_view reason) {
  std::string json;
  JsonWriter w(&json);
  w.BeginObject().Field("type", "gap").Field("stream", stream->name());
  w.Field("epoch", stream->epoch()).Field("from_seq", from_seq).Field("to_seq", to_seq);
  w.Field("reason", reason).EndObject();
  if (reason == "evicted") ctx_->gaps_evicted->Add();
  MutexLock lock(mu_);
  if (lifecycle_ != Lifecycle::kOpen) return;
  // Events held by max_hz are older than the gap: they go first.
  if (Subscriptions::StreamSub* sub = subs_.Find(stream); sub && !sub->held.empty()) {
    FlushLocked(stream, *sub, MonoNowNs());
  }
  PushLocked(OutItem::ForControl("gap", std::move(json), stream, to_seq));
}

void SubscriberSession::OnNotice(const char* type, const std::string& json) {
  MutexLock lock(mu_);
  if (lifecycle_ != Lifecycle::kOpen) return;
  // Notices are advisory and superseded by the next one: a client whose
  // queue is full does not get them (they are never dropped later, so they
  // must not push it past its budget).
  if (!queue_.Fits(OutItem::ControlCharge(json.size()))) return;
  PushLocked(OutItem::ForControl(type, json));
}

void SubscriberSession::OnStreamCreated(Stream* stream) {
  // Called with the registry lock held: attaching takes the (new, empty)
  // stream's lock, then ours — the documented order.
  int64_t interval_ns;
  {
    MutexLock lock(mu_);
    if (lifecycle_ == Lifecycle::kClosed || subs_.Contains(stream)) return;
    // A pattern subscription only ever delivers streams the credential covers.
    if (!access_->CanRead(stream->name())) return;
    interval_ns = subs_.IntervalFor(stream->name());  // the first matching pattern decides
  }
  auto a = stream->Attach(shared_from_this(), 1, nullptr,
                          interval_ns ? AttachMode::kPush : AttachMode::kLogCursor);
  MutexLock lock(mu_);
  if (lifecycle_ == Lifecycle::kClosed) {
    // Closed meanwhile: FinishClose may have missed this one; undo on our
    // thread (never call a Stream from under the registry lock again here).
    asio::post(ioc_, [stream, a] { stream->Detach(a); });
    return;
  }
  Subscriptions::StreamSub sub;
  sub.attachment = a;
  sub.policy = ctx_->PolicyFor(stream->name());
  sub.interval_ns = interval_ns;
  subs_.Add(stream, std::move(sub));
  new_streams_.emplace_back(stream, std::move(a));
  ctx_->subscriptions->Add(1);
  KickLocked();  // the session thread starts its catch-up
}

void SubscriberSession::PushLocked(OutItem item) {
  queue_.Push(std::move(item));
  PokeLocked();
}

void SubscriberSession::PokeLocked() {
  if (schedule_ == Schedule::kPacedSmall && FullBatchQueuedLocked()) {
    // Paced while the batch was small; now it is full and gains nothing by
    // waiting (see DoWriteOnce).
    schedule_ = Schedule::kScheduled;
    kicks_->Kick(shared_from_this());
    return;
  }
  KickLocked();
}

bool SubscriberSession::FullBatchQueuedLocked() const {
  return queue_.FullBatch(kMaxBatchItems, ctx_->options.write_batch_bytes,
                          log_bytes_.load(std::memory_order_relaxed));
}

void SubscriberSession::KickLocked() {
  if (schedule_ != Schedule::kNone) return;
  schedule_ = Schedule::kScheduled;
  kicks_->Kick(shared_from_this());
}

void SubscriberSession::AdvanceLocked(Lifecycle to) {
  if (to > lifecycle_) lifecycle_ = to;
}

void SubscriberSession::RunKickedWrite() {
  if (write_state_ == WriteState::kPaced) {
    write_state_ = WriteState::kIdle;
    ++pace_token_;  // the pacer's call for it is void now
  }
  DoWrite();
}

void SubscriberSession::DropOldestLocked(size_t need_bytes) {
  queue_.DropOldest(need_bytes);
  // Held (coalesced) events are newer than anything queued of their stream,
  // so they go last.
  for (auto& [stream, sub] : subs_.streams()) {
    if (!queue_.OverDropTarget(need_bytes)) break;
    DropHeldLocked(sub, true);
  }
}

// ---------------------------------------------------------------------------
// Coalescing (max_hz)
// ---------------------------------------------------------------------------

bool SubscriberSession::HoldLocked(Stream* stream, Subscriptions::StreamSub& sub,
                                   const EventPtr& ev) {
  const int64_t now = MonoNowNs();
  if (sub.held.empty() && now >= sub.next_flush_ns) {
    sub.next_flush_ns = now + sub.interval_ns;
    return false;  // under the rate: deliver at once
  }
  const size_t charge = ev->charge();
  sub.held.push_back(ev);
  sub.held_bytes += charge;
  queue_.Hold(charge);
  // A burst larger than a quarter of the queue goes out early: coalescing
  // trades rate for latency, never for loss.
  if (sub.held_bytes > ctx_->options.queue_bytes / 4) {
    FlushLocked(stream, sub, now);
    return true;
  }
  if (sub.held.size() == 1 && (coalesce_due_ns_ == 0 || sub.next_flush_ns < coalesce_due_ns_)) {
    coalesce_due_ns_ = sub.next_flush_ns;
    asio::post(ioc_, [self = shared_from_this()] { self->ArmCoalesceTimer(); });
  }
  return true;
}

void SubscriberSession::RenderConflatedBatch(Stream* stream, const std::vector<EventPtr>& held,
                                             std::string* out) {
  // Keyed state under max_hz: consecutive diffs of one generation fold into
  // one merge patch holding the latest value per key (exactly equivalent;
  // see ComposeMergePatches). Each output event carries the seq of the last
  // diff it stands for and, when it stands for several, "conflated": N.
  struct Group {
    const Event* last;
    std::optional<JsonValue> patch;  // set for a diff group
    uint64_t generation = 0;
    size_t count = 1;
  };
  std::vector<Group> groups;
  for (const EventPtr& e : held) {
    auto parsed = JsonValue::Parse(e->data());
    const JsonValue* type = parsed.ok() ? parsed->Find("type") : nullptr;
    const JsonValue* gen = parsed.ok() ? parsed->Find("generation") : nullptr;
    const JsonValue* patch = parsed.ok() ? parsed->Find("patch") : nullptr;
    const bool diff = type && type->string_value() == "diff" && gen && patch;
    const uint64_t g = diff ? static_cast<uint64_t>(gen->int_value()) : 0;
    if (diff && !groups.empty() && groups.back().patch && groups.back().generation == g &&
        ComposeMergePatches(&*groups.back().patch, *patch)) {
      groups.back().last = e.get();
      ++groups.back().count;
      ctx_->diffs_conflated->Add();
      continue;
    }
    Group grp{e.get(), std::nullopt, g, 1};
    if (diff) grp.patch = *patch;
    groups.push_back(std::move(grp));
  }
  JsonWriter w(out);
  w.BeginObject().Field("type", "batch").Field("stream", stream->name());
  w.Field("epoch", stream->epoch()).Key("events").BeginArray();
  for (const Group& g : groups) {
    w.BeginObject().Field("seq", g.last->seq).Field("ts", g.last->ts_ms).Key("data");
    if (g.count == 1) {
      w.Raw(g.last->data());
    } else {
      w.BeginObject().Field("type", "diff").Field("generation", g.generation);
      w.Key("patch").Raw(g.patch->ToString()).EndObject();
      w.Field("conflated", static_cast<uint64_t>(g.count));
    }
    w.EndObject();
  }
  w.EndArray().EndObject();
}

void SubscriberSession::FlushLocked(Stream* stream, Subscriptions::StreamSub& sub, int64_t now_ns) {
  if (sub.held.empty()) return;
  sub.next_flush_ns = now_ns + sub.interval_ns;
  queue_.Unhold(sub.held_bytes);
  OutItem item;
  if (sub.held.size() == 1) {
    item = OutItem::ForEvent(std::move(sub.held.front()));
  } else {
    item = OutItem::ForControl("batch", std::string(), stream, sub.held.back()->seq);
    if (stream->keyed()) {
      RenderConflatedBatch(stream, sub.held, &item.ctl->text);
    } else {
      JsonWriter w(&item.ctl->text);
      w.BeginObject().Field("type", "batch").Field("stream", stream->name());
      w.Field("epoch", stream->epoch()).Key("events").BeginArray();
      for (const EventPtr& e : sub.held) {
        w.BeginObject().Field("seq", e->seq).Field("ts", e->ts_ms).Key("data").Raw(e->data());
        w.EndObject();
      }
      w.EndArray().EndObject();
    }
    item.ctl->batch_charge = sub.held_bytes;
    item.ctl->batch = std::move(sub.held);
  }
  sub.held.clear();
  sub.held_bytes = 0;
  ctx_->coalesced_flushes->Add();
  PushLocked(std::move(item));
  // The batch text adds to what the held events cost: keep the queue within
  // its budget (a `disconnect` stream is cut by its next event instead).
  if (!queue_.Fits(0) && sub.policy == SlowClientPolicy::kDropOldest) {
    DropOldestLocked(0);
  }
}

void SubscriberSession::DropHeldLocked(Subscriptions::StreamSub& sub, bool count_as_dropped) {
  if (count_as_dropped) {
    for (const EventPtr& e : sub.held) queue_.AddDropped(e->stream, e->seq);
  }
  queue_.Unhold(sub.held_bytes);
  sub.held.clear();
  sub.held_bytes = 0;
}

void SubscriberSession::ArmCoalesceTimer() {
  if (closed_local()) return;
  int64_t due;
  {
    MutexLock lock(mu_);
    due = coalesce_due_ns_;
  }
  if (due == 0) return;
  coalesce_timer_.expires_after(std::chrono::nanoseconds(std::max<int64_t>(0, due - MonoNowNs())));
  coalesce_timer_.async_wait(
      [self = shared_from_this()](boost::system::error_code ec) { self->OnCoalesceTimer(ec); });
}

void SubscriberSession::OnCoalesceTimer(boost::system::error_code ec) {
  if (ec || closed_local()) return;  // re-armed (cancelled) or closed
  {
    MutexLock lock(mu_);
    if (lifecycle_ != Lifecycle::kOpen) return;
    const int64_t now = MonoNowNs();
    int64_t next = 0;
    for (auto& [stream, sub] : subs_.streams()) {
      if (sub.held.empty()) continue;
      // Within a millisecond of due counts as due: timers fire a little late
      // or early, and a 1 ms re-arm would only add a wake-up.
      if (sub.next_flush_ns <= now + 1'000'000) {
        FlushLocked(stream, sub, now);
      } else if (next == 0 || sub.next_flush_ns < next) {
        next = sub.next_flush_ns;
      }
    }
    coalesce_due_ns_ = next;
    if (next == 0) return;
  }
  ArmCoalesceTimer();
}

// ---------------------------------------------------------------------------
// Write loop (session thread)
// ---------------------------------------------------------------------------

void SubscriberSession::TakeReadyLocked() {
  // The log's events of a stream are newer than anything of it queued, and
  // nothing is read after the close frame.
  if (queue_.HasPending() || lifecycle_ != Lifecycle::kOpen) return;
  for (Stream* s : ready_) {
    if (Subscriptions::StreamSub* sub = subs_.Find(s); sub && sub->attachment) {
      reads_.emplace_back(s, sub->attachment);
    }
  }
  ready_.clear();
}

size_t SubscriberSession::ReadLogs(size_t items, size_t bytes) {
  thread_local std::vector<EventPtr> events;
  std::vector<Stream*> again;  // not read to their end: still signalled
  size_t read = 0;
  for (auto& [stream, attachment] : reads_) {
    if (items >= kMaxBatchItems || bytes >= ctx_->options.write_batch_bytes) {
      again.push_back(stream);
      continue;
    }
    events.clear();
    const LogRead r = stream->ReadLog(attachment.get(), kMaxBatchItems - items,
                                      ctx_->options.write_batch_bytes - bytes, &events);
    for (EventPtr& e : events) inflight_.push_back(OutItem::ForEvent(std::move(e)));
    items += r.count;
    bytes += r.bytes;
    read += r.bytes;
    if (!r.caught_up) again.push_back(stream);
  }
  reads_.clear();
  events.clear();
  log_bytes_.fetch_sub(read, std::memory_order_relaxed);
  MutexLock lock(mu_);
  queue_.AddInflight(read);
  // Ahead of streams woken meanwhile: they were ready first.
  ready_.insert(ready_.begin(), again.begin(), again.end());
  if (inflight_.empty()) {
    if (queue_.HasPending() || !ready_.empty()) {
      write_again_ = true;  // woken meanwhile (schedule_ was kScheduled): another round
    } else {
      schedule_ = Schedule::kNone;
    }
  }
  return read;
}

void SubscriberSession::MaterializeLogs() {
  std::vector<std::pair<Stream*, std::shared_ptr<Attachment>>> cursors;
  {
    MutexLock lock(mu_);
    for (auto& [stream, sub] : subs_.streams()) {
      if (sub.attachment && sub.attachment->mode == AttachMode::kLogCursor) {
        cursors.emplace_back(stream, sub.attachment);
      }
    }
    ready_.clear();
  }
  std::vector<EventPtr> events;
  for (auto& [stream, attachment] : cursors) {
    events.clear();
    const LogRead r = stream->ReadLog(attachment.get(), SIZE_MAX, SIZE_MAX, &events);
    log_bytes_.fetch_sub(r.bytes, std::memory_order_relaxed);
    MutexLock lock(mu_);
    for (EventPtr& e : events) queue_.Push(OutItem::ForEvent(std::move(e)));
  }
}

void SubscriberSession::SyncLogGauge() {
  const auto now = static_cast<int64_t>(log_bytes_.load(std::memory_order_relaxed));
  if (now == log_bytes_in_gauge_) return;
  ctx_->queued_bytes->Add(now - log_bytes_in_gauge_);
  log_bytes_in_gauge_ = now;
}

void SubscriberSession::ResumePacedWrite(uint64_t token) {
  if (write_state_ != WriteState::kPaced || token != pace_token_) return;
  write_state_ = WriteState::kIdle;
  DoWrite();
}

void SubscriberSession::DoWrite() {
  // A write that completes at once (WriteNow) ends in OnWrite, which may
  // call DoWrite for what is left: that asks this loop for another round
  // rather than recursing. After kSyncRounds the rest goes through the
  // thread's kicks, so one busy connection does not hold the thread.
  if (in_write_loop_) {
    write_again_ = true;
    return;
  }
  in_write_loop_ = true;
  int rounds = 0;
  do {
    write_again_ = false;
    DoWriteOnce();
  } while (write_again_ && ++rounds < kSyncRounds);
  in_write_loop_ = false;
  if (write_again_) {
    write_again_ = false;
    kicks_->Kick(shared_from_this());
  }
}

void SubscriberSession::DoWriteOnce() {
  // Only an idle loop starts a write: a paced session resumes from the
  // pacer, a write in flight continues from OnWrite.
  if (write_state_ != WriteState::kIdle) return;
  if (const int64_t delay = ctx_->options.write_delay_ns; delay > 0 && events_written_ns_ != 0) {
    // Less than write_delay since the last write of events started: let more
    // events join this one (see write_pacer.h). schedule_ stays kScheduled (or
    // kPacedSmall), so publishers do not kick it again meanwhile.
    // A full batch already waiting (catch-up, a burst) gains nothing by
    // waiting: only small batches are held back. queue_bytes_ counts pending,
    // in-flight (none here) and max_hz-held bytes; the held ones are not
    // waiting to be written. Nothing waiting is not paced either (a kick
    // that found its events already written): the next event's kick decides.
    // Once paced, PushLocked kicks it when the batch fills up.
    auto small_batch_waiting = [&] {
      MutexLock lock(mu_);
      if ((!queue_.HasPending() && ready_.empty()) || FullBatchQueuedLocked()) return false;
      schedule_ = Schedule::kPacedSmall;
      return true;
    };
    const int64_t due = events_written_ns_ + delay;
    const int64_t slack = WritePacer::SlackFor(delay);
    if (WritePacer* pacer = WritePacer::Current();
        pacer && due - MonoNowNs() > slack && small_batch_waiting()) {
      write_state_ = WriteState::kPaced;
      ctx_->paced_writes->Add();
      pacer->Defer(shared_from_this(), due, slack, ++pace_token_);
      return;
    }
  }
  std::vector<std::pair<Stream*, std::shared_ptr<Attachment>>> created;
  uint64_t dropped = 0;
  bool carries_events = false;
  size_t taken_bytes = 0;
  {
    MutexLock lock(mu_);
    schedule_ = Schedule::kScheduled;
    for (auto& entry : new_streams_) {
      // Skip streams unsubscribed since they were created.
      if (subs_.Contains(entry.first)) created.push_back(std::move(entry));
    }
    new_streams_.clear();
    // Gaps owed for events the slow-client policy dropped go first.
    carries_events = queue_.TakeBatch(&inflight_, kMaxBatchItems, ctx_->options.write_batch_bytes);
    taken_bytes = queue_.inflight_bytes();
    TakeReadyLocked();
    queue_.CheckInvariant();
    if (inflight_.empty() && reads_.empty()) schedule_ = Schedule::kNone;
    dropped = queue_.TakeDropReport(MonoNowNs());
  }
  if (!reads_.empty() && ReadLogs(inflight_.size(), taken_bytes) > 0) carries_events = true;
  SyncLogGauge();
  for (auto& [s, a] : created) {
    cursor_.emplace(s, 0);  // a stream created after we subscribed: from seq 1
    cursor_dirty_ = true;
    catching_up_.emplace_back(s, std::move(a));
  }
  if (dropped) {
    ctx_->hub->SysEvent(
        "drop",
        JsonFields().Add("session", id_).Add("reason", "slow_client").Add("dropped", dropped));
  }
  if (inflight_.empty()) {
    if (!catching_up_.empty() && RunCatchUp()) DoWrite();
    return;
  }
  // Encoded into the io thread's scratch, which is hot in cache: nearly
  // every batch is written at once (WriteNow), so a connection's own
  // scratch_ (cold, one per connection) is only filled for what the kernel
  // did not take (KeepScratch).
  std::string& scratch = ThreadScratch();
  if (scratch.capacity() > 8 * kKeepScratchBytes)
    std::string().swap(scratch);  // after a huge batch
  scratch.clear();
  bufs_.clear();
  EncodeBatch(inflight_, &scratch, &bufs_);
  write_state_ = WriteState::kWriting;
  const int64_t burst_ns = WritePacer::BurstStartNs();
  write_started_ns_ = burst_ns != 0 ? burst_ns : MonoNowNs();
  if (carries_events) events_written_ns_ = write_started_ns_;
  write_next_ = 0;
  write_done_bytes_ = 0;
  WriteNow();
}

// Most batches fit in the socket's send buffer: write them at once and
// complete here, without an asio operation (reactor registration, a posted
// completion, a handler). Only what the kernel does not take waits for
// writability (WriteSome).
void SubscriberSession::WriteNow() {
  boost::system::error_code ec;
  const size_t n = socket_.write_some(
      std::span<const asio::const_buffer>(bufs_.data() + write_next_, bufs_.size() - write_next_),
      ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    KeepScratch();
    return WriteSome();
  }
  auto self = shared_from_this();  // OnWrite may close and detach
  if (ec || closed_local()) return OnWriteSome(ec, n);
  if (!AdvanceWritten(n)) {  // the kernel took part of it
    KeepScratch();
    return WriteSome();
  }
  // Written: the rest of a burst's writes go first (see CompleteAfterBurst).
  if (WritePacer::CompleteAfterBurst(std::move(self))) return;
  OnWrite(ec, write_done_bytes_);
}

void SubscriberSession::CompleteWrite() { OnWrite({}, write_done_bytes_); }

std::string& SubscriberSession::ThreadScratch() {
  thread_local std::string scratch;
  return scratch;
}

// The rest of the batch waits for writability: the pieces still to write
// that point into the thread's scratch move to the connection's own.
void SubscriberSession::KeepScratch() {
  const std::string& t = ThreadScratch();
  const char* begin = t.data();
  const char* end = begin + t.size();
  scratch_.assign(t);
  for (size_t i = write_next_; i < bufs_.size(); ++i) {
    const char* p = static_cast<const char*>(bufs_[i].data());
    if (p >= begin && p < end) {
      bufs_[i] = asio::buffer(scratch_.data() + (p - begin), bufs_[i].size());
    }
  }
}

bool SubscriberSession::AdvanceWritten(size_t n) {
  write_done_bytes_ += n;
  while (write_next_ < bufs_.size() && n >= bufs_[write_next_].size()) {
    n -= bufs_[write_next_].size();
    ++write_next_;
  }
  if (write_next_ == bufs_.size()) return true;
  bufs_[write_next_] += n;
  return false;
}

// The write loop is ours rather than asio::async_write's: its operation
// carries 64 prepared buffers (1 KiB), too big for asio's per-thread
// recycling allocator, so every write cost a malloc and a free. A span over
// bufs_ keeps the operation small enough to be recycled.
void SubscriberSession::WriteSome() {
  socket_.async_write_some(
      std::span<const asio::const_buffer>(bufs_.data() + write_next_, bufs_.size() - write_next_),
      [self = shared_from_this()](boost::system::error_code ec, size_t n) {
        self->OnWriteSome(ec, n);
      });
}

void SubscriberSession::OnWriteSome(boost::system::error_code ec, size_t n) {
  if (ec || closed_local()) {
    write_done_bytes_ += n;
  } else if (!AdvanceWritten(n)) {
    return WriteSome();  // a partial write continues where it stopped
  }
  OnWrite(ec, write_done_bytes_);
}

void SubscriberSession::OnWrite(boost::system::error_code ec, size_t bytes) {
  if (write_state_ == WriteState::kClosed) return;  // FinishClose released everything
  write_state_ = WriteState::kIdle;
  if (ec) return CloseNow("write failed: " + ec.message());
  const int64_t now = MonoNowNs();
  last_write_ns_ = now;
  ctx_->writes->Add();
  ctx_->bytes_out->Add(bytes);
  // Publish -> write latency, aggregated locally and added once per batch.
  uint32_t counts[32] = {};
  uint64_t n = 0, sum = 0;
  size_t first = 31, last = 0;  // the buckets touched
  Histogram* h = ctx_->delivery_latency;
  auto account = [&](const Event& e) {
    int64_t d = std::max<int64_t>(0, now - e.mono_ns);
    const size_t b = std::min<size_t>(h->BucketFor(d), 31);
    ++counts[b];
    first = std::min(first, b);
    last = std::max(last, b);
    ++n;
    sum += static_cast<uint64_t>(d);
  };
  for (const OutItem& it : inflight_) {
    if (it.event) {
      account(*it.event);
    } else {
      for (const EventPtr& e : it.ctl->batch) account(*e);
    }
  }
  if (n) {
    h->AddBatch(counts, first, last, n, sum);
    ctx_->deliveries->Add(n);
  }
  inflight_.clear();
  if (scratch_.capacity() > kKeepScratchBytes) std::string().swap(scratch_);
  bool idle = false, closed = false;
  {
    MutexLock lock(mu_);
    queue_.CompleteBatch();
    queue_.CheckInvariant();
    if (lifecycle_ == Lifecycle::kCloseQueued && !queue_.HasPending()) {
      // Graceful close: everything (incl. the close frame) is written.
      schedule_ = Schedule::kNone;
      AdvanceLocked(Lifecycle::kClosed);
    } else if (NothingToWriteLocked()) {
      schedule_ = Schedule::kNone;
      idle = true;
    }
    closed = lifecycle_ == Lifecycle::kClosed;
  }
  if (closed) return CloseNow("closed by the hub");
  if (idle) return;
  if (!catching_up_.empty()) {
    RunCatchUp();
    MutexLock lock(mu_);
    if (NothingToWriteLocked()) {
      schedule_ = Schedule::kNone;
      return;
    }
  }
  DoWrite();
}

bool SubscriberSession::NothingToWriteLocked() const {
  return !queue_.HasPending() && ready_.empty() && new_streams_.empty() && catching_up_.empty();
}

bool SubscriberSession::RunCatchUp() {
  size_t budget;
  {
    MutexLock lock(mu_);
    if (lifecycle_ != Lifecycle::kOpen) return false;
    const size_t half = queue_.budget() / 2;
    const size_t used = queue_.bytes() + log_bytes_.load(std::memory_order_relaxed);
    if (used >= half) return false;  // wait until the queue drains
    budget = half - used;
  }
  size_t per_stream = std::max<size_t>(budget / catching_up_.size(), 64u << 10);
  size_t before = catching_up_.size();
  std::erase_if(catching_up_,
                [&](auto& entry) { return entry.first->CatchUp(entry.second.get(), per_stream); });
  return catching_up_.size() < before;
}

// ---------------------------------------------------------------------------
// Subscriptions (session thread)
// ---------------------------------------------------------------------------

bool SubscriberSession::Subscribe(int64_t id, const std::vector<std::string>& texts,
                                  const CursorMap& from, bool absent_from_start, double max_hz,
                                  bool snapshot) {
  const int64_t interval_ns = max_hz > 0 ? static_cast<int64_t>(1e9 / max_hz) : 0;
  auto admitted = ctx_->admission->AdmitPatterns(*access(), texts);
  if (!admitted.ok()) {
    SendRefusal(id, admitted.status());
    return false;
  }
  std::vector<Pattern> parsed = std::move(*admitted);
  size_t would_have;
  {
    MutexLock lock(mu_);
    would_have = subs_.CountWith(parsed);
  }
  if (Status st = ctx_->admission->AdmitSubscriptionCount(would_have); !st.ok()) {
    SendRefusal(id, st);
    return false;
  }
  std::string reply;
  JsonWriter w(&reply);
  w.BeginObject().Field("type", "subscribed");
  if (id >= 0) w.Field("id", id);
  struct Snapshot {
    Stream* stream;
    uint64_t seq;
    std::string json;
  };
  std::vector<Snapshot> snapshots;  // sent right after `subscribed`
  w.Key("streams").BeginArray();
  for (const Pattern& p : parsed) {
    {
      // Registered before watching, so a stream created meanwhile finds
      // this pattern's max_hz in OnStreamCreated.
      MutexLock lock(mu_);
      if (!subs_.AddPattern(p, interval_ns)) continue;  // subscribed already
    }
    std::vector<Stream*> existing;
    uint64_t watch =
        ctx_->hub->Watch(p, std::static_pointer_cast<StreamWatcher>(shared_from_this()),
                         [&](Stream* s) { existing.push_back(s); });
    {
      MutexLock lock(mu_);
      subs_.SetWatchId(p.text(), watch);
    }
    for (Stream* s : existing) {
      {
        MutexLock lock(mu_);
        if (subs_.Contains(s) || !access_->CanRead(s->name())) continue;
      }
      uint64_t start = absent_from_start ? 1 : 0;  // 0: live
      auto f = from.find(s->name());
      if (f != from.end()) {
        if (f->second.epoch == s->epoch()) {
          start = f->second.seq + 1;
        } else {
          // The client's position is from another epoch: tell it, then give
          // it everything this epoch still holds.
          uint64_t first = s->first_seq();
          OnGap(s, 1, first - 1, "epoch_changed");
          start = first;
        }
      }
      std::string snap;
      const bool want_snapshot = start == 0 || snapshot;
      uint64_t attached_at = AttachStream(s, start, interval_ns, want_snapshot ? &snap : nullptr);
      if (!snap.empty()) {
        snapshots.push_back(Snapshot{s, attached_at - 1, std::move(snap)});
        start = 0;  // reported like a live start: latest_seq is the snapshot's seq
      }
      // For a live subscription, latest_seq is exactly the position it
      // starts after; for a resume, the stream's current latest.
      uint64_t latest = start == 0 ? attached_at - 1 : s->latest_seq();
      w.BeginObject().Field("stream", s->name()).Field("epoch", s->epoch());
      w.Field("latest_seq", latest).EndObject();
    }
  }
  w.EndArray().EndObject();
  EnqueueControl("subscribed", std::move(reply));
  for (Snapshot& snap : snapshots) {
    ctx_->snapshots_sent->Add();
    EnqueueControl("snapshot", std::move(snap.json), snap.stream, snap.seq);
  }
  if (!catching_up_.empty()) RunCatchUp();
  return true;
}

uint64_t SubscriberSession::AttachStream(Stream* stream, uint64_t start_seq, int64_t interval_ns,
                                         std::string* snapshot) {
  // Without max_hz the live events are read from the stream's log.
  auto a = stream->Attach(shared_from_this(), start_seq, snapshot,
                          interval_ns ? AttachMode::kPush : AttachMode::kLogCursor);
  const uint64_t start = a->start_seq;
  {
    MutexLock lock(mu_);
    Subscriptions::StreamSub sub;
    sub.attachment = a;
    sub.policy = ctx_->PolicyFor(stream->name());
    sub.interval_ns = interval_ns;
    subs_.Add(stream, std::move(sub));
  }
  ctx_->subscriptions->Add(1);
  cursor_[stream] = start - 1;
  cursor_dirty_ = true;
  catching_up_.emplace_back(stream, std::move(a));
  return start;
}

void SubscriberSession::Unsubscribe(int64_t id, const std::vector<std::string>& texts) {
  std::vector<uint64_t> unwatch;
  std::vector<std::string> removed;
  std::vector<Subscriptions::Detached> detached;
  {
    MutexLock lock(mu_);
    detached = subs_.RemovePatterns(texts, &removed, &unwatch);
    // The client no longer wants what max_hz held back for them.
    for (auto& d : detached) DropHeldLocked(d.sub, false);
  }
  for (uint64_t w : unwatch) ctx_->hub->Unwatch(w);
  DetachStreams(detached);
  std::string reply;
  JsonWriter w(&reply);
  w.BeginObject().Field("type", "unsubscribed");
  if (id >= 0) w.Field("id", id);
  w.Key("streams").BeginArray();
  for (const auto& r : removed) w.String(r);
  w.EndArray().EndObject();
  EnqueueControl("unsubscribed", std::move(reply));
}

void SubscriberSession::DetachStreams(const std::vector<Subscriptions::Detached>& detached) {
  for (const auto& d : detached) {
    log_bytes_.fetch_sub(d.stream->Detach(d.sub.attachment), std::memory_order_relaxed);
    cursor_.erase(d.stream);
    cursor_dirty_ = true;
    std::erase_if(catching_up_, [stream = d.stream](auto& e) { return e.first == stream; });
  }
  ctx_->subscriptions->Add(-static_cast<int64_t>(detached.size()));
}

void SubscriberSession::SetAccess(std::shared_ptr<const Access> access) {
  MutexLock lock(mu_);
  access_ = std::move(access);
}

std::shared_ptr<const Access> SubscriberSession::access() const {
  MutexLock lock(mu_);
  return access_;
}

void SubscriberSession::SendRefusal(int64_t id, const Status& st) {
  ctx_->hub->metrics()
      ->GetCounter("client_errors_total", "Client requests rejected, by reason.",
                   "reason=\"" + st.reason() + "\"")
      ->Add();
  SendError(id, st);
}

void SubscriberSession::Refresh(int64_t id, std::string_view token) {
  auto fresh = ctx_->admission->Refresh(*access(), token);
  if (!fresh.ok()) return SendRefusal(id, fresh.status());
  // Swap the grant and detach what it no longer covers (the patterns stay;
  // streams created later are filtered by the new grant).
  std::vector<Subscriptions::Detached> detached;
  {
    MutexLock lock(mu_);
    access_ = *fresh;
    detached = subs_.RemoveUnreadable(*access_);
    for (auto& d : detached) DropHeldLocked(d.sub, false);
  }
  DetachStreams(detached);
  ArmExpiry();
  std::string reply;
  JsonWriter w(&reply);
  w.BeginObject().Field("type", "refreshed");
  if (id >= 0) w.Field("id", id);
  w.Key("expires_at_ms");
  if ((*fresh)->expires_at_ms())
    w.Int((*fresh)->expires_at_ms());
  else
    w.Null();
  w.Key("revoked").BeginArray();
  for (const auto& d : detached) w.String(d.stream->name());
  w.EndArray().EndObject();
  EnqueueControl("refreshed", std::move(reply));
}

void SubscriberSession::ArmExpiry() {
  if (closed_local()) return;
  const int64_t expires = access()->expires_at_ms();
  expiry_timer_.cancel();
  if (expires == 0) return;
  // Re-checked when it fires; a far expiry is re-armed daily.
  const int64_t wait_ms =
      std::clamp<int64_t>(expires - SystemClock::Get()->NowMs(), 0, 24 * 3600 * 1000);
  expiry_timer_.expires_after(std::chrono::milliseconds(wait_ms));
  expiry_timer_.async_wait(
      [self = shared_from_this()](boost::system::error_code ec) { self->OnExpiry(ec); });
}

void SubscriberSession::OnExpiry(boost::system::error_code ec) {
  if (ec || closed_local()) return;  // re-armed (refresh) or closed
  const int64_t expires = access()->expires_at_ms();
  if (expires == 0) return;
  if (SystemClock::Get()->NowMs() < expires) return ArmExpiry();
  std::string message = "credential expired at " + std::to_string(expires) +
                        " ms; send {\"op\":\"refresh\",\"token\":...} before it expires, or "
                        "reconnect with a new token";
  CountAuthRefusal(ctx_->hub->metrics(), "token_expired");
  // WebSocket: an error message, then close 4401. SSE: SendClose writes the
  // error event itself.
  if (std::string_view(kind()) == "ws") SendError(-1, "token_expired", message);
  CloseAfterFlush(kCloseTokenExpired,
                  "token_expired: the credential expired; refresh it or reconnect with a new one");
}

std::vector<std::string> SubscriberSession::PatternTexts() const {
  MutexLock lock(mu_);
  return subs_.PatternTexts();
}

// ---------------------------------------------------------------------------
// Control messages, cursor, close
// ---------------------------------------------------------------------------

void SubscriberSession::EnqueueControl(const char* type, std::string json, Stream* stream,
                                       uint64_t seq) {
  MutexLock lock(mu_);
  if (lifecycle_ != Lifecycle::kOpen) return;
  PushLocked(OutItem::ForControl(type, std::move(json), stream, seq));
}

void SubscriberSession::EnqueueRaw(std::string bytes) {
  MutexLock lock(mu_);
  if (lifecycle_ == Lifecycle::kClosed) return;
  PushLocked(OutItem::ForRaw(std::move(bytes)));
}

void SubscriberSession::SendError(int64_t id, const Status& st) {
  std::string json;
  JsonWriter w(&json);
  w.BeginObject().Field("type", "error");
  if (id >= 0) w.Field("id", id);
  w.Field("code", st.reason()).Field("message", st.message());
  if (st.line()) w.Field("line", *st.line());
  if (st.code() == StatusCode::kEvicted && st.detail()) w.Field("oldest_seq", *st.detail());
  if (st.retry_after_ms()) w.Field("retry_after_ms", *st.retry_after_ms());
  json += st.fields();
  w.EndObject();
  EnqueueControl("error", std::move(json));
}

void SubscriberSession::SendError(int64_t id, std::string_view code, std::string_view message) {
  std::string json;
  JsonWriter w(&json);
  w.BeginObject().Field("type", "error");
  if (id >= 0) w.Field("id", id);
  w.Field("code", code).Field("message", message).EndObject();
  EnqueueControl("error", std::move(json));
}

void SubscriberSession::CursorAdvance(Stream* stream, uint64_t seq) {
  uint64_t& pos = cursor_[stream];
  if (seq > pos) pos = seq;
  cursor_dirty_ = true;
}

const std::string& SubscriberSession::CursorText() {
  if (!cursor_dirty_) return cursor_text_;
  cursor_text_.clear();
  // stream@epoch:seq joined by ','. Stream names cannot contain '@', ':'
  // or ',', and epochs are base-36, so the text parses unambiguously.
  for (const auto& [s, seq] : cursor_) {
    if (!cursor_text_.empty()) cursor_text_.push_back(',');
    cursor_text_ += s->name();
    cursor_text_.push_back('@');
    cursor_text_ += s->epoch();
    cursor_text_.push_back(':');
    cursor_text_ += std::to_string(seq);
  }
  cursor_dirty_ = false;
  return cursor_text_;
}

void CloseAllSessions(FanoutContext* ctx, std::chrono::milliseconds timeout) {
  auto snapshot = [ctx] {
    std::vector<std::shared_ptr<SubscriberSession>> live;
    std::lock_guard lock(ctx->sessions_mu);
    for (auto& [id, w] : ctx->sessions) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
    return live;
  };
  auto wait_empty = [ctx](std::chrono::milliseconds t) {
    auto deadline = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(ctx->sessions_mu);
        if (ctx->sessions.empty()) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  // First politely (WebSocket close 1001 after queued data), then hard.
  for (auto& s : snapshot()) {
    asio::post(s->ioc_, [s] { s->CloseAfterFlush(ws::kCloseGoingAway, "hub shutting down"); });
  }
  if (wait_empty(timeout / 2)) return;
  for (auto& s : snapshot()) {
    asio::post(s->ioc_, [s] { s->CloseNow("hub shutting down"); });
  }
  wait_empty(timeout / 2);
}

void SubscriberSession::Start() {
  {
    std::lock_guard lock(ctx_->sessions_mu);
    ctx_->sessions[id_] = weak_from_this();
  }
  ArmTimer();
  ArmExpiry();
  StartReading();
  ctx_->hub->SysEvent("open", JsonFields()
                                  .Add("session", id_)
                                  .Add("kind", kind())
                                  .Add("peer", peer_)
                                  .Add("sub", access()->principal().subject));
}

void SubscriberSession::CloseAfterFlush(uint16_t code, std::string reason) {
  if (closed_local()) return;
  bool was_open;
  {
    MutexLock lock(mu_);
    if (lifecycle_ >= Lifecycle::kCloseQueued) return;
    was_open = lifecycle_ == Lifecycle::kOpen;  // not a slow-client disconnect
    // Events held by max_hz go out before the close, not silently never.
    for (auto& [stream, sub] : subs_.streams()) FlushLocked(stream, sub, MonoNowNs());
    AdvanceLocked(Lifecycle::kClosing);  // no more events or replies
  }
  // So do the unread log events (appends from now on are dropped).
  if (was_open) MaterializeLogs();
  SendClose(code, reason);  // raw items are still accepted while closing
  {
    MutexLock lock(mu_);
    AdvanceLocked(Lifecycle::kCloseQueued);
    KickLocked();
  }
  close_deadline_ns_ = MonoNowNs() + 2'000'000'000;  // a stalled peer gets 2 s
  LogLine(
      LogLevel::kInfo, "closing",
      JsonFields().Add("session", id_).Add("code", static_cast<int>(code)).Add("reason", reason));
}

void SubscriberSession::CloseNow(std::string_view why) {
  if (closed_local()) return;
  {
    MutexLock lock(mu_);
    AdvanceLocked(Lifecycle::kClosed);
  }
  JsonFields fields;
  fields.Add("session", id_).Add("kind", kind()).Add("reason", why);
  FinishClose();
  ctx_->hub->SysEvent("close", fields);
}

void SubscriberSession::FinishClose() {
  if (write_state_ == WriteState::kClosed) return;
  write_state_ = WriteState::kClosed;
  {
    std::lock_guard lock(ctx_->sessions_mu);
    ctx_->sessions.erase(id_);
  }
  boost::system::error_code ec;
  timer_.cancel();
  coalesce_timer_.cancel();
  expiry_timer_.cancel();
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  std::vector<uint64_t> unwatch;
  std::vector<Subscriptions::Detached> detached;
  {
    MutexLock lock(mu_);
    AdvanceLocked(Lifecycle::kClosed);
    detached = subs_.RemoveAll(&unwatch);
    queue_.Release();  // held events' bytes included
    ready_.clear();
  }
  for (uint64_t w : unwatch) ctx_->hub->Unwatch(w);
  DetachStreams(detached);  // log_bytes_ is 0 after it
  SyncLogGauge();
  catching_up_.clear();
  inflight_.clear();
  reads_.clear();
  cursor_.clear();
}

void SubscriberSession::ArmTimer() {
  const auto& o = ctx_->options;
  int64_t tick = std::min({o.ws_ping_interval_ms, o.sse_keepalive_ms, o.write_timeout_ms}) / 2;
  tick = std::clamp<int64_t>(tick, 100, 5000);
  timer_.expires_after(std::chrono::milliseconds(tick));
  timer_.async_wait(
      [self = shared_from_this()](boost::system::error_code ec) { self->OnTimer(ec); });
}

void SubscriberSession::OnTimer(boost::system::error_code ec) {
  if (ec || closed_local()) return;
  const int64_t now = MonoNowNs();
  if (close_deadline_ns_ && now > close_deadline_ns_) return CloseNow("close deadline passed");
  if (write_state_ == WriteState::kWriting &&
      now - write_started_ns_ > ctx_->options.write_timeout_ms * 1'000'000) {
    return CloseNow("write timeout: peer not reading for " +
                    std::to_string(ctx_->options.write_timeout_ms) + " ms");
  }
  OnTick(now);
  if (closed_local()) return;
  SyncLogGauge();
  ArmTimer();
}

}  // namespace livehub
