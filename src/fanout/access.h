// Access: what one connection or request may do, compiled from the
// authenticated Principal (src/auth) into stream patterns. Every subscribe,
// every stream attached to a pattern subscription (also streams created
// later) and every publish is checked here, so a pattern subscription only
// ever delivers streams the credential covers.
//
// `$sys/` streams: read only with the `admin` scope or a grant naming
// `$sys/...` (a `**` grant does not match them, as for subscriptions).
// Thread safety: immutable; shared between threads as shared_ptr<const>.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/authenticator.h"
#include "metrics/metrics.h"
#include "stream/pattern.h"

namespace livehub {

inline constexpr std::string_view kAdminScope = "admin";
inline constexpr std::string_view kMetricsScope = "metrics";
// WebSocket close code when the credential expires (4000-4999: private use).
inline constexpr uint16_t kCloseTokenExpired = 4401;

class Access {
 public:
  // Compiles the principal's patterns; a bad pattern in a token is an
  // `invalid_token` error naming it.
  static Result<std::shared_ptr<const Access>> Compile(Principal principal);
  // Everything allowed (an open hub, internal use).
  static std::shared_ptr<const Access> Everything();

  bool CanRead(std::string_view stream) const;
  bool CanWrite(std::string_view stream) const;
  // False if no stream matching `pattern` can ever be readable (then a
  // subscription to it is refused rather than silently empty).
  bool MayReadSome(const Pattern& pattern) const;
  bool HasScope(std::string_view scope) const { return principal_.HasScope(scope); }

  const Principal& principal() const { return principal_; }
  bool anonymous() const { return principal_.anonymous(); }
  bool everything() const { return principal_.everything; }
  int64_t expires_at_ms() const { return principal_.expires_at_ms; }

  // The refusal for an action this principal may not do: `unauthorized`
  // (401) without credentials, `forbidden` (403) with.
  Status Refuse(const std::string& message) const;

 private:
  Principal principal_;
  std::vector<Pattern> read_;
  std::vector<Pattern> write_;
};

// True if some stream name could match both patterns (conservative: may
// say true for two globs in one segment that never meet).
bool PatternsMayIntersect(std::string_view a, std::string_view b);

// livehub_auth_refusals_total{reason}.
void CountAuthRefusal(MetricsRegistry* metrics, std::string_view reason);

}  // namespace livehub
