// JWT (RFC 7519) bearer tokens: parsing and signature verification with
// OpenSSL for HS256 (shared secret), RS256 (RSA public key) and ES256 (P-256
// public key), keys from PEM files or a local JWKS file.
//
// Safety rules, all enforced in Verify():
// - the algorithm comes from the key, never from the token: a key is bound to
//   exactly one of HS256/RS256/ES256 when it is added, and a token is checked
//   only against keys of the algorithm its header names (so `none`, and an
//   HS256 token "signed" with an RSA public key as HMAC secret, never verify);
// - a header `kid` must name a configured key; without `kid` every key of
//   the token's algorithm is tried;
// - exp / nbf / iat are checked with a small leeway; `exp` is required unless
//   configured otherwise.
// Thread safety: immutable after the keys are added; Verify is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace livehub {

inline constexpr size_t kMaxTokenBytes = 8192;

// A missing or bad credential: StatusCode::kUnauthenticated (401) with one of
// the reasons unauthorized, invalid_token, unsupported_alg, unknown_key,
// bad_signature, token_expired, token_not_yet_valid, wrong_issuer,
// wrong_audience, unknown_api_key.
inline Status AuthFailure(std::string reason, std::string message) {
  return Status::Unauthenticated(std::move(reason), std::move(message));
}

enum class JwtAlg { kHS256, kRS256, kES256 };
const char* JwtAlgName(JwtAlg alg);

// What a verified token says about its holder.
struct TokenClaims {
  std::string sub;
  std::optional<int64_t> exp;  // seconds since the Unix epoch
  std::optional<int64_t> nbf;
  std::optional<int64_t> iat;
  std::vector<std::string> subscribe;  // stream patterns the holder may read
  std::vector<std::string> publish;    // stream patterns the holder may write
  std::vector<std::string> scopes;     // "scope" (space-separated) or "scopes" (array)
};

struct JwtCheckOptions {
  int64_t leeway_s = 30;
  bool require_exp = true;
  std::string issuer;    // non-empty: `iss` must equal it
  std::string audience;  // non-empty: `aud` (string or array) must contain it
};

// Base64url without padding (RFC 7515 §2); false on any other character.
bool Base64UrlDecode(std::string_view in, std::string* out);
std::string Base64UrlEncode(std::string_view in);

class JwtVerifier {
 public:
  JwtVerifier();
  ~JwtVerifier();
  JwtVerifier(JwtVerifier&&) noexcept;
  JwtVerifier& operator=(JwtVerifier&&) noexcept;

  // Adds an HS256 shared secret (at least 32 bytes: RFC 7518 §3.2).
  Status AddHmacSecret(std::string_view secret, std::string kid = "");
  // Adds an RSA (RS256) or P-256 EC (ES256) public key in PEM. `source`
  // names the file in errors.
  Status AddPublicKeyPem(std::string_view pem, std::string kid, const std::string& source);
  // Adds every RSA / EC P-256 key of a JWKS document ({"keys":[...]}).
  Status AddJwks(std::string_view json, const std::string& source);

  void set_options(JwtCheckOptions o) { options_ = std::move(o); }
  const JwtCheckOptions& options() const { return options_; }
  size_t key_count() const;

  // Verifies `token` at `now_s`. Error reasons (AuthFailure, 401):
  // invalid_token (malformed), unsupported_alg, unknown_key, bad_signature,
  // token_expired, token_not_yet_valid, wrong_issuer, wrong_audience.
  Result<TokenClaims> Verify(std::string_view token, int64_t now_s) const;

 private:
  struct Key;
  std::vector<std::unique_ptr<Key>> keys_;
  JwtCheckOptions options_;
};

}  // namespace livehub
