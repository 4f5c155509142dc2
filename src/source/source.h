// Source: an ingest connector (MQTT, WebSocket/SSE client, HTTP polling,
// GTFS-Realtime, the mock) and everything connectors have in common:
//   - health: disconnected -> connecting -> subscribed -> receiving <-> stalled,
//     with stall detection, last-message age, reconnect count, last error;
//   - decoding (json | ndjson | csv | text) and the stream template that maps
//     each record to a stream (see source/template.h);
//   - caps (max message size, max rate) and the bounded ingest queue with its
//     policy (drop_oldest | throttle) in front of Hub::Publish — the one
//     publish path; every message received is published or counted by reason;
//   - cursors in the store (Last-Event-ID, offsets), saved in order with the
//     events they cover.
// A connector subclass does the I/O and calls the protected Ingest*/SetState
// helpers.
//
// Threading: every source runs on the sources' io_context (one thread, see
// SourceManager). Start/Stop/Control/OnResume and all protected helpers run on
// that thread. Snapshot() may be called from any thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <any>
#include <atomic>
#include <boost/asio.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config_walker.h"
#include "core/json_writer.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "source/template.h"
#include "stream/hub.h"

namespace livehub {

enum class SourceState { kDisconnected, kConnecting, kSubscribed, kReceiving, kStalled };
const char* SourceStateName(SourceState s);

// How a message's payload becomes records (one event each).
//   json    one JSON value; a top-level array -> one record per element
//   ndjson  one JSON value per line
//   csv     rows -> objects, header row first unless csv_columns is set
//   text    the payload as one JSON string
enum class PayloadFormat { kJson, kNdjson, kCsv, kText };
Result<PayloadFormat> ParsePayloadFormat(std::string_view s);
const char* PayloadFormatName(PayloadFormat f);

// What happens when the ingest queue is over its byte budget.
//   drop_oldest  the oldest queued records are dropped (counted, drop event)
//   throttle     the source stops reading (TCP backpressure, MQTT loop
//                paused, next poll delayed) until the queue drains to half
enum class QueuePolicy { kDropOldest, kThrottle };

struct BackoffOptions {
  int64_t initial_ms = 1'000;
  int64_t max_ms = 30'000;
  double multiplier = 2.0;
  double jitter = 0.2;              // +/- this fraction, uniformly
  int64_t reset_after_ms = 30'000;  // healthy this long -> back to initial
};

// Exponential backoff with jitter. Not thread-safe.
class Backoff {
 public:
  explicit Backoff(BackoffOptions o, uint64_t seed = 0x5eed);
  // The delay before the next attempt; grows until max_ms.
  int64_t Next();
  void Reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }
  const BackoffOptions& options() const { return o_; }

 private:
  BackoffOptions o_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

struct TlsOptions {
  bool verify = true;   // verify the peer's certificate and host name
  std::string ca_file;  // extra CA bundle (PEM); empty: the system's
};

// A header to send upstream. Values may hold secrets (resolved from
// ${ENV} / file at config load) and are never logged or shown.
struct HeaderRule {
  std::string host_pattern;  // "*" or a glob like "*.example.com"
  std::vector<std::pair<std::string, std::string>> headers;
};

// Settings every source has; `settings` holds the connector's own, parsed
// by its SourceType::parse.
struct SourceOptions {
  std::string id;
  std::string type;
  std::string stream = "{id}";  // template, see source/template.h
  PayloadFormat format = PayloadFormat::kJson;
  std::vector<std::string> csv_columns;  // empty: the first row is the header
  size_t queue_max_bytes = 8u << 20;
  QueuePolicy policy = QueuePolicy::kDropOldest;
  size_t max_message_bytes = 1u << 20;
  double max_rate = 0;               // records/s into the hub; 0: no cap
  int64_t expected_interval_ms = 0;  // 0: learned from arrivals
  int64_t stall_floor_ms = 10'000;   // stalled after max(3 x interval, this)
  BackoffOptions backoff;
  int64_t connect_timeout_ms = 10'000;
  int64_t read_timeout_ms = 60'000;
  TlsOptions tls;
  std::vector<std::pair<std::string, std::string>> headers;  // this source's own
  std::any settings;
};

// Shared by all sources.
struct SourceContext {
  Hub* hub = nullptr;
  boost::asio::io_context* ioc = nullptr;
  MetricsRegistry* metrics = nullptr;
  std::vector<HeaderRule> header_rules;  // network.headers from the config
};

// A consistent copy of a source's health and counters.
struct SourceSnapshot {
  std::string id, type;
  SourceState state = SourceState::kDisconnected;
  int64_t state_since_ms = 0;
  int64_t last_message_ms = 0;  // 0: never
  std::string last_error;
  int64_t last_error_ms = 0;
  uint64_t reconnects = 0;
  uint64_t messages_in = 0;
  uint64_t bytes_in = 0;
  uint64_t records_in = 0;  // decoded records
  uint64_t events_published = 0;
  uint64_t queued_records = 0;
  uint64_t queued_bytes = 0;
  bool throttled = false;
  int64_t stall_after_ms = 0;
  std::map<std::string, uint64_t> dropped;  // by reason
};

class Source {
 public:
  Source(SourceContext* ctx, SourceOptions options);
  virtual ~Source();
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  const std::string& id() const { return options_.id; }
  const SourceOptions& options() const { return options_; }

  // Lifecycle (sources thread). Stop cancels all async work; afterwards no
  // callback may touch the source. The base class' timers are handled here.
  void Start();
  void Stop();
  // Runtime control (POST /v1/sources/{id}/control, a JSON object).
  // Default: not supported.
  virtual Status Control(std::string_view json_body);
  // Periodic check (sources thread, ~4 Hz): stall detection, rate refill.
  void Tick(int64_t now_ms);

  SourceSnapshot Snapshot() const;  // any thread
  // The connector's own details for /v1/sources (sources thread).
  void DescribeTo(JsonWriter* w) const { Describe(w); }

 protected:
  virtual void DoStart() = 0;
  virtual void DoStop() = 0;
  // Called when a throttled source may read again (queue drained to half).
  virtual void OnResume() {}
  // Non-secret connector details for /v1/sources, as JSON members written
  // into `w` (e.g. w->Field("url", redacted_url)). Sources thread.
  virtual void Describe(JsonWriter* w) const { (void)w; }

  boost::asio::io_context& ioc() { return *ctx_->ioc; }
  Hub* hub() { return ctx_->hub; }

  // --- health (sources thread) ---
  void SetState(SourceState s);
  // Records the last error (shown, logged, counted; never a secret).
  void SetError(std::string_view message);
  // A reconnect attempt is starting (counts it and emits a reconnect event).
  void NoteReconnect();
  SourceState state() const;

  // --- ingest (sources thread) ---
  // One upstream message: size cap, decode per options().format, map each
  // record to its stream, queue. Malformed/oversize payloads are counted
  // and reported, never fatal. Returns false when the source should stop
  // reading (throttle policy, queue over budget): OnResume() says when to
  // go on. `tmpl` overrides the source's stream template (e.g. an SSE
  // event type mapped to its own stream).
  bool Ingest(std::string_view payload, const TemplateVars& vars,
              const StreamTemplate* tmpl = nullptr);
  // Records the connector decoded itself (compact JSON each), with their
  // streams already chosen (e.g. GTFS-RT entities). Same queue and policy.
  bool IngestRecords(std::vector<std::pair<std::string, std::string>> stream_and_data,
                     size_t message_bytes);
  // Counts a message-level drop with its reason (e.g. "oversize",
  // "malformed", "rate_limited", "unchanged") and emits a drop event.
  void CountDrop(std::string_view reason, uint64_t n, std::string_view detail = {});
  // True while the throttle policy holds reading back.
  bool throttled() const { return throttled_; }

  // --- cursors in the store (sources thread) ---
  // The saved value, or nullopt (also without a store).
  std::optional<std::string> LoadCursor(const std::string& key);
  // Saves `value` once everything ingested so far is published: queued in
  // order, so the store commits it with (or after) those events.
  void SaveCursor(const std::string& key, std::string value);

  // Headers for a request to `host`: the network rules that match it, then
  // the source's own (later ones win on equal names).
  std::vector<std::pair<std::string, std::string>> HeadersFor(std::string_view host) const;

  SourceContext* ctx_;
  const SourceOptions options_;
  Backoff backoff_;

 private:
  struct Pending {
    std::string stream;  // empty: a cursor marker (data = value, cursor_key)
    std::string data;
    std::string cursor_key;
    size_t charge() const { return stream.size() + data.size() + cursor_key.size() + 64; }
  };
  bool Enqueue(std::vector<Pending> items);
  void ScheduleDrain(int64_t delay_ms);
  void Drain();
  void NoteMessage(int64_t now_ms);
  void EmitHealth();
  void TrackStream(const std::string& stream);

  StreamTemplate stream_template_;
  boost::asio::steady_timer drain_timer_;
  bool drain_scheduled_ = false;
  bool started_ = false;
  // queue_ and queue_bytes_ change only under mu_ (Snapshot reads them under
  // it from any thread); the sources thread, their one writer, also reads
  // them without it, which GUARDED_BY cannot express.
  std::deque<Pending> queue_;
  size_t queue_bytes_ = 0;
  std::atomic<bool> throttled_{false};  // read by Snapshot from any thread
  double tokens_ = 0;                   // max_rate token bucket
  int64_t tokens_ms_ = 0;
  int64_t subscribed_ms_ = 0;
  int64_t last_drop_event_ms_ = 0;
  uint64_t drops_since_event_ = 0;
  std::set<std::string> streams_;  // streams published to (bounded), for health

  mutable Mutex mu_;  // Snapshot reads under it from any thread
  SourceSnapshot snap_ GUARDED_BY(mu_);
  double interval_ewma_ms_ GUARDED_BY(mu_) = 0;  // learned inter-arrival time
};

// A source type: parses its own config section and creates sources.
struct SourceType {
  std::string name;
  // Parses the `<name>:` section of a source entry into a settings value
  // (errors through the walker, naming `path`). Called at config load.
  std::function<std::any(ConfigWalker& w, const YAML::Node& section, const std::string& path,
                         SourceOptions* common)>
      parse;
  // Creates the source (on the sources thread, before Start).
  std::function<std::unique_ptr<Source>(SourceContext* ctx, SourceOptions options)> create;
};

// Every source type livehub knows (source/source_types.cpp).
const std::vector<SourceType>& SourceTypes();
const SourceType* FindSourceType(std::string_view name);

}  // namespace livehub
