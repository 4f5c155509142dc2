#include "fanout/admission.h"

#include "core/clock.h"

namespace livehub {

Result<Pattern> ParseSubscriptionPattern(std::string_view text, const FanoutOptions& options) {
  auto p = Pattern::Parse(text);
  if (!p.ok()) return p;
  if (p->segment_count() > options.max_pattern_segments) {
    return Status::InvalidArgument("pattern_too_complex",
                                   "pattern '" + std::string(text) + "' has " +
                                       std::to_string(p->segment_count()) +
                                       " segments; limits.max_pattern_segments is " +
                                       std::to_string(options.max_pattern_segments));
  }
  if (p->wildcard_count() > options.max_pattern_wildcards) {
    return Status::InvalidArgument("pattern_too_complex",
                                   "pattern '" + std::string(text) + "' has " +
                                       std::to_string(p->wildcard_count()) +
                                       " wildcard segments; limits.max_pattern_wildcards is " +
                                       std::to_string(options.max_pattern_wildcards));
  }
  return p;
}

Admission::Admission(FanoutContext* ctx, const Authenticator* auth)
    : ctx_(ctx), auth_(auth), refresh_(auth != nullptr) {
  if (!auth_) {
    open_ = Authenticator::Open();
    auth_ = open_.get();
  }
}

Status Admission::CountedAuth(Status st) const {
  CountAuthRefusal(metrics(), st.reason());
  return st;
}

Status Admission::CountedLimit(Status st) const {
  CountRefusal(metrics(), st.reason());
  return st;
}

// ---------------------------------------------------------------------------
// Who is asking
// ---------------------------------------------------------------------------

std::string Admission::DefaultAllowOrigin() const {
  return auth_->open() && auth_->options().allowed_origins.empty() ? "*" : "";
}

OriginDecision Admission::CheckOrigin(std::string_view origin, std::string_view host) const {
  OriginDecision d;
  const OriginVerdict verdict = auth_->CheckOrigin(origin, host);
  if (verdict == OriginVerdict::kAnyOrigin ||
      (auth_->open() && auth_->options().allowed_origins.empty())) {
    d.allow_origin = "*";
  } else if (verdict == OriginVerdict::kAllowed) {
    d.allow_origin = std::string(origin);
  }
  if (verdict == OriginVerdict::kRefused) {
    d.refusal = CountedAuth(Status::PermissionDenied(
        "origin_not_allowed",
        "origin '" + std::string(origin.substr(0, 200)) + "' is not in auth.allowed_origins"));
  }
  return d;
}

Result<std::shared_ptr<const Access>> Admission::Authorize(const CredentialSources& src) const {
  auto credential = auth_->ExtractCredential(src);
  if (!credential.ok()) return CountedAuth(credential.status());
  auto principal = auth_->Authenticate(*credential, SystemClock::Get()->NowMs());
  if (!principal.ok()) return CountedAuth(principal.status());
  auto access = Access::Compile(std::move(*principal));
  if (!access.ok()) return CountedAuth(access.status());
  return std::move(*access);
}

Result<std::shared_ptr<const Access>> Admission::Refresh(const Access& current,
                                                         std::string_view token) const {
  if (!refresh_) return CountedAuth(Status::PermissionDenied("this hub does not accept refresh"));
  if (token.empty()) {
    return CountedAuth(
        Status::Unauthenticated("unauthorized", "op 'refresh' needs a non-empty \"token\""));
  }
  auto principal = auth_->Authenticate(token, SystemClock::Get()->NowMs());
  if (!principal.ok()) return CountedAuth(principal.status());
  auto fresh = Access::Compile(std::move(*principal));
  if (!fresh.ok()) return CountedAuth(fresh.status());
  if (!current.anonymous() && !current.everything() &&
      (*fresh)->principal().subject != current.principal().subject) {
    return CountedAuth(Status::PermissionDenied(
        "refresh token is for subject '" + (*fresh)->principal().subject +
        "'; this connection belongs to '" + current.principal().subject + "'"));
  }
  return std::move(*fresh);
}

Status Admission::Refuse(const Access& access, const std::string& message) const {
  return CountedAuth(access.Refuse(message));
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

Result<std::shared_ptr<PeerTicket>> Admission::AdmitPeer(const std::string& ip) const {
  if (!ctx_->limiter) return std::shared_ptr<PeerTicket>();
  auto ticket = ctx_->limiter->Admit(ip);  // counts its refusal
  if (!ticket.ok()) {
    return Status::Unavailable(ticket.status().reason(), ticket.status().message())
        .WithRetryAfterMs(kConnectionRetryAfterMs);
  }
  return std::move(*ticket);
}

Status Admission::AdmitSubscriber(const Access& access) const {
  if (access.anonymous() && !access.everything() && access.principal().subscribe.empty()) {
    return Refuse(access, "this endpoint needs a credential");
  }
  const int64_t open = ctx_->connections.load();
  if (open >= static_cast<int64_t>(ctx_->options.max_connections)) {
    return CountedLimit(Status::Unavailable("too_many_connections",
                                            "the hub has " + std::to_string(open) +
                                                " subscriber connections; limits.max_connections "
                                                "is " +
                                                std::to_string(ctx_->options.max_connections))
                            .WithRetryAfterMs(kConnectionRetryAfterMs));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Subscriptions and publishes
// ---------------------------------------------------------------------------

Result<std::vector<Pattern>> Admission::AdmitPatterns(const Access& access,
                                                      const std::vector<std::string>& texts) const {
  std::vector<Pattern> parsed;
  parsed.reserve(texts.size());
  for (const std::string& t : texts) {
    auto p = ParseSubscriptionPattern(t, ctx_->options);
    if (!p.ok()) {
      if (p.status().reason() == "pattern_too_complex") return CountedLimit(p.status());
      return p.status();
    }
    parsed.push_back(std::move(*p));
  }
  for (const Pattern& p : parsed) {
    if (!access.MayReadSome(p)) {
      return Refuse(access, p.exact() ? "not allowed to subscribe to '" + p.text() + "'"
                                      : "no stream matching '" + p.text() +
                                            "' may be read with this credential");
    }
  }
  return parsed;
}

Status Admission::AdmitSubscriptionCount(size_t would_have) const {
  if (would_have <= ctx_->options.max_subscriptions) return Status::Ok();
  // 400, not 429: retrying the same subscription would not help.
  return CountedLimit(Status::InvalidArgument(
      "too_many_subscriptions", "this connection would have " + std::to_string(would_have) +
                                    " subscriptions; limits.max_subscriptions_per_connection is " +
                                    std::to_string(ctx_->options.max_subscriptions)));
}

Status Admission::TakePublish(PeerTicket* ticket) const {
  if (!ctx_->limiter) return Status::Ok();
  return ctx_->limiter->TakePublish(ticket, SystemClock::Get()->MonoNs());  // counts its refusal
}

}  // namespace livehub
