// HistoryRing keeps the recent events of one stream, addressed by seq, bounded
// by count, bytes and age (whichever bites first; the oldest go first). It is
// also the stream's log that live cursor readers read at write time (see
// Stream::ReadLog): an event the history bounds evict while a reader has not
// read it yet is retained — no longer part of history (first_seq(), size(),
// bytes() and Find() no longer see it) but readable through FindRetained()
// until Trim() releases it. What is retained is bounded by the readers'
// queue budgets (their slow-client policy moves their cursors on).
// Thread safety: not thread-safe; guarded by its Stream's mutex.
// Invariant: events are contiguous: events_[i]->seq == retained_first_seq()
// + i; the first `retained_` of them are retained only, the rest are
// history, and first_seq() + size() == next_seq().
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

  // Appends the event with seq == next_seq() and evicts over-budget events
  // from history (they stay retained until Trim). Returns how many events
  // were evicted.
  size_t Append(EventPtr ev);
  // Evicts events older than max_age relative to now_ms. Returns the count.
  size_t EvictExpired(int64_t now_ms);
  // Releases evicted events with seq < keep_from (no reader needs them).
  void Trim(uint64_t keep_from);

  uint64_t first_seq() const { return next_seq_ - (events_.size() - retained_); }
  uint64_t next_seq() const { return next_seq_; }
  size_t size() const { return events_.size() - retained_; }
  size_t bytes() const { return bytes_; }
  bool empty() const { return size() == 0; }
  const HistoryLimits& limits() const { return limits_; }
  // Evicted events still held for readers, and their memory.
  size_t retained() const { return retained_; }
  size_t retained_bytes() const { return retained_bytes_; }
  uint64_t retained_first_seq() const { return next_seq_ - events_.size(); }

  // The history event with this seq, or null if history does not hold it.
  const EventPtr* Find(uint64_t seq) const {
    if (seq < first_seq() || seq >= next_seq_) return nullptr;
    return &events_[seq - retained_first_seq()];
  }
  // The same, evicted-but-retained events included (cursor reads).
  const EventPtr* FindRetained(uint64_t seq) const {
    if (seq < retained_first_seq() || seq >= next_seq_) return nullptr;
    return &events_[seq - retained_first_seq()];
  }

  // Restarts numbering (a fresh stream or a new epoch): next append is `seq`.
  void ResetTo(uint64_t next_seq) {
    events_.clear();
    bytes_ = retained_bytes_ = 0;
    retained_ = 0;
    next_seq_ = next_seq;
  }

 private:
  void EvictFront();  // the oldest history event becomes retained

  HistoryLimits limits_;
  std::deque<EventPtr> events_;  // retained, then history
  size_t retained_ = 0;
  size_t bytes_ = 0;  // history only
  size_t retained_bytes_ = 0;
  uint64_t next_seq_ = 1;
};

}  // namespace livehub
