#include "stream/stream.h"

#include <algorithm>

namespace livehub {

Stream::Stream(std::string name, std::string epoch, HistoryLimits limits, const Clock* clock)
    : name_(std::move(name)),
      epoch_(std::move(epoch)),
      clock_(clock),
      created_ms_(clock->NowMs()),
      ring_(limits) {}

void Stream::Restore(uint64_t next_seq, int64_t latest_ts_ms, const std::vector<EventPtr>& recent) {
  MutexLock lock(mu_);
  ring_.ResetTo(recent.empty() ? next_seq : recent.front()->seq);
  for (const EventPtr& ev : recent) evicted_ += ring_.Append(ev);
  if (ring_.next_seq() != next_seq) ring_.ResetTo(next_seq);  // not contiguous: serve from store
  ring_.Trim(ring_.next_seq());  // no reader yet: nothing evicted is retained
  next_seq_ = next_seq;
  latest_ts_ms_ = latest_ts_ms;
}

void Stream::SetKeyed(KeyedOptions options) {
  MutexLock lock(mu_);
  keyed_options_ = options;
  if (options.mode == KeyedMode::kOn && !keyed_) {
    keyed_ = std::make_unique<KeyedState>(options.max_state_bytes);
  }
  if (options.mode == KeyedMode::kOff) keyed_.reset();
  keyed_flag_.store(keyed_ != nullptr, std::memory_order_release);
}

void Stream::ReplayKeyed(uint64_t seq, std::string_view data) {
  MutexLock lock(mu_);
  if (!keyed_ && keyed_options_.mode == KeyedMode::kInfer && seq == 1 &&
      KeyedState::LooksLikeFull(data)) {
    keyed_ = std::make_unique<KeyedState>(keyed_options_.max_state_bytes);
    keyed_flag_.store(true, std::memory_order_release);
  }
  if (!keyed_) return;
  auto env = KeyedState::ParseEnvelope(data);
  if (!env.ok() || !keyed_->Admit(&*env)) return;
  keyed_->Apply(seq, data);
}

Status Stream::AdmitKeyedLocked(const std::vector<std::string>& datas,
                                std::vector<std::string>* kept, bool* use_kept, uint64_t* dropped) {
  bool created = false;
  if (!keyed_ && keyed_options_.mode == KeyedMode::kInfer && next_seq_ == 1 &&
      KeyedState::LooksLikeFull(datas.front())) {
    keyed_ = std::make_unique<KeyedState>(keyed_options_.max_state_bytes);
    keyed_flag_.store(true, std::memory_order_release);
    created = true;
  }
  if (!keyed_) return Status::Ok();
  // All or nothing for malformed events: check every envelope first.
  std::vector<KeyedState::Envelope> envs;
  envs.reserve(datas.size());
  for (size_t i = 0; i < datas.size(); ++i) {
    auto env = KeyedState::ParseEnvelope(datas[i]);
    Status st = env.ok() ? keyed_->CheckSize(*env) : env.status();
    if (!st.ok()) {
      if (created) {
        keyed_.reset();
        keyed_flag_.store(false, std::memory_order_release);
      }
      return Status(st).WithDetail(i);
    }
    envs.push_back(*env);
  }
  uint64_t rejected = 0;
  kept->reserve(datas.size());
  for (size_t i = 0; i < datas.size(); ++i) {
    const bool had_generation = envs[i].generation != 0;
    if (!keyed_->Admit(&envs[i])) {
      ++*dropped;
      rejected = envs[i].generation;
      *use_kept = true;
      continue;
    }
    if (envs[i].kind == KeyedState::Kind::kFull && !had_generation) {
      // Subscribers and replays see which generation this full starts.
      kept->push_back("{\"generation\":" + std::to_string(envs[i].generation) + "," +
                      datas[i].substr(1));
      *use_kept = true;
    } else {
      kept->push_back(datas[i]);
    }
  }
  if (*dropped) {
    const std::string notice = keyed_->NeedFullJson(name_, epoch_, rejected);
    for (const auto& a : attachments_) a->subscriber->OnNotice("need_full", notice);
  }
  if (kept->empty()) {
    return Status::InvalidArgument("generation_mismatch",
                                   "diff for generation " + std::to_string(rejected) +
                                       " dropped: stream '" + name_ + "' is at generation " +
                                       std::to_string(keyed_->Stats().generation) +
                                       (keyed_->Stats().generation == 0 ? " (no full yet)" : "") +
                                       "; publish a full to start a new generation");
  }
  return Status::Ok();
}

void Stream::AppendLocked(const EventPtr* evs, size_t n) {
  if (n == 0) return;
  size_t added = 0;
  for (size_t i = 0; i < n; ++i) {
    if (keyed_) keyed_->Apply(evs[i]->seq, evs[i]->data());
    evicted_ += ring_.Append(evs[i]);
    added += evs[i]->charge();
  }
  const uint64_t next = evs[n - 1]->seq + 1;
  uint64_t keep_from = next;
  for (const auto& a : attachments_) {
    if (!a->live) continue;
    if (a->mode == AttachMode::kLogCursor) {
      // A cursor: no per-event hand-over; the reader is woken once and
      // reads the log when it writes (ReadLog).
      a->unread_bytes += added;
      const bool wake = !a->signalled;
      a->signalled = true;
      const LogVerdict v = a->subscriber->OnLogAppend(this, added, wake);
      if (v.drop_bytes > 0) DropUnreadLocked(a.get(), v);
      keep_from = std::min(keep_from, a->next_seq);
      continue;
    }
    a->next_seq = next;
    if (n == 1) {
      a->subscriber->OnEvent(evs[0]);
    } else {
      a->subscriber->OnEvents(evs, n);
    }
  }
  ring_.Trim(keep_from);
}

void Stream::DropUnreadLocked(Attachment* a, const LogVerdict& v) {
  const uint64_t from = a->next_seq;
  const uint64_t head = ring_.next_seq();
  size_t freed = 0;
  while (a->next_seq < head && freed < v.drop_bytes) {
    freed += (*ring_.FindRetained(a->next_seq))->charge();
    ++a->next_seq;
  }
  if (a->next_seq == from) return;
  a->unread_bytes -= freed;
  if (v.report) {  // contiguous with any earlier unread drop: no read in between
    if (a->dropped_to == 0) a->dropped_from = from;
    a->dropped_to = a->next_seq - 1;
  }
  // `signalled` stays: the reader may hold a pending wake; its next read
  // finds what is left and clears it.
  a->subscriber->OnLogDropped(this, from, a->next_seq - 1, freed, v.report);
}

uint64_t Stream::KeepFromLocked() const {
  uint64_t keep_from = ring_.next_seq();
  for (const auto& a : attachments_) {
    if (a->live && a->mode == AttachMode::kLogCursor) keep_from = std::min(keep_from, a->next_seq);
  }
  return keep_from;
}

LogRead Stream::ReadLog(Attachment* a, size_t max_items, size_t max_bytes,
                        std::vector<EventPtr>* out) {
  LogRead r;
  MutexLock lock(mu_);
  if (!a->live || a->mode != AttachMode::kLogCursor) return r;
  // Under the same lock as the drops, so the gap goes before the events
  // that follow it, whenever the drop happened.
  r.gap_from = a->dropped_from;
  r.gap_to = a->dropped_to;
  a->dropped_from = a->dropped_to = 0;
  const uint64_t head = ring_.next_seq();
  while (a->next_seq < head && r.count < max_items && (r.count == 0 || r.bytes < max_bytes)) {
    const EventPtr& ev = *ring_.FindRetained(a->next_seq);
    r.bytes += ev->charge();
    out->push_back(ev);
    ++a->next_seq;
    ++r.count;
  }
  a->unread_bytes -= r.bytes;
  r.caught_up = a->next_seq >= head;
  if (r.caught_up) a->signalled = false;
  return r;
}

std::optional<Result<PublishAck>> Stream::Append(const std::vector<std::string>& datas,
                                                 PublishDone on_commit) {
  PublishAck ack{name_, epoch_, 0, 0};
  Store* store = storage_.durability == Durability::kMemory ? nullptr : storage_.store;
  MutexLock lock(mu_);
  if (store) {
    if (Status st = store->Writable(); !st.ok()) return Result<PublishAck>(st);
  }
  std::vector<std::string> kept;
  bool use_kept = false;
  if (keyed_options_.mode != KeyedMode::kOff && !datas.empty()) {
    Status st = AdmitKeyedLocked(datas, &kept, &use_kept, &ack.dropped);
    if (!st.ok()) return Result<PublishAck>(st);
  }
  const std::vector<std::string>& batch = use_kept ? kept : datas;
  const int64_t now_ms = clock_->NowMs();
  const int64_t mono = clock_->MonoNs();
  // ts never goes backwards within a stream, even if the wall clock does.
  const int64_t ts = now_ms > latest_ts_ms_ ? now_ms : latest_ts_ms_;
  ack.first_seq = next_seq_;
  std::vector<StoreRecord> records;
  if (store) records.reserve(batch.size());
  const bool sync = store && storage_.durability == Durability::kSync;
  std::vector<EventPtr> events;
  events.reserve(batch.size());
  for (const std::string& data : batch) {
    EventPtr ev = MakeEvent(this, name_, epoch_, next_seq_++, ts, mono, data);
    bytes_in_ += data.size();
    if (store) records.push_back(StoreRecord{ev->seq, ts, ev->data(), ev});
    events.push_back(std::move(ev));
  }
  if (sync) {
    for (EventPtr& ev : events) pending_.push_back(std::move(ev));
  } else {
    AppendLocked(events.data(), events.size());
  }
  ack.last_seq = next_seq_ - 1;
  events_in_ += batch.size();
  latest_ts_ms_ = ts;
  CountRateLocked(now_ms, batch.size());
  if (!store) return Result<PublishAck>(std::move(ack));
  if (!sync) {
    store->Enqueue(storage_.id, std::move(records), nullptr);
    return Result<PublishAck>(std::move(ack));
  }
  // Queued under the stream lock, so commits (FIFO) come in seq order.
  store->Enqueue(storage_.id, std::move(records),
                 [this, ack, done = std::move(on_commit)]() mutable {
                   CommitPending(ack.last_seq);
                   if (done) done(Result<PublishAck>(std::move(ack)));
                 });
  return std::nullopt;
}

PublishAck Stream::Append(const std::vector<std::string>& datas) {
  auto r = Append(datas, nullptr);
  return r && r->ok() ? std::move(**r) : PublishAck{name_, epoch_, 0, 0};
}

void Stream::CommitPending(uint64_t last_seq) {
  MutexLock lock(mu_);
  std::vector<EventPtr> committed;
  while (!pending_.empty() && pending_.front()->seq <= last_seq) {
    committed.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  AppendLocked(committed.data(), committed.size());
}

std::vector<EventPtr> Stream::ReadStored(uint64_t from, uint64_t to, size_t limit,
                                         size_t max_bytes) const {
  std::vector<EventPtr> out;
  if (!storage_.store || from > to) return out;
  std::vector<StoredEvent> rows;
  if (!storage_.store->Read(storage_.id, from, to, limit, max_bytes, &rows).ok()) return out;
  const bool short_read =
      rows.empty() || rows.front().seq != from ||
      (rows.size() < limit && rows.back().seq < to && rows.back().seq == from + rows.size() - 1);
  if (short_read && to > storage_.store->LastSeq(storage_.id) && storage_.store->Writable().ok()) {
    // Memory may have evicted async events the writer has not committed
    // yet (a burst larger than memory history): wait for the commit in
    // progress (normally a few ms) rather than report them missing or
    // answer a short page.
    storage_.store->Flush(1000);
    rows.clear();
    if (!storage_.store->Read(storage_.id, from, to, limit, max_bytes, &rows).ok()) return out;
  }
  const int64_t mono = clock_->MonoNs();
  out.reserve(rows.size());
  for (const StoredEvent& r : rows) {
    out.push_back(
        MakeEvent(const_cast<Stream*>(this), name_, epoch_, r.seq, r.ts_ms, mono, r.data));
  }
  return out;
}

uint64_t Stream::OldestAvailableLocked() const {
  uint64_t first = ring_.first_seq();
  if (storage_.store) first = std::min(first, storage_.store->FirstSeq(storage_.id));
  return first;
}

Status Stream::Read(uint64_t from_seq, size_t limit, std::vector<EventPtr>* out, bool* has_more,
                    uint64_t* next_seq) const {
  if (from_seq == 0) from_seq = 1;
  uint64_t ring_first;
  {
    MutexLock lock(mu_);
    ring_first = ring_.first_seq();
  }
  uint64_t seq = from_seq;
  if (seq < ring_first && storage_.store) {
    // Older than memory: read the store (outside the lock).
    std::vector<EventPtr> stored = ReadStored(seq, ring_first - 1, limit, 64u << 20);
    for (EventPtr& ev : stored) {
      if (ev->seq != seq) break;  // a hole (retention ran meanwhile): stop here
      out->push_back(std::move(ev));
      ++seq;
    }
    if (out->size() >= limit || (!out->empty() && seq < ring_first)) {
      *has_more = true;
      *next_seq = seq;
      return Status::Ok();
    }
  }
  MutexLock lock(mu_);
  const uint64_t first = ring_.first_seq();
  if (seq < first) {
    if (!out->empty()) {  // memory moved on while we read the store: next call
      *has_more = true;
      *next_seq = seq;
      return Status::Ok();
    }
    const uint64_t oldest = OldestAvailableLocked();
    return Status::Evicted("seq " + std::to_string(from_seq) + " of stream '" + name_ +
                           "' is no longer held; the oldest available seq is " +
                           std::to_string(oldest))
        .WithDetail(oldest);
  }
  while (seq < ring_.next_seq() && out->size() < limit) {
    out->push_back(*ring_.Find(seq));
    ++seq;
  }
  *has_more = seq < ring_.next_seq();
  *next_seq = seq;
  return Status::Ok();
}

std::shared_ptr<Attachment> Stream::Attach(std::shared_ptr<Subscriber> sub, uint64_t start_seq,
                                           std::string* snapshot, AttachMode mode) {
  auto a = std::make_shared<Attachment>();
  a->subscriber = std::move(sub);
  a->mode = mode;
  MutexLock lock(mu_);
  const uint64_t live_seq = ring_.next_seq();  // sync: pending events come later
  a->next_seq = (start_seq == 0 || start_seq > live_seq) ? live_seq : start_seq;
  if (snapshot && keyed_ && keyed_->has_state()) {
    // The state is applied as events reach history, so it is exactly the
    // log up to state_seq() == live_seq - 1: continue right after it.
    *snapshot = keyed_->SnapshotJson(name_, epoch_);
    a->next_seq = keyed_->state_seq() + 1;
  }
  // Never live at attach: the subscriber's own thread flips it with
  // CatchUp(), so it can send its `subscribed` reply before any event.
  a->live = false;
  a->start_seq = a->next_seq;
  a->index = attachments_.size();
  attachments_.push_back(a);
  return a;
}

size_t Stream::Detach(const std::shared_ptr<Attachment>& a) {
  MutexLock lock(mu_);
  size_t i = a->index;
  if (i >= attachments_.size() || attachments_[i] != a) return 0;  // already detached
  attachments_[i] = std::move(attachments_.back());
  attachments_[i]->index = i;
  attachments_.pop_back();
  a->live = false;
  const size_t unread = a->unread_bytes;
  a->unread_bytes = 0;
  a->signalled = false;
  // What only it retained goes at the next append or expiry pass.
  return unread;
}

bool Stream::CatchUp(Attachment* a, size_t budget_bytes) {
  MutexLock lock(mu_);
  if (a->live) return true;
  if (storage_.store && a->next_seq < ring_.first_seq()) {
    // Older than memory: read a budget's worth from the store without
    // holding the lock (publishers keep going), then deliver under it.
    // Only this subscriber's thread moves a catching-up attachment.
    const uint64_t from = a->next_seq, to = ring_.first_seq() - 1;
    lock.unlock();
    std::vector<EventPtr> stored = ReadStored(from, to, 10'000, budget_bytes);
    lock.lock();
    if (!stored.empty()) {
      for (const EventPtr& ev : stored) {
        if (ev->seq < a->next_seq) continue;
        if (ev->seq > a->next_seq) {
          a->subscriber->OnGap(this, a->next_seq, ev->seq - 1, "evicted");
        }
        a->subscriber->OnEvent(ev);
        a->next_seq = ev->seq + 1;
      }
      return false;  // the next call continues (from the store or memory)
    }
  }
  bool live = false;
  DeliverCatchUpLocked(a, budget_bytes, &live);
  return live;
}

void Stream::DeliverCatchUpLocked(Attachment* a, size_t budget_bytes, bool* live) {
  const uint64_t first = ring_.first_seq();
  if (a->next_seq < first) {
    a->subscriber->OnGap(this, a->next_seq, first - 1, "evicted");
    a->next_seq = first;
  }
  size_t spent = 0;
  while (a->next_seq < ring_.next_seq() && spent < budget_bytes) {
    const EventPtr& ev = *ring_.Find(a->next_seq);
    spent += ev->charge();
    a->subscriber->OnEvent(ev);
    ++a->next_seq;
  }
  if (a->next_seq >= ring_.next_seq()) {
    a->live = true;
    *live = true;
  }
}

Watermark Stream::GetWatermark() const {
  MutexLock lock(mu_);
  return Watermark{name_, epoch_, ring_.next_seq() - 1, latest_ts_ms_, clock_->NowMs()};
}

StreamStats Stream::GetStats() const {
  MutexLock lock(mu_);
  StreamStats s;
  s.watermark = Watermark{name_, epoch_, ring_.next_seq() - 1, latest_ts_ms_, clock_->NowMs()};
  s.first_seq = ring_.first_seq();
  s.history_events = ring_.size();
  s.history_bytes = ring_.bytes();
  s.retained_bytes = ring_.retained_bytes();
  s.subscribers = attachments_.size();
  s.events_in = events_in_;
  s.bytes_in = bytes_in_;
  s.evicted = evicted_;
  s.created_ms = created_ms_;
  if (keyed_) s.keyed = keyed_->Stats();
  // Rate over the 10 whole seconds before the current one.
  const int64_t now_s = s.watermark.server_time_ms / 1000;
  uint64_t sum = 0;
  for (int64_t sec = now_s - 10; sec < now_s; ++sec) {
    if (sec > rate_second_ - 11 && sec <= rate_second_) {
      sum += rate_buckets_[static_cast<size_t>(sec % 11)];
    }
  }
  s.rate_per_s = sum / 10.0;
  return s;
}

uint64_t Stream::latest_seq() const {
  MutexLock lock(mu_);
  return ring_.next_seq() - 1;
}

uint64_t Stream::first_seq() const {
  MutexLock lock(mu_);
  return OldestAvailableLocked();
}

size_t Stream::EvictExpired() {
  MutexLock lock(mu_);
  size_t n = ring_.EvictExpired(clock_->NowMs());
  evicted_ += n;
  ring_.Trim(KeepFromLocked());
  return n;
}

void Stream::CountRateLocked(int64_t now_ms, size_t n) {
  const int64_t sec = now_ms / 1000;
  if (sec != rate_second_) {
    // Clear the buckets of the seconds skipped since the last append.
    for (int64_t s = rate_second_ + 1; s <= sec && s <= rate_second_ + 11; ++s) {
      rate_buckets_[static_cast<size_t>(s % 11)] = 0;
    }
    if (sec > rate_second_ + 11 || sec < rate_second_) rate_buckets_.fill(0);
    rate_second_ = sec;
  }
  rate_buckets_[static_cast<size_t>(sec % 11)] += n;
}

void Stream::Notify(const char* type, const std::string& json) {
  MutexLock lock(mu_);
  for (const auto& a : attachments_) a->subscriber->OnNotice(type, json);
}

}  // namespace livehub
