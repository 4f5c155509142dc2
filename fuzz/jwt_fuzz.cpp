// Fuzz target for credentials: JWT parsing and verification (header, claims,
// signatures), base64url, the Authorization / Cookie credential extraction,
// and compiling a token's grants into stream patterns.
// The input is used twice: as a raw token, and — split at the first '\n'
// into header and payload JSON — as a correctly HS256-signed token, so the
// claims parser sees arbitrary JSON behind a valid signature.
// Checked properties, besides "never crashes":
//  - base64url decode(encode(x)) == x;
//  - a raw token is never accepted unless it verifies (an unsigned or
//    `none` token never does);
//  - whatever verifies compiles into an Access or an invalid_token error.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/authenticator.h"
#include "auth/jwt.h"
#include "fanout/access.h"

using namespace livehub;

namespace {

constexpr int64_t kNow = 1'800'000'000;
const std::string kSecret = "fuzz-secret-fuzz-secret-fuzz-secret-0123";

const JwtVerifier& Verifier() {
  static JwtVerifier* v = [] {
    auto* j = new JwtVerifier();
    if (!j->AddHmacSecret(kSecret).ok()) std::abort();
    j->set_options(JwtCheckOptions{30, false, "", ""});
    return j;
  }();
  return *v;
}

std::string Sign(std::string_view header, std::string_view payload) {
  std::string signing = Base64UrlEncode(header) + "." + Base64UrlEncode(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(signing.data()), signing.size(), mac, &len);
  return signing + "." + Base64UrlEncode(std::string_view(reinterpret_cast<char*>(mac), len));
}

void Use(const Result<TokenClaims>& claims) {
  if (!claims.ok()) {
    if (HttpStatusFor(claims.status()) != 401) std::abort();
    return;
  }
  Principal p;
  p.kind = Principal::Kind::kToken;
  p.subject = claims->sub;
  p.subscribe = claims->subscribe;
  p.publish = claims->publish;
  p.scopes = claims->scopes;
  auto access = Access::Compile(p);
  if (!access.ok()) {
    if (access.status().reason() != "invalid_token") std::abort();
    return;
  }
  for (const auto& s : claims->subscribe) {
    (void)(*access)->CanRead(s);
    if (auto pat = Pattern::Parse(s); pat.ok()) (void)(*access)->MayReadSome(*pat);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  std::string decoded;
  if (!Base64UrlDecode(Base64UrlEncode(in), &decoded) || decoded != in) std::abort();
  (void)Base64UrlDecode(in, &decoded);

  // Raw: must never verify without the secret's signature.
  auto raw = Verifier().Verify(in, kNow);
  if (raw.ok() && in.size() > 0 && in.back() == '.') std::abort();  // empty signature
  Use(raw);

  // Signed: arbitrary header/payload behind a valid HS256 signature.
  size_t nl = in.find('\n');
  if (nl != std::string_view::npos)
    Use(Verifier().Verify(Sign(in.substr(0, nl), in.substr(nl + 1)), kNow));

  static const std::unique_ptr<Authenticator> auth = [] {
    AuthOptions o;
    o.api_keys.push_back({"k", Sha256Hex("key"), {"a/**"}, {}, {}});
    return std::move(*Authenticator::Create(o, false));
  }();
  (void)auth->ExtractCredential({in, "", "", ""});
  (void)auth->ExtractCredential({"", "", "", in});
  (void)auth->CheckOrigin(in, "hub:8080");
  (void)PatternsMayIntersect(in, "a/**/b");
  return 0;
}
