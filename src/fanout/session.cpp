// SubscriberSession: construction, subscriptions (subscribe, resume,
// unsubscribe, refresh, expiry), control messages, the SSE cursor and
// closing. Delivery from publishers is in session_delivery.cpp, the write
// loop in session_write.cpp (see session.h).
#include "fanout/session.h"

#include <algorithm>
#include <thread>

#include "codec/ws_codec.h"
#include "core/json_writer.h"
#include "core/log.h"

namespace livehub {

SubscriberSession::SubscriberSession(FanoutContext* ctx, asio::io_context& ioc, tcp::socket socket)
    : ctx_(ctx),
      ioc_(ioc),
      socket_(std::move(socket)),
      id_(ctx->next_session_id.fetch_add(1)),
      timer_(ioc),
      coalesce_timer_(ioc),
      expiry_timer_(ioc),
      kicks_(&asio::use_service<WriteKicks>(ioc)),
      queue_(ctx->options.queue_bytes, ctx->queued_bytes, ctx->drops_slow_client, &queue_bytes_),
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
