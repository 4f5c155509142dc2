// Admission: the one place that decides whether a request, a connection, a
// subscription or a publish is let in — credential -> principal -> Access,
// the browser Origin, per-peer connection slots and publish rates, the
// subscriber connection limit, and subscription patterns (syntax,
// complexity, grants, the per-connection count). HTTP REST, WebSocket ops,
// SSE and every transport to come call it, so each refusal's code and text
// exist once.
//
// Counting: every refusal returned here is already counted, in
// livehub_auth_refusals_total{reason} (credential, grant, origin) or
// livehub_refusals_total{reason} (a limit). The caller counts its own
// per-transport error metric (http_errors_total, client_errors_total) and
// sends the refusal in its framing.
// Thread safety: thread-safe; immutable after construction (it reads the
// FanoutContext's atomics and calls the thread-safe PeerLimiter).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/authenticator.h"
#include "core/status.h"
#include "fanout/access.h"
#include "fanout/fanout_options.h"
#include "limits/limits.h"
#include "stream/pattern.h"

namespace livehub {

// How long a client refused for a connection limit is asked to wait.
inline constexpr int64_t kConnectionRetryAfterMs = 5'000;

// The browser Origin of a request, judged once for every endpoint.
struct OriginDecision {
  Status refusal;            // not ok: refuse the request (403 origin_not_allowed)
  std::string allow_origin;  // Access-Control-Allow-Origin of the reply ("": none)
};

class Admission {
 public:
  // `auth` null: an open hub that accepts no `refresh`.
  Admission(FanoutContext* ctx, const Authenticator* auth);

  // Access-Control-Allow-Origin for replies sent before the request's
  // Origin is known (a refusal of a malformed request).
  std::string DefaultAllowOrigin() const;
  OriginDecision CheckOrigin(std::string_view origin, std::string_view host) const;

  // The request's credential as compiled access (the anonymous principal
  // without one), or the auth refusal.
  Result<std::shared_ptr<const Access>> Authorize(const CredentialSources& src) const;
  // `refresh`: verifies `token` and returns the access that replaces
  // `current` (same subject only).
  Result<std::shared_ptr<const Access>> Refresh(const Access& current,
                                                std::string_view token) const;
  // The refusal of an action `access` may not do: `unauthorized` (401)
  // without a credential, `forbidden` (403) with one.
  Status Refuse(const Access& access, const std::string& message) const;

  // A connection from `ip`: its slot in limits.max_connections_per_ip
  // (null when per-peer limits are off), or `too_many_connections_per_ip`.
  Result<std::shared_ptr<PeerTicket>> AdmitPeer(const std::string& ip) const;
  // A subscriber connection of any transport: it needs some right to read
  // (an anonymous connection to a hub with auth and no anonymous grant is
  // refused at connect) and a free slot in limits.max_connections.
  Status AdmitSubscriber(const Access& access) const;
  // Subscription patterns, all or nothing: each parses, stays within
  // limits.max_pattern_segments / max_pattern_wildcards and may match a
  // stream `access` can read.
  Result<std::vector<Pattern>> AdmitPatterns(const Access& access,
                                             const std::vector<std::string>& texts) const;
  // A connection that would hold `would_have` patterns.
  Status AdmitSubscriptionCount(size_t would_have) const;
  // One publish (request or op) against the connection's and its IP's rates.
  Status TakePublish(PeerTicket* ticket) const;

 private:
  MetricsRegistry* metrics() const { return ctx_->hub->metrics(); }
  Status CountedAuth(Status st) const;   // counts an auth refusal, returns it
  Status CountedLimit(Status st) const;  // counts a limit refusal, returns it

  FanoutContext* ctx_;
  const Authenticator* auth_;  // never null (an open one when none was given)
  std::unique_ptr<Authenticator> open_;
  bool refresh_ = false;  // an Authenticator was given
};

// Parses `text` and checks it against limits.max_pattern_segments and
// limits.max_pattern_wildcards ("bad_pattern" / "pattern_too_complex").
// Not counted; Admission::AdmitPatterns counts.
Result<Pattern> ParseSubscriptionPattern(std::string_view text, const FanoutOptions& options);

}  // namespace livehub
