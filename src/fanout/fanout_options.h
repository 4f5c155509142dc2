// Options and shared context of the fan-out (WebSocket and SSE sessions).
// Thread safety: FanoutContext is shared by every session; its members are
// immutable after start-up or atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "limits/limits.h"
#include "metrics/metrics.h"
#include "stream/hub.h"
#include "stream/pattern.h"

namespace livehub {

class SubscriberSession;
class Admission;
class Publisher;

// Upper bound of a subscription's max_hz (deliveries per second per stream).
constexpr double kMaxHz = 1000;

enum class SlowClientPolicy { kDropOldest, kDisconnect };

struct SlowClientRule {
  Pattern pattern;
  SlowClientPolicy policy;
};

struct FanoutOptions {
  size_t queue_bytes = 4u << 20;  // outbound queue per connection
  SlowClientPolicy slow_client = SlowClientPolicy::kDropOldest;
  std::vector<SlowClientRule> rules;       // per stream pattern, first match wins
  size_t max_subscriptions = 1000;         // patterns per connection
  size_t max_connections = 20'000;         // WebSocket + SSE
  size_t max_ws_message_bytes = 1u << 20;  // client -> hub WebSocket message
  int64_t ws_ping_interval_ms = 20'000;    // ping a connection idle this long
  int64_t ws_pong_timeout_ms = 20'000;     // ...and close it if still silent after this
  int64_t write_timeout_ms = 30'000;       // a write stuck this long closes the connection
  int64_t sse_keepalive_ms = 15'000;       // SSE comment line when idle this long
  size_t write_batch_bytes = 256u << 10;   // gathered per write
  // A connection writes at most once per this interval while events keep
  // coming; the ones in between join the next write (0: write at once).
  // An event after a quiet interval is written at once (write_pacer.h).
  int64_t write_delay_ns = 20'000'000;
  // SO_SNDBUF of a subscriber socket (the kernel doubles it; 0: the
  // kernel's autotuning, up to net.ipv4.tcp_wmem's maximum, 4 MiB). Bounds
  // what a stalled client parks in the kernel before queue_bytes and the
  // slow-client policy act, and the copying into it.
  size_t socket_send_buffer = 64u << 10;
  size_t max_json_depth = 64;        // nesting of a client op / publish body
  size_t max_pattern_segments = 32;  // '/'-separated segments of a subscribed pattern
  size_t max_pattern_wildcards = 8;  // '*' and '**' segments of one pattern
};

struct FanoutContext {
  Hub* hub = nullptr;
  FanoutOptions options;
  // Per-IP connection slots and publish rates (null: no per-peer limits).
  PeerLimiter* limiter = nullptr;
  // Who may connect, subscribe and publish, and the one publish path of
  // clients (admission.h, publisher.h). Set before the first session.
  const Admission* admission = nullptr;
  const Publisher* publisher = nullptr;

  SlowClientPolicy PolicyFor(std::string_view stream) const {
    for (const auto& r : options.rules) {
      if (r.pattern.Matches(stream)) return r.policy;
    }
    return options.slow_client;
  }

  std::atomic<uint64_t> next_session_id{1};
  // Live sessions, so shutdown can close them (see CloseAllSessions).
  std::mutex sessions_mu;
  std::unordered_map<uint64_t, std::weak_ptr<SubscriberSession>> sessions;
  std::atomic<int64_t> connections{0};  // WS + SSE sessions alive
  // Metrics (owned by the registry).
  Gauge* ws_connections = nullptr;
  Gauge* sse_connections = nullptr;
  Gauge* subscriptions = nullptr;
  Gauge* queued_bytes = nullptr;
  Counter* deliveries = nullptr;
  Counter* bytes_out = nullptr;
  Counter* writes = nullptr;
  Counter* paced_writes = nullptr;
  Counter* drops_slow_client = nullptr;
  Counter* disconnects_slow_client = nullptr;
  Counter* gaps_evicted = nullptr;
  Counter* coalesced_flushes = nullptr;
  Counter* snapshots_sent = nullptr;   // keyed-state snapshots sent to subscribers
  Counter* diffs_conflated = nullptr;  // keyed diffs folded into another by max_hz
  Histogram* delivery_latency = nullptr;

  void InitMetrics(MetricsRegistry* m) {
    ws_connections = m->GetGauge("connections", "Open subscriber connections.", "kind=\"ws\"");
    sse_connections = m->GetGauge("connections", "Open subscriber connections.", "kind=\"sse\"");
    subscriptions = m->GetGauge("subscriptions", "Stream attachments of all connections.");
    queued_bytes = m->GetGauge("outbound_queue_bytes", "Bytes queued to subscribers.");
    deliveries = m->GetCounter("deliveries_total", "Events written to subscribers.");
    bytes_out = m->GetCounter("bytes_out_total", "Bytes written to subscriber sockets.");
    writes = m->GetCounter("socket_writes_total", "Gathered socket writes to subscribers.");
    paced_writes =
        m->GetCounter("socket_writes_paced_total",
                      "Writes delayed by subscribers.write_delay_ms so more events join them.");
    drops_slow_client =
        m->GetCounter("drops_total", "Events not delivered, by reason.", "reason=\"slow_client\"");
    disconnects_slow_client = m->GetCounter(
        "disconnects_total", "Connections closed by the hub, by reason.", "reason=\"slow_client\"");
    gaps_evicted =
        m->GetCounter("gaps_total", "Gap messages sent, by reason.", "reason=\"evicted\"");
    snapshots_sent = m->GetCounter("keyed_snapshots_sent_total",
                                   "Keyed-state snapshots sent to new subscribers.");
    diffs_conflated = m->GetCounter(
        "keyed_diffs_conflated_total",
        "Keyed-state diffs folded into a later one by max_hz coalescing (latest per key).");
    coalesced_flushes = m->GetCounter(
        "coalesced_flushes_total",
        "Deliveries of events held back by a subscription's max_hz (batch or single).");
    delivery_latency = m->GetHistogram("delivery_latency_seconds",
                                       "Publish to socket-write completion latency per delivery.");
  }
};

}  // namespace livehub
