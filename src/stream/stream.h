// Stream: a named, ordered log. Assigns seq/ts, keeps history, and delivers
// each appended event to the subscribers attached to it, in seq order.
// Thread safety: thread-safe; one mutex per stream. Subscriber callbacks are
// invoked with that mutex held (that is what makes catch-up-then-live exact),
// so they must be quick and must not call back into any Stream or the Hub.
// Lock order: Hub registry -> Stream -> subscriber's own lock.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "store/store.h"
#include "stream/event.h"
#include "stream/history_ring.h"
#include "stream/keyed_state.h"

namespace livehub {

class Stream;

// What a log reader asks of the stream after an append (see OnLogAppend).
struct LogVerdict {
  static constexpr size_t kAll = SIZE_MAX;
  size_t drop_bytes = 0;  // drop at least this much of the oldest unread events
  bool report = true;     // false: dropped silently (the reader is closing)
};

// How an attachment receives live events.
//   kPush       every event is handed over (OnEvent/OnEvents) as appended;
//   kLogCursor  the attachment is a cursor into the stream's log: appends
//               only tell the subscriber (OnLogAppend), which reads the
//               events itself when it can write them (Stream::ReadLog).
//               Catch-up is pushed as with kPush; the cursor starts once live.
enum class AttachMode : uint8_t { kPush, kLogCursor };

// Receives events of the streams it is attached to.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  // Called with the stream's mutex held, in seq order per stream (said
  // here, not with REQUIRES: a subscriber cannot name that mutex; Stream's
  // callers are REQUIRES(mu_)).
  virtual void OnEvent(const EventPtr& ev) = 0;
  // Consecutive events of one stream published together, in seq order (one
  // call per subscriber per publish, so a subscriber can take its lock once).
  virtual void OnEvents(const EventPtr* evs, size_t n) {
    for (size_t i = 0; i < n; ++i) OnEvent(evs[i]);
  }
  // Events [from_seq, to_seq] of `stream` will never be delivered.
  // reason: "evicted" | "epoch_changed".
  virtual void OnGap(Stream* stream, uint64_t from_seq, uint64_t to_seq,
                     std::string_view reason) = 0;
  // A message about the stream that is not one of its events (e.g. a
  // source's `health`): `json` is the whole message, `type` its type (a
  // string literal: it may be kept beyond the call).
  virtual void OnNotice(const char* type, const std::string& json) {
    (void)type;
    (void)json;
  }
  // kLogCursor attachments, once live (with the stream's mutex held): events
  // of `added_bytes` (their charge()) were appended and are now unread by
  // this attachment. `wake`: the first unread since the subscriber last
  // caught up (ReadLog) — it should schedule a read; later appends do not
  // wake it again until it has caught up. Must be quick (no Stream calls).
  // The verdict may ask the stream to drop unread events (slow client).
  virtual LogVerdict OnLogAppend(Stream* stream, size_t added_bytes, bool wake) {
    (void)stream;
    (void)added_bytes;
    (void)wake;
    return {};
  }
  // The unread events [from_seq, to_seq] (`bytes` of them) were dropped as
  // the verdict asked (`report` as it said). With the stream's mutex held.
  virtual void OnLogDropped(Stream* stream, uint64_t from_seq, uint64_t to_seq, size_t bytes,
                            bool report) {
    (void)stream;
    (void)from_seq;
    (void)to_seq;
    (void)bytes;
    (void)report;
  }
};

// One subscriber's attachment to one stream. Fields are guarded by the
// stream's mutex (not GUARDED_BY-annotated: the attachment cannot name it).
// Invariant (kLogCursor, live): next_seq <= the stream's next seq, every
// event in [next_seq, latest] is readable (the ring retains it past
// history eviction), and unread_bytes is the sum of their charge().
struct Attachment {
  std::shared_ptr<Subscriber> subscriber;
  AttachMode mode = AttachMode::kPush;  // immutable
  uint64_t start_seq = 1;               // first seq due at attach time (immutable)
  uint64_t next_seq = 1;                // next seq this subscriber should get (or read)
  bool live = false;                    // false while catching up from history
  size_t index = 0;                     // position in Stream::attachments_
  // kLogCursor only:
  size_t unread_bytes = 0;  // charge of [next_seq, latest]
  bool signalled = false;   // woken (OnLogAppend) and not caught up since
  // Reported drops (OnLogDropped) not yet handed to a read: the next
  // ReadLog returns them ahead of its events (0: none).
  uint64_t dropped_from = 0;
  uint64_t dropped_to = 0;
};

// What one ReadLog call took.
struct LogRead {
  size_t count = 0;
  size_t bytes = 0;       // their charge()
  bool caught_up = true;  // nothing unread is left: the next append wakes the reader
  // Events dropped (a reported verdict) since the last read, all older than
  // these: the reader owes a gap for them first (gap_to 0: none).
  uint64_t gap_from = 0;
  uint64_t gap_to = 0;
};

struct Watermark {
  std::string stream;
  std::string epoch;
  uint64_t latest_seq = 0;
  int64_t latest_ts_ms = 0;
  int64_t server_time_ms = 0;
};

struct StreamStats {
  Watermark watermark;
  uint64_t first_seq = 1;  // oldest seq held in memory
  size_t history_events = 0;
  size_t history_bytes = 0;
  // Evicted from history but kept for log readers that have not read them
  // (bounded by their queue budgets).
  size_t retained_bytes = 0;
  size_t subscribers = 0;
  uint64_t events_in = 0;
  uint64_t bytes_in = 0;
  uint64_t evicted = 0;
  double rate_per_s = 0;  // events/s over the last 10 whole seconds
  int64_t created_ms = 0;
  KeyedStats keyed;  // keyed.keyed is false for ordinary streams
};

struct PublishAck {
  std::string stream;
  std::string epoch;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  // Keyed streams: diffs of the batch dropped for naming another generation
  // (not appended; the stream now needs a full).
  uint64_t dropped = 0;
};
using PublishDone = std::function<void(Result<PublishAck>)>;

// Where a stream's events are kept beyond memory (see store/store.h).
struct StreamStorage {
  Store* store = nullptr;  // null: memory only
  int64_t id = 0;          // the stream's id in the store
  Durability durability = Durability::kMemory;
};

class Stream {
 public:
  Stream(std::string name, std::string epoch, HistoryLimits limits, const Clock* clock);
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  const std::string& name() const { return name_; }
  const std::string& epoch() const { return epoch_; }

  // Set once, before the stream is shared.
  void SetStorage(StreamStorage storage) { storage_ = storage; }
  // Keyed state options (see keyed_state.h). Set once, before the stream is shared.
  void SetKeyed(KeyedOptions options);
  // Restart: feeds one stored event (ascending seqs) to the keyed state, as
  // if it had been published (inference included). No delivery.
  void ReplayKeyed(uint64_t seq, std::string_view data);
  const StreamStorage& storage() const { return storage_; }
  // Restart: the next seq to assign and the newest stored events (ascending,
  // ending at next_seq - 1), which become the in-memory history.
  void Restore(uint64_t next_seq, int64_t latest_ts_ms, const std::vector<EventPtr>& recent);

  // Appends events (compact JSON data each) atomically: contiguous seqs, one
  // ts, all delivered before any later append. For `memory` and `async`
  // streams the result is returned at once; for `sync` ones it returns
  // nullopt and `on_commit` is called (on the store's writer thread) once the
  // events are committed — only then are they delivered and in history.
  // Fails with `store_unavailable` (nothing sequenced), and for keyed
  // streams with keyed_bad_event / state_too_large (nothing sequenced) or
  // generation_mismatch (every diff dropped; see PublishAck::dropped).
  std::optional<Result<PublishAck>> Append(const std::vector<std::string>& datas,
                                           PublishDone on_commit);
  // Memory and async streams only (tests, the demo).
  PublishAck Append(const std::vector<std::string>& datas);

  // Copies up to `limit` events with seq >= from_seq into *out, from the
  // store when memory no longer holds them. Evicted if from_seq is older
  // than anything held (detail() is the oldest available seq).
  Status Read(uint64_t from_seq, size_t limit, std::vector<EventPtr>* out, bool* has_more,
              uint64_t* next_seq) const;

  // Attaches a subscriber, not yet live. Delivery starts at start_seq
  // (0 or anything past the latest means "events after now"); the subscriber
  // then calls CatchUp() until it returns true, which delivers history and
  // switches it to live delivery atomically (no gap, no duplicate).
  // With `snapshot` non-null and a keyed stream holding state, *snapshot is
  // set to its `snapshot` message and delivery starts right after it,
  // whatever start_seq says.
  // `mode`: see AttachMode.
  std::shared_ptr<Attachment> Attach(std::shared_ptr<Subscriber> sub, uint64_t start_seq,
                                     std::string* snapshot = nullptr,
                                     AttachMode mode = AttachMode::kPush);
  bool keyed() const { return keyed_flag_.load(std::memory_order_acquire); }
  // Returns the bytes it had not read yet (kLogCursor), which the
  // subscriber stops counting.
  size_t Detach(const std::shared_ptr<Attachment>& a);

  // A live kLogCursor attachment's unread events, oldest first: appends up
  // to max_items (at least one if any is unread) and about max_bytes to
  // *out and moves its cursor past them. A detached or catching-up
  // attachment reads nothing (caught_up true). Any thread.
  LogRead ReadLog(Attachment* a, size_t max_items, size_t max_bytes, std::vector<EventPtr>* out);

  // Delivers up to `budget_bytes` of history to a catching-up attachment
  // (reporting evicted ranges via OnGap). Returns true once it is live.
  bool CatchUp(Attachment* a, size_t budget_bytes);

  // Sends a non-event message to every attached subscriber (OnNotice).
  void Notify(const char* type, const std::string& json);

  Watermark GetWatermark() const;
  StreamStats GetStats() const;
  uint64_t latest_seq() const;
  uint64_t first_seq() const;

  // Evicts events past max_age. Returns the count.
  size_t EvictExpired();

 private:
  void DeliverCatchUpLocked(Attachment* a, size_t budget_bytes, bool* live) REQUIRES(mu_);
  // Ring append + live delivery of sequenced (and, if sync, committed)
  // consecutive events.
  void AppendLocked(const EventPtr* evs, size_t n) REQUIRES(mu_);
  void CommitPending(uint64_t last_seq) EXCLUDES(mu_);
  // Events [from, to] read back from the store, as shareable events. Never
  // under mu_: it may wait for the store's writer, whose commit callbacks
  // (CommitPending) take mu_.
  std::vector<EventPtr> ReadStored(uint64_t from, uint64_t to, size_t limit, size_t max_bytes) const
      EXCLUDES(mu_);
  uint64_t OldestAvailableLocked() const REQUIRES(mu_);
  // Keyed admission of a batch: fills *kept when some diffs are dropped
  // (and sets *use_kept), notifies subscribers of need_full.
  Status AdmitKeyedLocked(const std::vector<std::string>& datas, std::vector<std::string>* kept,
                          bool* use_kept, uint64_t* dropped) REQUIRES(mu_);
  void CountRateLocked(int64_t now_ms, size_t n) REQUIRES(mu_);
  // Moves a log reader's cursor past its oldest unread events as its
  // verdict asks and tells it (OnLogDropped).
  void DropUnreadLocked(Attachment* a, const LogVerdict& v) REQUIRES(mu_);
  // The oldest seq a live log reader has not read (next_seq() if none):
  // what the ring must retain.
  uint64_t KeepFromLocked() const REQUIRES(mu_);

  const std::string name_;
  const std::string epoch_;
  const Clock* clock_;
  const int64_t created_ms_;

  StreamStorage storage_;  // set before the stream is shared, then read-only

  mutable Mutex mu_;
  HistoryRing ring_ GUARDED_BY(mu_);
  uint64_t next_seq_ GUARDED_BY(mu_) = 1;  // next seq to assign (ahead of ring_ while sync commits)
  std::deque<EventPtr> pending_ GUARDED_BY(mu_);  // sync: sequenced, not yet committed
  int64_t latest_ts_ms_ GUARDED_BY(mu_) = 0;
  uint64_t events_in_ GUARDED_BY(mu_) = 0;
  uint64_t bytes_in_ GUARDED_BY(mu_) = 0;
  uint64_t evicted_ GUARDED_BY(mu_) = 0;
  std::vector<std::shared_ptr<Attachment>> attachments_ GUARDED_BY(mu_);
  KeyedOptions keyed_options_ GUARDED_BY(mu_);
  std::unique_ptr<KeyedState> keyed_ GUARDED_BY(mu_);  // null: not keyed (yet)
  std::atomic<bool> keyed_flag_{false};                // keyed_ != null, readable without mu_
  // Per-second event counts for the rate (ring of 11 whole seconds).
  std::array<uint64_t, 11> rate_buckets_ GUARDED_BY(mu_) = {};
  int64_t rate_second_ GUARDED_BY(mu_) = 0;
};

}  // namespace livehub
