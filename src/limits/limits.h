// Limits: per-peer admission and rate limits of the listener, and the one
// counter every limit refusal goes to, livehub_refusals_total{reason}.
//
// - PeerLimiter admits connections per client IP (a PeerTicket holds the
//   slot for the connection's life, whichever session owns the socket) and
//   runs the publish token buckets per connection and per IP.
// - Peers in `exempt` (default: loopback) are counted but never refused by
//   the per-IP and publish-rate limits: local tools, benchmarks and a
//   reverse proxy on the same host are trusted.
// Thread safety: PeerLimiter is thread-safe (one mutex around the per-IP
// table); a TokenBucket belongs to one connection's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/thread_annotations.h"
#include "metrics/metrics.h"

namespace livehub {

// A token bucket's parameters: `rate` tokens per second up to `burst`.
// rate == 0 turns the limit off.
struct RateLimit {
  double rate = 0;
  double burst = 0;
};

struct PeerLimitOptions {
  size_t max_connections_per_ip = 1000;          // 0: no per-IP limit
  RateLimit publish_per_connection{1000, 2000};  // publish requests/ops per second
  RateLimit publish_per_ip{5000, 10000};
  std::vector<std::string> exempt = {"127.0.0.1", "::1"};
};

class TokenBucket {
 public:
  // Takes one token at `now_ns` (monotonic). Returns 0 if taken, else the
  // milliseconds until one is available (at least 1).
  int64_t Take(const RateLimit& limit, int64_t now_ns);
  // True if the bucket has refilled to `burst` by `now_ns`.
  bool Full(const RateLimit& limit, int64_t now_ns) const;

 private:
  double tokens_ = -1;  // < 0: full (not used yet)
  int64_t last_ns_ = 0;
};

class PeerLimiter;

// One admitted connection's slot in the per-IP table; releases it when
// destroyed. Shared by whichever session owns the connection.
class PeerTicket {
 public:
  PeerTicket(PeerLimiter* limiter, std::string ip, bool exempt)
      : limiter_(limiter), ip_(std::move(ip)), exempt_(exempt) {}
  ~PeerTicket();
  PeerTicket(const PeerTicket&) = delete;
  PeerTicket& operator=(const PeerTicket&) = delete;

  const std::string& ip() const { return ip_; }
  bool exempt() const { return exempt_; }
  TokenBucket& publish_bucket() { return publish_bucket_; }  // per connection

 private:
  PeerLimiter* limiter_;
  std::string ip_;
  bool exempt_;
  TokenBucket publish_bucket_;
};

class PeerLimiter {
 public:
  PeerLimiter(PeerLimitOptions options, MetricsRegistry* metrics);

  // Admits a connection from `ip`, or returns ResourceExhausted
  // "too_many_connections_per_ip" (counted) when the IP is at its limit.
  Result<std::shared_ptr<PeerTicket>> Admit(const std::string& ip);

  // Charges one publish (an HTTP publish request or a WS publish op) to the
  // connection's and the IP's buckets. Returns Ok, or ResourceExhausted
  // "rate_limited" (counted) whose retry_after_ms() says when to retry.
  Status TakePublish(PeerTicket* ticket, int64_t now_ns);

  // Counts one refusal: livehub_refusals_total{reason="..."}.
  void CountRefusal(std::string_view reason);

  const PeerLimitOptions& options() const { return options_; }
  MetricsRegistry* metrics() const { return metrics_; }
  size_t ConnectionsFrom(const std::string& ip) const;

 private:
  friend class PeerTicket;
  struct PeerState {
    size_t connections = 0;
    TokenBucket publish;
  };
  void Release(const std::string& ip);
  // Drops idle entries when the table is large.
  void SweepLocked(int64_t now_ns) REQUIRES(mu_);

  const PeerLimitOptions options_;
  MetricsRegistry* metrics_;
  mutable Mutex mu_;
  std::unordered_map<std::string, PeerState> peers_ GUARDED_BY(mu_);
  size_t sweep_at_ GUARDED_BY(mu_) = 4096;
};

// The refusal counter without a PeerLimiter (same metric family).
void CountRefusal(MetricsRegistry* metrics, std::string_view reason);

}  // namespace livehub
