// HistoryRing keeps the recent events of one stream, addressed by seq, bounded
// by count, bytes and age (whichever bites first; the oldest go first).
// Thread safety: not thread-safe; guarded by its Stream's mutex.
// Invariant: events are contiguous: at(i)->seq == first_seq() + i, and
// first_seq() + size() == next_seq().
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include "stream/event.h"

namespace livehub {

struct HistoryLimits {
  size_t max_events = 10'000;
  size_t max_bytes = 16u << 20;
  int64_t max_age_ms = 3'600'000;
};

class HistoryRing {
 public:
  explicit HistoryRing(HistoryLimits limits) : limits_(limits) {}

  // Appends the event with seq == next_seq() and evicts over-budget events.
  // Returns how many events were evicted.
  size_t Append(EventPtr ev);
  // Evicts events older than max_age relative to now_ms. Returns the count.
  size_t EvictExpired(int64_t now_ms);

  uint64_t first_seq() const { return next_seq_ - events_.size(); }
  uint64_t next_seq() const { return next_seq_; }
  size_t size() const { return events_.size(); }
  size_t bytes() const { return bytes_; }
  bool empty() const { return events_.empty(); }
  const HistoryLimits& limits() const { return limits_; }

  // The event with this seq, or null if it is not held.
  const EventPtr* Find(uint64_t seq) const {
    if (seq < first_seq() || seq >= next_seq_) return nullptr;
    return &events_[seq - first_seq()];
  }

  // Restarts numbering (a fresh stream or a new epoch): next append is `seq`.
  void ResetTo(uint64_t next_seq) {
    events_.clear();
    bytes_ = 0;
    next_seq_ = next_seq;
  }

 private:
  void PopFront();

  HistoryLimits limits_;
  std::deque<EventPtr> events_;
  size_t bytes_ = 0;
  uint64_t next_seq_ = 1;
};

}  // namespace livehub
