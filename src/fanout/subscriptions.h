// Subscriptions: what one consumer subscribed to — its patterns (each with
// the hub watch that reports streams created later, and its max_hz) and the
// streams attached for them (each with its attachment, slow-client policy
// and max_hz coalescing state). Transport-neutral: a WebSocket or SSE
// session keeps one, and so can a consumer without a socket (a sink, a
// ZeroMQ PUB output), which needs neither the write loop nor a queue.
//
// It holds state only; it never calls into a Stream or the Hub, so its
// owner can guard it with the lock that publisher threads take (the
// session's mu_) and still attach and watch outside that lock, as the lock
// order requires (Hub registry -> Stream -> session).
// Invariants:
//   - pattern texts are unique;
//   - every attached stream matched some pattern when it was attached
//     (RemovePatterns detaches those no remaining pattern matches);
//   - coalesced() == the number of attached streams with interval_ns > 0.
// Thread safety: not thread-safe; guarded by its owner.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fanout/access.h"
#include "fanout/fanout_options.h"
#include "stream/pattern.h"
#include "stream/stream.h"

namespace livehub {

class Subscriptions {
 public:
  struct StreamSub {
    std::shared_ptr<Attachment> attachment;
    SlowClientPolicy policy = SlowClientPolicy::kDropOldest;
    // Coalescing (max_hz > 0): events held until next_flush_ns, then sent
    // as one "batch" message. Held bytes count in the owner's queue.
    int64_t interval_ns = 0;  // 0: every event is delivered at once
    int64_t next_flush_ns = 0;
    std::vector<EventPtr> held;
    size_t held_bytes = 0;
  };
  struct PatternSub {
    Pattern pattern;
    uint64_t watch_id = 0;    // 0 until the hub watch is registered
    int64_t interval_ns = 0;  // for streams attached through it
  };
  // A stream taken out of the subscriptions; the owner detaches it from
  // its Stream (outside its lock) and releases what `sub` still holds.
  struct Detached {
    Stream* stream;
    StreamSub sub;
  };

  // --- patterns ---
  bool HasPattern(std::string_view text) const;
  // How many patterns there would be after adding `fresh` (duplicates of
  // held ones and of each other count once).
  size_t CountWith(const std::vector<Pattern>& fresh) const;
  // Adds a pattern (no-op for a duplicate text); returns false if it was
  // already there.
  bool AddPattern(const Pattern& pattern, int64_t interval_ns);
  void SetWatchId(std::string_view text, uint64_t watch_id);
  // The max_hz interval a stream created later gets: the first pattern
  // matching it decides.
  int64_t IntervalFor(std::string_view stream) const;
  std::vector<std::string> PatternTexts() const;
  size_t pattern_count() const { return patterns_.size(); }

  // --- attached streams ---
  bool Contains(Stream* stream) const { return subs_.count(stream) > 0; }
  StreamSub* Find(Stream* stream);
  void Add(Stream* stream, StreamSub sub);
  size_t size() const { return subs_.size(); }
  size_t coalesced() const { return coalesced_; }
  // The attached streams, to iterate (an owner may change a StreamSub's
  // held events and flush time, not its interval_ns: see coalesced()).
  std::unordered_map<Stream*, StreamSub>& streams() { return subs_; }

  // --- removal (each returns what the owner must detach) ---
  // Removes the listed patterns (unknown texts are ignored: `removed` gets
  // the ones that were there, `unwatch` their watch ids) and every stream
  // no remaining pattern matches.
  std::vector<Detached> RemovePatterns(const std::vector<std::string>& texts,
                                       std::vector<std::string>* removed,
                                       std::vector<uint64_t>* unwatch);
  // Removes every stream `access` may no longer read (after a refresh); the
  // patterns stay, and streams created later are filtered by the new grant.
  std::vector<Detached> RemoveUnreadable(const Access& access);
  // Removes everything (the connection closes).
  std::vector<Detached> RemoveAll(std::vector<uint64_t>* unwatch);

 private:
  std::vector<Detached> RemoveIf(const std::function<bool(Stream*)>& pred);

  std::vector<PatternSub> patterns_;
  std::unordered_map<Stream*, StreamSub> subs_;
  size_t coalesced_ = 0;
};

}  // namespace livehub
