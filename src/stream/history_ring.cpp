#include "stream/history_ring.h"

namespace livehub {

size_t HistoryRing::Append(EventPtr ev) {
  bytes_ += ev->charge();
  events_.push_back(std::move(ev));
  ++next_seq_;
  size_t evicted = 0;
  // Keep at least the newest event even if it alone exceeds max_bytes: the
  // publish was accepted and resume needs the latest position.
  while (size() > 1 && (size() > limits_.max_events || bytes_ > limits_.max_bytes)) {
    EvictFront();
    ++evicted;
  }
  if (limits_.max_events == 0) {  // history disabled
    while (!empty()) {
      EvictFront();
      ++evicted;
    }
  }
  return evicted;
}

size_t HistoryRing::EvictExpired(int64_t now_ms) {
  size_t evicted = 0;
  while (!empty() && now_ms - events_[retained_]->ts_ms > limits_.max_age_ms) {
    EvictFront();
    ++evicted;
  }
  return evicted;
}

void HistoryRing::EvictFront() {
  const size_t charge = events_[retained_]->charge();
  bytes_ -= charge;
  retained_bytes_ += charge;
  ++retained_;
}

void HistoryRing::Trim(uint64_t keep_from) {
  while (retained_ > 0 && events_.front()->seq < keep_from) {
    retained_bytes_ -= events_.front()->charge();
    events_.pop_front();
    --retained_;
  }
}

}  // namespace livehub
