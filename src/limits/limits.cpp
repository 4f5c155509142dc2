#include "limits/limits.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/clock.h"

namespace livehub {

namespace {
double Refilled(double tokens, const RateLimit& l, int64_t last_ns, int64_t now_ns) {
  if (tokens < 0) return std::max(l.burst, 1.0);
  const double elapsed_s = static_cast<double>(std::max<int64_t>(0, now_ns - last_ns)) / 1e9;
  return std::min(std::max(l.burst, 1.0), tokens + elapsed_s * l.rate);
}
}  // namespace

int64_t TokenBucket::Take(const RateLimit& limit, int64_t now_ns) {
  if (limit.rate <= 0) return 0;
  tokens_ = Refilled(tokens_, limit, last_ns_, now_ns);
  last_ns_ = now_ns;
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return 0;
  }
  const double wait_ms = std::ceil((1 - tokens_) / limit.rate * 1000);
  return std::max<int64_t>(1, static_cast<int64_t>(wait_ms));
}

bool TokenBucket::Full(const RateLimit& limit, int64_t now_ns) const {
  if (limit.rate <= 0) return true;
  return Refilled(tokens_, limit, last_ns_, now_ns) >= std::max(limit.burst, 1.0);
}

PeerTicket::~PeerTicket() { limiter_->Release(ip_); }

PeerLimiter::PeerLimiter(PeerLimitOptions options, MetricsRegistry* metrics)
    : options_(std::move(options)), metrics_(metrics) {}

void CountRefusal(MetricsRegistry* metrics, std::string_view reason) {
  metrics
      ->GetCounter("refusals_total",
                   "Requests, connections and messages refused by a limit, by reason.",
                   "reason=\"" + std::string(reason) + "\"")
      ->Add();
}

void PeerLimiter::CountRefusal(std::string_view reason) { livehub::CountRefusal(metrics_, reason); }

Result<std::shared_ptr<PeerTicket>> PeerLimiter::Admit(const std::string& ip) {
  const bool exempt =
      std::find(options_.exempt.begin(), options_.exempt.end(), ip) != options_.exempt.end();
  size_t refused_at = 0;
  {
    MutexLock lock(mu_);
    PeerState& st = peers_[ip];
    if (!exempt && options_.max_connections_per_ip > 0 &&
        st.connections >= options_.max_connections_per_ip) {
      refused_at = st.connections;
    } else {
      ++st.connections;
    }
  }
  if (refused_at == 0) return std::make_shared<PeerTicket>(this, ip, exempt);
  CountRefusal("too_many_connections_per_ip");
  return Status::ResourceExhausted("too_many_connections_per_ip",
                                   "client " + ip + " has " + std::to_string(refused_at) +
                                       " connections; limits.max_connections_per_ip is " +
                                       std::to_string(options_.max_connections_per_ip));
}

void PeerLimiter::Release(const std::string& ip) {
  MutexLock lock(mu_);
  auto it = peers_.find(ip);
  if (it == peers_.end()) return;
  if (it->second.connections > 0) --it->second.connections;
  if (peers_.size() >= sweep_at_) SweepLocked(SystemClock::Get()->MonoNs());
}

size_t PeerLimiter::ConnectionsFrom(const std::string& ip) const {
  MutexLock lock(mu_);
  auto it = peers_.find(ip);
  return it == peers_.end() ? 0 : it->second.connections;
}

void PeerLimiter::SweepLocked(int64_t now_ns) {
  // An entry outlives its connections while its publish bucket is not yet
  // full again, so reconnecting does not reset an IP's rate.
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (it->second.connections == 0 && it->second.publish.Full(options_.publish_per_ip, now_ns)) {
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  sweep_at_ = std::max<size_t>(4096, peers_.size() * 2);
}

Status PeerLimiter::TakePublish(PeerTicket* ticket, int64_t now_ns) {
  if (ticket == nullptr || ticket->exempt()) return Status::Ok();
  int64_t wait_ms = ticket->publish_bucket().Take(options_.publish_per_connection, now_ns);
  bool per_ip = false;
  if (wait_ms == 0 && options_.publish_per_ip.rate > 0) {
    MutexLock lock(mu_);
    wait_ms = peers_[ticket->ip()].publish.Take(options_.publish_per_ip, now_ns);
    per_ip = true;
  }
  if (wait_ms == 0) return Status::Ok();
  CountRefusal("rate_limited");
  const char* which = per_ip ? "limits.publish_rate_per_ip" : "limits.publish_rate_per_connection";
  const RateLimit& l = per_ip ? options_.publish_per_ip : options_.publish_per_connection;
  char rate[96];
  std::snprintf(rate, sizeof rate, "%g/s, burst %g", l.rate, l.burst);
  return Status::ResourceExhausted("rate_limited", std::string("publish rate over ") + which +
                                                       " (" + rate + "); retry in " +
                                                       std::to_string(wait_ms) + " ms")
      .WithRetryAfterMs(wait_ms);
}

}  // namespace livehub
