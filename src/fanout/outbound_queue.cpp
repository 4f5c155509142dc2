#include "fanout/outbound_queue.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "core/json_writer.h"
#include "stream/stream.h"

namespace livehub {

static_assert(sizeof(OutItem) <= 32, "every subscriber queues one OutItem per event");

OutItem OutItem::ForControl(const char* type, std::string json, Stream* stream, uint64_t seq) {
  OutItem it;
  it.kind = ItemKind::kControl;
  it.ctl = std::make_unique<OutItem::Control>();
  it.ctl->text = std::move(json);
  it.ctl->type = type;
  it.ctl->stream = stream;
  it.ctl->seq = seq;
  return it;
}

OutItem OutItem::ForRaw(std::string bytes) {
  OutItem it;
  it.kind = ItemKind::kRaw;
  it.ctl = std::make_unique<OutItem::Control>();
  it.ctl->text = std::move(bytes);
  return it;
}

OutboundQueue::OutboundQueue(size_t budget_bytes, Gauge* queued, Counter* drops,
                             std::atomic<size_t>* mirror)
    : budget_(budget_bytes), queued_(queued), drops_(drops), mirror_(mirror) {}

// Whatever is still charged leaves the gauge with the connection.
OutboundQueue::~OutboundQueue() {
  if (bytes_) queued_->Add(-static_cast<int64_t>(bytes_));
}

void OutboundQueue::Charge(int64_t delta) {
  bytes_ = static_cast<size_t>(static_cast<int64_t>(bytes_) + delta);
  if (mirror_) mirror_->store(bytes_, std::memory_order_relaxed);
  queued_->Add(delta);
}

void OutboundQueue::Push(OutItem item) {
  Charge(static_cast<int64_t>(item.charge()));
  items_.push_back(std::move(item));
}

void OutboundQueue::Hold(size_t charge) {
  held_bytes_ += charge;
  Charge(static_cast<int64_t>(charge));
}

void OutboundQueue::Unhold(size_t charge) {
  held_bytes_ -= charge;
  Charge(-static_cast<int64_t>(charge));
}

void OutboundQueue::AddDroppedRange(Stream* stream, uint64_t from_seq, uint64_t to_seq) {
  // Per stream, dropped seqs arrive in increasing order; extend the last
  // range of that stream when contiguous.
  auto g = std::find_if(gaps_.rbegin(), gaps_.rend(),
                        [stream](const PendingGap& p) { return p.stream == stream; });
  if (g != gaps_.rend() && g->to_seq + 1 == from_seq) {
    g->to_seq = to_seq;
  } else {
    gaps_.push_back({stream, from_seq, to_seq});
  }
  CountDropped(to_seq - from_seq + 1);
}

void OutboundQueue::CountDropped(uint64_t n) {
  drops_->Add(n);
  dropped_since_report_ += n;
}

OutItem OutboundQueue::GapItem(Stream* stream, uint64_t from_seq, uint64_t to_seq) {
  std::string text;
  JsonWriter w(&text);
  w.BeginObject().Field("type", "gap").Field("stream", stream->name());
  w.Field("epoch", stream->epoch()).Field("from_seq", from_seq);
  w.Field("to_seq", to_seq).Field("reason", "slow_client").EndObject();
  return OutItem::ForControl("gap", std::move(text), stream, to_seq);
}

void OutboundQueue::DropOldest(size_t need_bytes) {
  size_t out = head_;
  for (size_t i = head_; i < items_.size(); ++i) {
    OutItem& it = items_[i];
    if (it.carries_events() && OverDropTarget(need_bytes)) {
      Charge(-static_cast<int64_t>(it.charge()));
      if (it.event) AddDropped(it.event->stream, it.event->seq);
      if (it.ctl) {
        for (const EventPtr& e : it.ctl->batch) AddDropped(e->stream, e->seq);
      }
      continue;
    }
    if (out != i) items_[out] = std::move(it);
    ++out;
  }
  items_.resize(out);
}

void OutboundQueue::ClearPending() {
  for (size_t i = head_; i < items_.size(); ++i) Charge(-static_cast<int64_t>(items_[i].charge()));
  items_.clear();
  head_ = 0;
}

void OutboundQueue::Release() {
  Charge(-static_cast<int64_t>(bytes_));
  std::vector<OutItem>().swap(items_);
  head_ = 0;
  held_bytes_ = 0;
  inflight_bytes_ = 0;
  gaps_.clear();
}

bool OutboundQueue::TakeBatch(std::vector<OutItem>* out, size_t max_items, size_t max_bytes) {
  for (const PendingGap& g : gaps_) {
    out->push_back(GapItem(g.stream, g.from_seq, g.to_seq));
    const size_t c = out->back().charge();
    inflight_bytes_ += c;
    Charge(static_cast<int64_t>(c));
  }
  gaps_.clear();
  bool carries_events = false;
  size_t batch_bytes = 0, taken = 0;
  while (head_ < items_.size() && taken < max_items && batch_bytes < max_bytes) {
    OutItem& item = items_[head_++];
    carries_events = carries_events || item.carries_events();
    const size_t c = item.charge();
    batch_bytes += c;
    inflight_bytes_ += c;
    out->push_back(std::move(item));
    ++taken;
  }
  if (head_ == items_.size()) {
    items_.clear();
    head_ = 0;
    if (items_.capacity() > 4096) items_.shrink_to_fit();
  } else if (head_ > 4096 && head_ * 2 > items_.size()) {
    items_.erase(items_.begin(), items_.begin() + static_cast<ptrdiff_t>(head_));
    head_ = 0;
  }
  return carries_events;
}

void OutboundQueue::AddInflight(size_t charge) {
  inflight_bytes_ += charge;
  Charge(static_cast<int64_t>(charge));
}

void OutboundQueue::CompleteBatch() {
  Charge(-static_cast<int64_t>(inflight_bytes_));
  inflight_bytes_ = 0;
}

uint64_t OutboundQueue::TakeDropReport(int64_t now_ns) {
  if (dropped_since_report_ == 0 || now_ns - last_drop_report_ns_ <= 1'000'000'000) return 0;
  const uint64_t n = dropped_since_report_;
  dropped_since_report_ = 0;
  last_drop_report_ns_ = now_ns;
  return n;
}

void OutboundQueue::CheckInvariant() const {
#ifndef NDEBUG
  size_t pending = 0;
  for (size_t i = head_; i < items_.size(); ++i) pending += items_[i].charge();
  if (bytes_ != pending + inflight_bytes_ + held_bytes_) {
    std::fprintf(stderr,
                 "OutboundQueue invariant broken: bytes %zu != pending %zu + in flight %zu + "
                 "held %zu\n",
                 bytes_, pending, inflight_bytes_, held_bytes_);
    std::abort();
  }
  for (const PendingGap& g : gaps_) {
    if (g.from_seq > g.to_seq) {
      std::fprintf(stderr, "OutboundQueue invariant broken: gap %llu..%llu\n",
                   static_cast<unsigned long long>(g.from_seq),
                   static_cast<unsigned long long>(g.to_seq));
      std::abort();
    }
  }
#endif
}

}  // namespace livehub
