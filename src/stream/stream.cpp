#include "stream/stream.h"

namespace livehub {

Stream::Stream(std::string name, std::string epoch, HistoryLimits limits, const Clock* clock)
    : name_(std::move(name)),
      epoch_(std::move(epoch)),
      clock_(clock),
      created_ms_(clock->NowMs()),
      ring_(limits) {}

PublishAck Stream::Append(const std::vector<std::string>& datas) {
  PublishAck ack{name_, epoch_, 0, 0};
  std::lock_guard lock(mu_);
  const int64_t now_ms = clock_->NowMs();
  const int64_t mono = clock_->MonoNs();
  // ts never goes backwards within a stream, even if the wall clock does.
  const int64_t ts = now_ms > latest_ts_ms_ ? now_ms : latest_ts_ms_;
  ack.first_seq = ring_.next_seq();
  for (const std::string& data : datas) {
    EventPtr ev = MakeEvent(this, name_, epoch_, ring_.next_seq(), ts, mono, data);
    bytes_in_ += data.size();
    evicted_ += ring_.Append(ev);
    for (const auto& a : attachments_) {
      if (a->live) {
        a->next_seq = ev->seq + 1;
        a->subscriber->OnEvent(ev);
      }
    }
  }
  ack.last_seq = ring_.next_seq() - 1;
  events_in_ += datas.size();
  latest_ts_ms_ = ts;
  CountRateLocked(now_ms, datas.size());
  return ack;
}

Status Stream::Read(uint64_t from_seq, size_t limit, std::vector<EventPtr>* out, bool* has_more,
                    uint64_t* next_seq) const {
  std::lock_guard lock(mu_);
  if (from_seq == 0) from_seq = 1;
  const uint64_t first = ring_.first_seq();
  if (from_seq < first) {
    return Status::Evicted("seq " + std::to_string(from_seq) + " of stream '" + name_ +
                           "' is no longer held; the oldest available seq is " +
                           std::to_string(first))
        .WithDetail(first);
  }
  uint64_t seq = from_seq;
  while (seq < ring_.next_seq() && out->size() < limit) {
    out->push_back(*ring_.Find(seq));
    ++seq;
  }
  *has_more = seq < ring_.next_seq();
  *next_seq = seq;
  return Status::Ok();
}

std::shared_ptr<Attachment> Stream::Attach(std::shared_ptr<Subscriber> sub, uint64_t start_seq) {
  auto a = std::make_shared<Attachment>();
  a->subscriber = std::move(sub);
  std::lock_guard lock(mu_);
  const uint64_t live_seq = ring_.next_seq();
  a->next_seq = (start_seq == 0 || start_seq > live_seq) ? live_seq : start_seq;
  // Never live at attach: the subscriber's own thread flips it with
  // CatchUp(), so it can send its `subscribed` reply before any event.
  a->live = false;
  a->start_seq = a->next_seq;
  a->index = attachments_.size();
  attachments_.push_back(a);
  return a;
}

void Stream::Detach(const std::shared_ptr<Attachment>& a) {
  std::lock_guard lock(mu_);
  size_t i = a->index;
  if (i >= attachments_.size() || attachments_[i] != a) return;  // already detached
  attachments_[i] = std::move(attachments_.back());
  attachments_[i]->index = i;
  attachments_.pop_back();
  a->live = false;
}

bool Stream::CatchUp(Attachment* a, size_t budget_bytes) {
  std::lock_guard lock(mu_);
  bool live = a->live;
  if (!live) DeliverCatchUpLocked(a, budget_bytes, &live);
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
  std::lock_guard lock(mu_);
  return Watermark{name_, epoch_, ring_.next_seq() - 1, latest_ts_ms_, clock_->NowMs()};
}

StreamStats Stream::GetStats() const {
  std::lock_guard lock(mu_);
  StreamStats s;
  s.watermark = Watermark{name_, epoch_, ring_.next_seq() - 1, latest_ts_ms_, clock_->NowMs()};
  s.first_seq = ring_.first_seq();
  s.history_events = ring_.size();
  s.history_bytes = ring_.bytes();
  s.subscribers = attachments_.size();
  s.events_in = events_in_;
  s.bytes_in = bytes_in_;
  s.evicted = evicted_;
  s.created_ms = created_ms_;
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
  std::lock_guard lock(mu_);
  return ring_.next_seq() - 1;
}

uint64_t Stream::first_seq() const {
  std::lock_guard lock(mu_);
  return ring_.first_seq();
}

size_t Stream::EvictExpired() {
  std::lock_guard lock(mu_);
  size_t n = ring_.EvictExpired(clock_->NowMs());
  evicted_ += n;
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

}  // namespace livehub
