// Hub: the registry of streams and the one publish path. Every event, from
// the HTTP API, a WebSocket `publish` op, the demo source or the hub's own
// `$sys/events`, enters through Hub::Publish.
// Thread safety: thread-safe. Streams are created on first publish and live
// as long as the Hub, so Stream* handed out stays valid.
// Lock order: registry_mu_ -> Stream::mu_ -> subscriber locks.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "codec/body_decoder.h"
#include "core/clock.h"
#include "core/json_writer.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "metrics/metrics.h"
#include "stream/pattern.h"
#include "stream/stream.h"

namespace livehub {

// Per stream-pattern settings; for each setting the first rule that sets it
// wins, else the default in HubOptions applies.
struct StreamRule {
  Pattern pattern;
  std::optional<HistoryLimits> history;
  std::optional<Durability> durability;
  std::optional<RetentionLimits> retention;
  std::optional<KeyedOptions> keyed;  // keyed state (see stream/keyed_state.h)
};

// A check every publish (but the hub's own `$sys/` ones) passes before it is
// sequenced — the schema registry (src/schema/) plugs in here, so the one
// publish path stays one. A failure refuses the whole batch.
class Hub;
class PublishCheck {
 public:
  virtual ~PublishCheck() = default;
  // Called with no lock held; may publish system events through `hub`.
  virtual Status Check(Hub* hub, std::string_view stream,
                       const std::vector<std::string>& datas) = 0;
  // Column types for decoding CSV published to `stream` (empty: infer).
  virtual CsvColumnTypes CsvTypes(std::string_view stream) const = 0;
};

struct HubOptions {
  size_t max_streams = 100'000;
  HistoryLimits history;                       // default for every stream
  Durability durability = Durability::kAsync;  // with a store; `$sys/` is always memory
  RetentionLimits retention;                   // stored history, default for every stream
  KeyedOptions keyed;               // default: not keyed, unless inferred (see keyed_state.h)
  std::vector<StreamRule> rules;    // first matching rule wins
  int64_t warn_after_ms = 10'000;   // freshness: "warn" when the latest event is this old
  int64_t stale_after_ms = 60'000;  // ...and "stale" from this age
};

// Notified (with the registry lock held) when a stream matching its pattern
// is created; used by subscriptions with wildcards.
class StreamWatcher {
 public:
  virtual ~StreamWatcher() = default;
  virtual void OnStreamCreated(Stream* stream) = 0;
};

class Hub {
 public:
  // With a store, the streams it holds are restored (seq, epoch, recent
  // history); after a crash, `async` streams start a new epoch because their
  // last acknowledged events may be gone.
  Hub(HubOptions options, const Clock* clock, MetricsRegistry* metrics, Store* store = nullptr);
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Validates the name, creates the stream if needed, appends atomically.
  // allow_system lets the hub itself write "$sys/..." streams. Returns the
  // result at once, or nullopt for a `sync` stream: `on_commit` then gets it
  // from the store's writer thread once committed (see Stream::Append).
  std::optional<Result<PublishAck>> Publish(std::string_view stream,
                                            const std::vector<std::string>& datas,
                                            bool allow_system, PublishDone on_commit);
  // The same, waiting for the commit of a `sync` stream.
  Result<PublishAck> Publish(std::string_view stream, const std::vector<std::string>& datas,
                             bool allow_system = false);

  Stream* Find(std::string_view name) const;
  std::vector<Stream*> List() const;  // sorted by name
  size_t stream_count() const;

  // Registers a watcher for streams created later that match `pattern`, and
  // calls `existing` for each matching stream that exists now, atomically
  // with respect to stream creation: every matching stream is reported
  // exactly once, through one of the two.
  uint64_t Watch(const Pattern& pattern, std::weak_ptr<StreamWatcher> watcher,
                 const std::function<void(Stream*)>& existing);
  void Unwatch(uint64_t watch_id);

  // Publishes a lifecycle event to $sys/events and logs it as a JSON line.
  // `fields` are serialised JSON members (starting with ',' if non-empty).
  void SysEvent(std::string_view kind, const JsonFields& fields);

  // Installs the publish check (set once at start-up, before publishing).
  void SetPublishCheck(PublishCheck* check) { check_ = check; }
  PublishCheck* publish_check() const { return check_; }

  // Evicts events past their age limit in every stream (called periodically).
  void EvictExpired();

  const Clock* clock() const { return clock_; }
  MetricsRegistry* metrics() const { return metrics_; }
  const HubOptions& options() const { return options_; }
  Store* store() const { return store_; }

 private:
  struct WatchEntry {
    Pattern pattern;
    std::weak_ptr<StreamWatcher> watcher;
  };
  Result<Stream*> GetOrCreate(std::string_view name);
  std::string NewEpoch();
  void RenderStreamMetrics(std::string* out) const;
  void RestoreFromStore();
  Durability DurabilityFor(std::string_view name) const;
  HistoryLimits HistoryFor(std::string_view name) const;
  RetentionLimits RetentionFor(std::string_view name) const;
  KeyedOptions KeyedFor(std::string_view name) const;
  // Rebuilds a stored keyed stream's state from its stored events.
  void RestoreKeyed(Stream* stream, const StoredStream& ss);

  const HubOptions options_;
  const Clock* clock_;
  MetricsRegistry* metrics_;
  Store* store_;
  PublishCheck* check_ = nullptr;
  Counter* events_published_;
  Counter* bytes_published_;
  Counter* streams_created_;
  Counter* keyed_dropped_;

  mutable SharedMutex registry_mu_;
  std::unordered_map<std::string, std::unique_ptr<Stream>> streams_ GUARDED_BY(registry_mu_);
  // By watch id (ids grow, so iteration is in registration order; erase is
  // O(log n): 10,000 connections closing used to cost O(n^2) here).
  std::map<uint64_t, WatchEntry> watches_ GUARDED_BY(registry_mu_);
  uint64_t next_watch_id_ GUARDED_BY(registry_mu_) = 1;
  uint64_t epoch_salt_;  // set by the constructor, then read-only
};

}  // namespace livehub
