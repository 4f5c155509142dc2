// SubscriberSession's write loop (session thread): pacing, batches from the
// queue and the streams' logs, gathered non-blocking writes, completion
// bookkeeping, catch-up.
#include <algorithm>
#include <span>

#include "core/json_writer.h"
#include "fanout/session.h"
#include "fanout/write_pacer.h"

namespace livehub {

void SubscriberSession::RunKickedWrite() {
  if (write_state_ == WriteState::kPaced) {
    write_state_ = WriteState::kIdle;
    ++pace_token_;  // the pacer's call for it is void now
  }
  DoWrite();
}

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
  size_t read = 0, gap_bytes = 0;
  for (auto& [stream, attachment] : reads_) {
    if (items >= kMaxBatchItems || bytes >= ctx_->options.write_batch_bytes) {
      again.push_back(stream);
      continue;
    }
    events.clear();
    const LogRead r = stream->ReadLog(attachment.get(), kMaxBatchItems - items,
                                      ctx_->options.write_batch_bytes - bytes, &events);
    if (r.gap_to != 0) {
      inflight_.push_back(OutboundQueue::GapItem(stream, r.gap_from, r.gap_to));
      gap_bytes += inflight_.back().charge();
    }
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
  queue_.AddInflight(read + gap_bytes);
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
    if (r.gap_to != 0) queue_.Push(OutboundQueue::GapItem(stream, r.gap_from, r.gap_to));
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
  const size_t n = WriteBytesNow(
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
  AsyncWriteBytes(
      std::span<const asio::const_buffer>(bufs_.data() + write_next_, bufs_.size() - write_next_));
}

size_t SubscriberSession::WriteBytesNow(std::span<const asio::const_buffer> bufs,
                                        boost::system::error_code& ec) {
  return socket_.write_some(bufs, ec);
}

void SubscriberSession::AsyncWriteBytes(std::span<const asio::const_buffer> bufs) {
  socket_.async_write_some(bufs,
                           [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                             self->WrittenAsync(ec, n);
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

}  // namespace livehub
