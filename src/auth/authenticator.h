// Authenticator: turns the credential a request or connection presents (a
// JWT or an API key) into a Principal — who it is, until when, and which
// stream patterns it may subscribe to and publish to — and decides which
// browser origins may use the API (CORS and the WebSocket Origin check).
//
// Policy (docs/security.md): with no `auth:` configured the hub is "open"
// (everyone may read and write everything) only when it listens on loopback
// or was started with --insecure; serve refuses any other combination.
// Matching streams against the patterns is left to the caller (auth depends
// on core only; fanout compiles a Principal with stream/pattern.h).
// Thread safety: immutable after Create(); every method is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jwt.h"
#include "core/config_walker.h"
#include "core/status.h"

namespace livehub {

// One API key: only its SHA-256 is configured, never the key itself.
struct ApiKeyOptions {
  std::string name;        // shown in logs and $sys/events, never secret
  std::string sha256_hex;  // lowercase hex of SHA-256(key)
  std::vector<std::string> subscribe;
  std::vector<std::string> publish;
  std::vector<std::string> scopes;  // e.g. "admin", "metrics"
};

struct PublicKeyOptions {
  std::string kid;   // may be empty: tried for every token of its algorithm
  std::string file;  // PEM public key
};

struct AuthOptions {
  // jwt:
  std::string hs256_secret;  // resolved (${ENV} / ${file:...}); empty: none
  std::vector<PublicKeyOptions> public_keys;
  std::string jwks_file;
  JwtCheckOptions jwt;
  // api_keys:
  std::vector<ApiKeyOptions> api_keys;
  // anonymous: what a request without credentials may do when auth is on.
  std::vector<std::string> anonymous_subscribe;
  // Where credentials may come from besides `Authorization: Bearer`.
  std::string cookie_name = "livehub_token";
  bool query_token = true;  // ?token= (browsers' WebSocket / EventSource)
  // Browser origins allowed to call the API / open WebSockets.
  std::vector<std::string> allowed_origins;

  // True if any `auth:` setting that turns authentication on is present.
  bool configured() const {
    return !hs256_secret.empty() || !public_keys.empty() || !jwks_file.empty() ||
           !api_keys.empty() || !anonymous_subscribe.empty();
  }
};

// Parses the `auth:` section. `resolve_secret` expands `${ENV}` and
// `${file:/path}` references in secrets.
using SecretResolver = std::function<Result<std::string>(std::string_view)>;
void ParseAuthSection(ConfigWalker& w, const YAML::Node& node, const std::string& path,
                      const SecretResolver& resolve_secret, AuthOptions* out);

// Lowercase hex SHA-256, as API keys are configured.
std::string Sha256Hex(std::string_view data);

// Who is asking. An open hub's anonymous principal has `everything`.
struct Principal {
  enum class Kind { kAnonymous, kToken, kApiKey };
  Kind kind = Kind::kAnonymous;
  std::string subject;        // token `sub`, "key:<name>", or "" (anonymous)
  int64_t expires_at_ms = 0;  // 0: never (API keys, anonymous)
  bool everything = false;    // open hub: every stream and scope
  std::vector<std::string> subscribe;
  std::vector<std::string> publish;
  std::vector<std::string> scopes;

  bool anonymous() const { return kind == Kind::kAnonymous; }
  bool HasScope(std::string_view scope) const;
};

// The parts of a request that may carry a credential.
struct CredentialSources {
  std::string_view authorization;  // Authorization header
  std::string_view api_key;        // X-API-Key header
  std::string_view query_token;    // ?token=
  std::string_view cookie;         // Cookie header
};

// Where a request's Origin stands.
enum class OriginVerdict {
  kNoOrigin,   // not a browser request (no Origin header): no CORS headers
  kAllowed,    // echo the origin back
  kAnyOrigin,  // open hub without an allowlist: `*`
  kRefused,
};

class Authenticator {
 public:
  // Loads key files. `open`: no auth configured and allowed to run open.
  // `loopback`: the hub listens on loopback only (see CheckOrigin).
  static Result<std::unique_ptr<Authenticator>> Create(const AuthOptions& options, bool open,
                                                       bool loopback = false);

  // An Authenticator for an open hub (tests, tools).
  static std::unique_ptr<Authenticator> Open();

  bool open() const { return open_; }
  const AuthOptions& options() const { return options_; }

  // Picks the credential: Authorization: Bearer, then X-API-Key, then
  // ?token= (if enabled), then the cookie. Empty if none; an error
  // (`unauthorized`) if an Authorization header is not a Bearer one.
  Result<std::string> ExtractCredential(const CredentialSources& src) const;

  // Empty credential: the anonymous principal. Otherwise a JWT (three
  // dot-separated parts) or an API key. Errors are AuthFailure statuses with the
  // reason of the failure (see JwtVerifier::Verify; API keys: unknown_api_key).
  Result<Principal> Authenticate(std::string_view credential, int64_t now_ms) const;

  // Checks an Origin header against auth.allowed_origins. Without a list: an
  // open hub or one listening on loopback allows any origin (answered with
  // `*`, so browsers send no cookies cross-origin); otherwise only the hub's
  // own origin (the request's Host) is allowed.
  OriginVerdict CheckOrigin(std::string_view origin, std::string_view host) const;

 private:
  Authenticator() = default;
  AuthOptions options_;
  bool open_ = false;
  bool loopback_ = false;
  JwtVerifier jwt_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(std::string_view host);

}  // namespace livehub
