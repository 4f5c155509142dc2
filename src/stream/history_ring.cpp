#include "stream/history_ring.h"

namespace livehub {

size_t HistoryRing::Append(EventPtr ev) {
  bytes_ += ev->charge();
  events_.push_back(std::move(ev));
  ++next_seq_;
  size_t evicted = 0;
  // Keep at least the newest event even if it alone exceeds max_bytes: the
  // publish was accepted and resume needs the latest position.
  while (events_.size() > 1 &&
         (events_.size() > limits_.max_events || bytes_ > limits_.max_bytes)) {
    PopFront();
    ++evicted;
  }
  if (limits_.max_events == 0) {  // history disabled
    while (!events_.empty()) {
      PopFront();
      ++evicted;
    }
  }
  return evicted;
}

size_t HistoryRing::EvictExpired(int64_t now_ms) {
  size_t evicted = 0;
  while (!events_.empty() && now_ms - events_.front()->ts_ms > limits_.max_age_ms) {
    PopFront();
    ++evicted;
  }
  return evicted;
}

void HistoryRing::PopFront() {
  bytes_ -= events_.front()->charge();
  events_.pop_front();
}

}  // namespace livehub
