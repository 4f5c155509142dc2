#include "auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <simdjson.h>

#include <cmath>
#include <set>

#include "core/json_read.h"

namespace livehub {

// ---------------------------------------------------------------------------
// Base64url
// ---------------------------------------------------------------------------

namespace {

constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int B64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

}  // namespace

bool Base64UrlDecode(std::string_view in, std::string* out) {
  out->clear();
  if (in.size() % 4 == 1) return false;
  out->reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = B64Value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero: one text per byte string (no malleability).
  return (acc & ((1u << bits) - 1)) == 0;
}

std::string Base64UrlEncode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kB64Url[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kB64Url[(acc << (6 - bits)) & 0x3f]);
  return out;
}

const char* JwtAlgName(JwtAlg alg) {
  switch (alg) {
    case JwtAlg::kHS256:
      return "HS256";
    case JwtAlg::kRS256:
      return "RS256";
    case JwtAlg::kES256:
      return "ES256";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

struct JwtVerifier::Key {
  std::string kid;
  JwtAlg alg;
  std::string secret;        // HS256
  EVP_PKEY* pkey = nullptr;  // RS256 / ES256 (owned)
  ~Key() { EVP_PKEY_free(pkey); }
};

JwtVerifier::JwtVerifier() = default;
JwtVerifier::~JwtVerifier() = default;
JwtVerifier::JwtVerifier(JwtVerifier&&) noexcept = default;
JwtVerifier& JwtVerifier::operator=(JwtVerifier&&) noexcept = default;
size_t JwtVerifier::key_count() const { return keys_.size(); }

namespace {

Status BadKey(const std::string& source, const std::string& msg) {
  return Status::InvalidArgument("bad_config", source + ": " + msg);
}

// Binds an EVP_PKEY to RS256 or ES256 by its type; refuses anything else.
Result<JwtAlg> AlgForKey(EVP_PKEY* pkey, const std::string& source) {
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(pkey) < 2048) {
        return BadKey(source, "RSA key has " + std::to_string(EVP_PKEY_get_bits(pkey)) +
                                  " bits; RS256 needs at least 2048");
      }
      return JwtAlg::kRS256;
    case EVP_PKEY_EC: {
      char group[64] = {};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                         &len) != 1 ||
          std::string_view(group, len) != "prime256v1") {
        return BadKey(source, "EC key is on curve '" + std::string(group, len) +
                                  "'; ES256 needs P-256 (prime256v1)");
      }
      return JwtAlg::kES256;
    }
    default:
      return BadKey(source, "public key is neither RSA nor EC P-256");
  }
}

}  // namespace

Status JwtVerifier::AddHmacSecret(std::string_view secret, std::string kid) {
  if (secret.size() < 32) {
    return Status::InvalidArgument("bad_config",
                                   "HS256 secret is " + std::to_string(secret.size()) +
                                       " bytes; it must be at least 32 (RFC 7518 section 3.2)");
  }
  auto k = std::make_unique<Key>();
  k->kid = std::move(kid);
  k->alg = JwtAlg::kHS256;
  k->secret = std::string(secret);
  keys_.push_back(std::move(k));
  return Status::Ok();
}

Status JwtVerifier::AddPublicKeyPem(std::string_view pem, std::string kid,
                                    const std::string& source) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return Status::Internal("BIO_new_mem_buf failed");
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!pkey) {
    return BadKey(source, "not a PEM public key (expected '-----BEGIN PUBLIC KEY-----')");
  }
  auto alg = AlgForKey(pkey, source);
  if (!alg.ok()) {
    EVP_PKEY_free(pkey);
    return alg.status();
  }
  auto k = std::make_unique<Key>();
  k->kid = std::move(kid);
  k->alg = *alg;
  k->pkey = pkey;
  keys_.push_back(std::move(k));
  return Status::Ok();
}

namespace {

// Builds a public EVP_PKEY from JWK members; null with *err set on failure.
EVP_PKEY* KeyFromJwk(simdjson::dom::object jwk, std::string* err) {
  std::string_view kty;
  if (jwk["kty"].get(kty)) {
    *err = "missing \"kty\"";
    return nullptr;
  }
  auto member = [&](const char* name, std::string* out) {
    std::string_view v;
    if (jwk[name].get(v) || !Base64UrlDecode(v, out) || out->empty()) {
      *err = std::string("\"") + name + "\" must be non-empty base64url";
      return false;
    }
    return true;
  };
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  EVP_PKEY_CTX* ctx = nullptr;
  OSSL_PARAM* params = nullptr;
  EVP_PKEY* pkey = nullptr;
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  std::string pub;
  if (kty == "RSA") {
    std::string nb, eb;
    if (member("n", &nb) && member("e", &eb)) {
      n = BN_bin2bn(reinterpret_cast<const unsigned char*>(nb.data()), static_cast<int>(nb.size()),
                    nullptr);
      e = BN_bin2bn(reinterpret_cast<const unsigned char*>(eb.data()), static_cast<int>(eb.size()),
                    nullptr);
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
      ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
    }
  } else if (kty == "EC") {
    std::string_view crv;
    std::string xb, yb;
    if (jwk["crv"].get(crv) || crv != "P-256") {
      *err = "EC key must have \"crv\": \"P-256\"";
    } else if (member("x", &xb) && member("y", &yb)) {
      if (xb.size() != 32 || yb.size() != 32) {
        *err = "P-256 \"x\" and \"y\" must be 32 bytes each";
      } else {
        pub = std::string(1, '\x04') + xb + yb;
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub.data(), pub.size());
        ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
      }
    }
  } else {
    *err = "unsupported \"kty\" '" + std::string(kty) + "' (RSA and EC are supported)";
  }
  if (ctx) {
    params = OSSL_PARAM_BLD_to_param(bld);
    if (!params || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
      *err = "OpenSSL rejected the key material";
      pkey = nullptr;
    }
  }
  OSSL_PARAM_free(params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_BLD_free(bld);
  BN_free(n);
  BN_free(e);
  return pkey;
}

}  // namespace

Status JwtVerifier::AddJwks(std::string_view json, const std::string& source) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto e = parser.parse(json.data(), json.size()).get(doc); e) {
    return BadKey(source, std::string("JWKS is not valid JSON: ") + simdjson::error_message(e));
  }
  simdjson::dom::array keys;
  if (doc["keys"].get(keys)) return BadKey(source, "JWKS must be {\"keys\": [...]}");
  size_t i = 0, added = 0;
  for (auto el : keys) {
    std::string where = "keys[" + std::to_string(i++) + "]";
    simdjson::dom::object jwk;
    if (el.get(jwk)) return BadKey(source, where + " must be an object");
    std::string_view use;
    if (!jwk["use"].get(use) && use != "sig") continue;  // encryption keys are not ours
    std::string_view kid;
    if (jwk["kid"].get(kid)) kid = {};  // optional
    std::string err;
    EVP_PKEY* pkey = KeyFromJwk(jwk, &err);
    if (!pkey) return BadKey(source, where + ": " + err);
    auto alg = AlgForKey(pkey, source + ": " + where);
    if (!alg.ok()) {
      EVP_PKEY_free(pkey);
      return alg.status();
    }
    std::string_view named;
    if (!jwk["alg"].get(named) && named != JwtAlgName(*alg)) {
      EVP_PKEY_free(pkey);
      return BadKey(source, where + ": \"alg\" '" + std::string(named) + "' does not fit a " +
                                JwtAlgName(*alg) + " key");
    }
    auto k = std::make_unique<Key>();
    k->kid = std::string(kid);
    k->alg = *alg;
    k->pkey = pkey;
    keys_.push_back(std::move(k));
    ++added;
  }
  if (added == 0) return BadKey(source, "JWKS holds no usable signature key");
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

namespace {

Status Invalid(std::string reason, std::string message) {
  return AuthFailure(std::move(reason), std::move(message));
}

bool VerifyWithPkey(EVP_PKEY* pkey, std::string_view signed_part, const unsigned char* sig,
                    size_t sig_len) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  if (!md) return false;
  bool ok =
      EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
      EVP_DigestVerify(md, sig, sig_len, reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

bool VerifySignature(JwtAlg alg, const std::string& secret, EVP_PKEY* pkey,
                     std::string_view signed_part, const std::string& sig) {
  switch (alg) {
    case JwtAlg::kHS256: {
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int mac_len = 0;
      if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac,
                &mac_len)) {
        return false;
      }
      return sig.size() == mac_len && CRYPTO_memcmp(mac, sig.data(), mac_len) == 0;
    }
    case JwtAlg::kRS256:
      return VerifyWithPkey(pkey, signed_part, reinterpret_cast<const unsigned char*>(sig.data()),
                            sig.size());
    case JwtAlg::kES256: {
      // JWS carries r || s (32 bytes each); OpenSSL wants DER.
      if (sig.size() != 64) return false;
      ECDSA_SIG* es = ECDSA_SIG_new();
      if (!es) return false;
      const auto* raw = reinterpret_cast<const unsigned char*>(sig.data());
      BIGNUM* r = BN_bin2bn(raw, 32, nullptr);
      BIGNUM* s = BN_bin2bn(raw + 32, 32, nullptr);
      if (!r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return false;
      }
      unsigned char* der = nullptr;
      int der_len = i2d_ECDSA_SIG(es, &der);
      ECDSA_SIG_free(es);
      if (der_len <= 0) return false;
      bool ok = VerifyWithPkey(pkey, signed_part, der, static_cast<size_t>(der_len));
      OPENSSL_free(der);
      return ok;
    }
  }
  return false;
}

// Duplicate member names are refused (RFC 7515 section 5.2 allows that):
// two parsers picking different duplicates must not see different grants.
bool HasDuplicateKeys(simdjson::dom::object o) {
  std::set<std::string_view> seen;
  for (auto field : o) {
    if (!seen.insert(field.key).second) return true;
  }
  return false;
}

// A NumericDate (seconds, possibly fractional) as whole seconds.
bool GetDate(simdjson::dom::object o, const char* key, std::optional<int64_t>* out,
             std::string* err) {
  simdjson::dom::element v;
  if (o[key].get(v)) return true;  // absent
  double d = 0;
  int64_t i = 0;
  uint64_t u = 0;
  if (!v.get(i)) {
    d = static_cast<double>(i);
  } else if (!v.get(u)) {
    d = static_cast<double>(u);
  } else if (v.get(d)) {
    *err = std::string("claim \"") + key + "\" must be a number of seconds";
    return false;
  }
  if (!std::isfinite(d) || d < 0 || d > 1e13) {
    *err = std::string("claim \"") + key + "\" is out of range";
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

}  // namespace

Result<TokenClaims> JwtVerifier::Verify(std::string_view token, int64_t now_s) const {
  if (token.size() > kMaxTokenBytes) {
    return Invalid("invalid_token", "token is " + std::to_string(token.size()) +
                                        " bytes; the limit is " + std::to_string(kMaxTokenBytes));
  }
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return Invalid("invalid_token", "a JWT is three base64url parts joined by '.'");
  }
  std::string header, payload, sig;
  if (!Base64UrlDecode(token.substr(0, d1), &header) ||
      !Base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1), &payload) ||
      !Base64UrlDecode(token.substr(d2 + 1), &sig)) {
    return Invalid("invalid_token", "token part is not base64url (without padding)");
  }
  // Header: alg and kid pick the key; nothing else in it is trusted.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element hdoc;
  simdjson::dom::object hobj;
  if (parser.parse(header.data(), header.size()).get(hdoc) || hdoc.get(hobj)) {
    return Invalid("invalid_token", "token header is not a JSON object");
  }
  if (HasDuplicateKeys(hobj)) return Invalid("invalid_token", "token header repeats a member");
  std::string_view alg_name, kid_view;
  if (hobj["alg"].get(alg_name)) return Invalid("invalid_token", "token header has no \"alg\"");
  std::optional<JwtAlg> alg;
  if (alg_name == "HS256") alg = JwtAlg::kHS256;
  if (alg_name == "RS256") alg = JwtAlg::kRS256;
  if (alg_name == "ES256") alg = JwtAlg::kES256;
  if (!alg) {
    return Invalid("unsupported_alg", "token algorithm '" + std::string(alg_name.substr(0, 20)) +
                                          "' is not accepted (HS256, RS256, ES256 are)");
  }
  simdjson::dom::element kid_el;
  const bool has_kid = !hobj["kid"].get(kid_el);
  if (has_kid && kid_el.get(kid_view)) return Invalid("invalid_token", "\"kid\" must be a string");
  std::string kid(kid_view);
  if (simdjson::dom::element crit; !hobj["crit"].get(crit)) {
    return Invalid("invalid_token", "token header \"crit\" extensions are not supported");
  }

  const std::string_view signed_part = token.substr(0, d2);
  bool candidate = false, verified = false;
  for (const auto& k : keys_) {
    if (k->alg != *alg) continue;
    if (has_kid && k->kid != kid) continue;
    candidate = true;
    if (VerifySignature(k->alg, k->secret, k->pkey, signed_part, sig)) {
      verified = true;
      break;
    }
  }
  if (!candidate) {
    if (has_kid) {
      return Invalid("unknown_key", "no " + std::string(JwtAlgName(*alg)) + " key with kid '" +
                                        kid.substr(0, 64) + "' is configured");
    }
    return Invalid("unsupported_alg",
                   "no " + std::string(JwtAlgName(*alg)) + " key is configured for tokens");
  }
  if (!verified) return Invalid("bad_signature", "token signature does not verify");

  // Claims (only after the signature holds).
  simdjson::dom::element pdoc;
  simdjson::dom::object claims;
  if (parser.parse(payload.data(), payload.size()).get(pdoc) || pdoc.get(claims)) {
    return Invalid("invalid_token", "token payload is not a JSON object");
  }
  if (HasDuplicateKeys(claims)) return Invalid("invalid_token", "token payload repeats a claim");
  TokenClaims c;
  std::string err;
  if (simdjson::dom::element v; !claims["sub"].get(v)) {
    std::string_view sub;
    if (v.get(sub)) return Invalid("invalid_token", "claim \"sub\" must be a string");
    c.sub = std::string(sub);
  }
  if (!GetDate(claims, "exp", &c.exp, &err) || !GetDate(claims, "nbf", &c.nbf, &err) ||
      !GetDate(claims, "iat", &c.iat, &err)) {
    return Invalid("invalid_token", err);
  }
  for (const auto& [key, list] :
       {std::pair{"subscribe", &c.subscribe}, std::pair{"publish", &c.publish},
        std::pair{"scopes", &c.scopes}}) {
    if (!AppendStringArray(claims[key], list)) {
      return Invalid("invalid_token",
                     std::string("claim \"") + key + "\" must be an array of strings");
    }
  }
  if (simdjson::dom::element v; !claims["scope"].get(v)) {
    std::string_view s;
    if (v.get(s))
      return Invalid("invalid_token", "claim \"scope\" must be a space-separated string");
    while (!s.empty()) {
      size_t sp = s.find(' ');
      if (sp != 0) c.scopes.emplace_back(s.substr(0, sp));
      if (sp == std::string_view::npos) break;
      s.remove_prefix(sp + 1);
    }
  }
  const int64_t leeway = options_.leeway_s;
  if (c.exp) {
    if (now_s >= *c.exp + leeway) {
      return Invalid("token_expired", "token expired at " + std::to_string(*c.exp) + " (now " +
                                          std::to_string(now_s) + ", leeway " +
                                          std::to_string(leeway) + " s)");
    }
  } else if (options_.require_exp) {
    return Invalid("invalid_token", "token has no \"exp\" claim (auth.jwt.require_exp is on)");
  }
  if (c.nbf && now_s + leeway < *c.nbf) {
    return Invalid("token_not_yet_valid", "token is not valid before " + std::to_string(*c.nbf) +
                                              " (now " + std::to_string(now_s) + ")");
  }
  if (c.iat && now_s + leeway < *c.iat) {
    return Invalid("token_not_yet_valid", "token was issued in the future (iat " +
                                              std::to_string(*c.iat) + ", now " +
                                              std::to_string(now_s) + ")");
  }
  if (!options_.issuer.empty()) {
    std::string_view iss;
    if (claims["iss"].get(iss) || iss != options_.issuer) {
      return Invalid("wrong_issuer", "token issuer is not '" + options_.issuer + "'");
    }
  }
  if (!options_.audience.empty()) {
    bool found = false;
    simdjson::dom::element aud;
    if (!claims["aud"].get(aud)) {
      std::string_view one;
      simdjson::dom::array many;
      if (!aud.get(one)) {
        found = one == options_.audience;
      } else if (!aud.get(many)) {
        for (auto e : many) {
          std::string_view s;
          if (!e.get(s) && s == options_.audience) found = true;
        }
      }
    }
    if (!found)
      return Invalid("wrong_audience",
                     "token audience does not include '" + options_.audience + "'");
  }
  return c;
}

}  // namespace livehub
