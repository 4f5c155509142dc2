// SubscriberSession, the publishers' side (any thread, under a Stream's
// mutex or the Hub registry lock): events pushed into the queue, cursor
// appends (OnLogAppend) and their slow-client policy, gaps, notices, new
// streams, and max_hz coalescing.
#include <algorithm>
#include <optional>

#include "codec/json_value.h"
#include "core/json_writer.h"
#include "fanout/session.h"

namespace livehub {

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
  if (unread + queue_bytes_.load(std::memory_order_relaxed) > ctx_->options.queue_bytes) {
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
  // The gap itself comes with the stream's next read (ReadLog returns it
  // under the lock that ordered the drop), ahead of newer events.
  (void)stream;
  MutexLock lock(mu_);
  queue_.CountDropped(to_seq - from_seq + 1);
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

void SubscriberSession::DropOldestLocked(size_t need_bytes) {
  queue_.DropOldest(need_bytes);
  // Held (coalesced) events are newer than anything queued of their stream,
  // so they go last.
  for (auto& [stream, sub] : subs_.streams()) {
    if (!queue_.OverDropTarget(need_bytes)) break;
    DropHeldLocked(sub, true);
  }
}

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

}  // namespace livehub
