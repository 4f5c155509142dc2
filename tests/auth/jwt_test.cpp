#include "auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <memory>
#include <string>

namespace livehub {
namespace {

// Keys are generated at test time; no private key is committed.
constexpr int64_t kNow = 1'800'000'000;
const std::string kSecret = "0123456789abcdef0123456789abcdef-test-secret";

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

PkeyPtr GenRsa() {
  return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}), EVP_PKEY_free);
}
PkeyPtr GenEc() {
  return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
}

EVP_PKEY* Rsa() {
  static PkeyPtr k = GenRsa();
  return k.get();
}
EVP_PKEY* Ec() {
  static PkeyPtr k = GenEc();
  return k.get();
}

std::string PublicPem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, k);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string SignWith(EVP_PKEY* k, std::string_view data) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, k);
  EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                 data.size());
  std::string sig(len, '\0');
  EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(data.data()), data.size());
  sig.resize(len);
  EVP_MD_CTX_free(md);
  return sig;
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

// DER ECDSA signature -> JWS r||s.
std::string EcRaw(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  std::string out(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(out.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return out;
}

std::string B64(std::string_view s) { return Base64UrlEncode(s); }

std::string Token(const std::string& header, const std::string& payload, EVP_PKEY* key = nullptr,
                  const std::string& hmac_key = kSecret) {
  std::string signing = B64(header) + "." + B64(payload);
  std::string sig;
  if (header.find("HS256") != std::string::npos) sig = Hmac(hmac_key, signing);
  if (header.find("RS256") != std::string::npos) sig = SignWith(key, signing);
  if (header.find("ES256") != std::string::npos) sig = EcRaw(SignWith(key, signing));
  return signing + "." + B64(sig);
}

std::string Claims(int64_t exp = kNow + 600, const std::string& extra = "") {
  return "{\"sub\":\"alice\",\"exp\":" + std::to_string(exp) +
         ",\"subscribe\":[\"sensors/**\"],\"publish\":[\"sensors/alice/*\"],\"scope\":\"metrics "
         "admin\"" +
         extra + "}";
}

JwtVerifier Verifier() {
  JwtVerifier v;
  EXPECT_TRUE(v.AddHmacSecret(kSecret).ok());
  EXPECT_TRUE(v.AddPublicKeyPem(PublicPem(Rsa()), "rsa1", "rsa.pem").ok());
  EXPECT_TRUE(v.AddPublicKeyPem(PublicPem(Ec()), "ec1", "ec.pem").ok());
  v.set_options(JwtCheckOptions{5, true, "", ""});
  return v;
}

TEST(Base64UrlTest, RoundTripsAndRejectsPaddingAndForeignCharacters) {
  std::string out;
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe"}) {
    ASSERT_TRUE(Base64UrlDecode(Base64UrlEncode(s), &out)) << s;
    EXPECT_EQ(out, s);
  }
  EXPECT_FALSE(Base64UrlDecode("Zm9v=", &out));
  EXPECT_FALSE(Base64UrlDecode("Zm+v", &out));
  EXPECT_FALSE(Base64UrlDecode("Z", &out));
  EXPECT_FALSE(Base64UrlDecode("Zh", &out));  // non-zero leftover bits
}

TEST(JwtVerifierTest, AcceptsValidHs256Rs256AndEs256Tokens) {
  JwtVerifier v = Verifier();
  for (auto [hdr, key] : {std::pair{"{\"alg\":\"HS256\",\"typ\":\"JWT\"}", (EVP_PKEY*)nullptr},
                          std::pair{"{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", Rsa()},
                          std::pair{"{\"alg\":\"ES256\",\"kid\":\"ec1\"}", Ec()},
                          std::pair{"{\"alg\":\"ES256\"}", Ec()}}) {
    auto c = v.Verify(Token(hdr, Claims(), key), kNow);
    ASSERT_TRUE(c.ok()) << hdr << ": " << c.status().ToString();
    EXPECT_EQ(c->sub, "alice");
    EXPECT_EQ(*c->exp, kNow + 600);
    EXPECT_EQ(c->subscribe, std::vector<std::string>{"sensors/**"});
    EXPECT_EQ(c->publish, std::vector<std::string>{"sensors/alice/*"});
    EXPECT_EQ(c->scopes, (std::vector<std::string>{"metrics", "admin"}));
  }
}

TEST(JwtVerifierTest, RefusesExpiredTokensBeyondTheLeeway) {
  JwtVerifier v = Verifier();  // leeway 5 s
  std::string hdr = "{\"alg\":\"HS256\"}";
  EXPECT_TRUE(v.Verify(Token(hdr, Claims(kNow - 4)), kNow).ok());
  auto r = v.Verify(Token(hdr, Claims(kNow - 5)), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "token_expired");
  EXPECT_EQ(HttpStatusFor(r.status()), 401);
}

TEST(JwtVerifierTest, RefusesTokensBeforeNbfAndFromTheFuture) {
  JwtVerifier v = Verifier();
  std::string hdr = "{\"alg\":\"HS256\"}";
  auto r = v.Verify(Token(hdr, Claims(kNow + 600, ",\"nbf\":" + std::to_string(kNow + 60))), kNow);
  EXPECT_EQ(r.status().reason(), "token_not_yet_valid");
  r = v.Verify(Token(hdr, Claims(kNow + 600, ",\"iat\":" + std::to_string(kNow + 60))), kNow);
  EXPECT_EQ(r.status().reason(), "token_not_yet_valid");
  EXPECT_TRUE(
      v.Verify(Token(hdr, Claims(kNow + 600, ",\"nbf\":" + std::to_string(kNow + 3))), kNow).ok());
}

TEST(JwtVerifierTest, RequiresExpUnlessConfiguredOtherwise) {
  JwtVerifier v = Verifier();
  std::string tok = Token("{\"alg\":\"HS256\"}", "{\"sub\":\"x\"}");
  EXPECT_EQ(v.Verify(tok, kNow).status().reason(), "invalid_token");
  v.set_options(JwtCheckOptions{5, false, "", ""});
  EXPECT_TRUE(v.Verify(tok, kNow).ok());
}

TEST(JwtVerifierTest, RefusesForgedSignatures) {
  JwtVerifier v = Verifier();
  // HS256 with another secret.
  auto r = v.Verify(
      Token("{\"alg\":\"HS256\"}", Claims(), nullptr, "another-secret-another-secret-another"),
      kNow);
  EXPECT_EQ(r.status().reason(), "bad_signature");
  // A valid token whose payload was swapped afterwards (grants widened).
  std::string good = Token("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", Claims(), Rsa());
  size_t d1 = good.find('.'), d2 = good.rfind('.');
  std::string forged =
      good.substr(0, d1 + 1) +
      B64("{\"sub\":\"alice\",\"exp\":" + std::to_string(kNow + 600) + ",\"subscribe\":[\"**\"]}") +
      good.substr(d2);
  EXPECT_EQ(v.Verify(forged, kNow).status().reason(), "bad_signature");
  // ES256 signature from another key.
  PkeyPtr other = GenEc();
  r = v.Verify(Token("{\"alg\":\"ES256\",\"kid\":\"ec1\"}", Claims(), other.get()), kNow);
  EXPECT_EQ(r.status().reason(), "bad_signature");
}

TEST(JwtVerifierTest, RefusesAlgNoneInAnySpelling) {
  JwtVerifier v = Verifier();
  for (const char* alg : {"none", "None", "NONE", "nOnE", ""}) {
    std::string tok = B64(std::string("{\"alg\":\"") + alg + "\"}") + "." + B64(Claims()) + ".";
    auto r = v.Verify(tok, kNow);
    ASSERT_FALSE(r.ok()) << alg;
    EXPECT_EQ(r.status().reason(), "unsupported_alg") << alg;
  }
}

TEST(JwtVerifierTest, RefusesHs256SignedWithTheRsaPublicKeyAsSecret) {
  // The classic confusion: a verifier that takes the algorithm from the
  // token would check this HMAC with the PEM text as the secret.
  const std::string pem = PublicPem(Rsa());
  JwtVerifier rsa_only;
  ASSERT_TRUE(rsa_only.AddPublicKeyPem(pem, "rsa1", "rsa.pem").ok());
  std::string tok = Token("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", Claims(), nullptr, pem);
  auto r = rsa_only.Verify(tok, kNow);
  EXPECT_EQ(r.status().reason(), "unknown_key");
  tok = Token("{\"alg\":\"HS256\"}", Claims(), nullptr, pem);
  EXPECT_EQ(rsa_only.Verify(tok, kNow).status().reason(), "unsupported_alg");
  // With an HS256 secret configured too, the PEM-keyed HMAC still fails.
  JwtVerifier both = Verifier();
  EXPECT_EQ(both.Verify(tok, kNow).status().reason(), "bad_signature");
  // And RS256 tokens are never checked against the HMAC secret.
  std::string rs = Token("{\"alg\":\"RS256\"}", Claims(), Rsa());
  JwtVerifier hs_only;
  ASSERT_TRUE(hs_only.AddHmacSecret(kSecret).ok());
  EXPECT_EQ(hs_only.Verify(rs, kNow).status().reason(), "unsupported_alg");
}

TEST(JwtVerifierTest, RefusesAnUnknownKid) {
  JwtVerifier v = Verifier();
  auto r = v.Verify(Token("{\"alg\":\"RS256\",\"kid\":\"rsa9\"}", Claims(), Rsa()), kNow);
  EXPECT_EQ(r.status().reason(), "unknown_key");
  // A kid of a key of another algorithm is unknown for this one.
  r = v.Verify(Token("{\"alg\":\"RS256\",\"kid\":\"ec1\"}", Claims(), Rsa()), kNow);
  EXPECT_EQ(r.status().reason(), "unknown_key");
}

TEST(JwtVerifierTest, RefusesMalformedTokens) {
  JwtVerifier v = Verifier();
  std::string good = Token("{\"alg\":\"HS256\"}", Claims());
  for (const std::string& bad :
       {std::string(""), std::string("abc"), std::string("a.b"), good + ".x",
        std::string("!!!.") + B64(Claims()) + ".sig", B64("{\"alg\":") + "." + B64(Claims()) + ".x",
        B64("[1]") + "." + B64(Claims()) + ".x",
        good.substr(0, good.size() - 3) + "===", std::string(kMaxTokenBytes + 1, 'a')}) {
    auto r = v.Verify(bad, kNow);
    ASSERT_FALSE(r.ok()) << bad.substr(0, 80);
    EXPECT_EQ(HttpStatusFor(r.status()), 401);
  }
  // A correctly signed payload that is not an object, or with a wrong type.
  EXPECT_EQ(v.Verify(Token("{\"alg\":\"HS256\"}", "[1,2]"), kNow).status().reason(),
            "invalid_token");
  EXPECT_EQ(v.Verify(Token("{\"alg\":\"HS256\"}", Claims(kNow + 60, ",\"subscribe\":\"a\"")), kNow)
                .status()
                .reason(),
            "invalid_token");
  EXPECT_EQ(v.Verify(Token("{\"alg\":\"HS256\"}", "{\"exp\":\"soon\"}"), kNow).status().reason(),
            "invalid_token");
  EXPECT_EQ(v.Verify(Token("{\"alg\":\"HS256\"}",
                           "{\"exp\":" + std::to_string(kNow + 60) + ",\"publish\":\"a\"}"),
                     kNow)
                .status()
                .reason(),
            "invalid_token");
  // Duplicate members: another parser could pick the other value.
  EXPECT_EQ(
      v.Verify(Token("{\"alg\":\"HS256\",\"alg\":\"HS256\"}", Claims()), kNow).status().reason(),
      "invalid_token");
}

TEST(JwtVerifierTest, AListClaimThatIsNotAnArrayOfStringsIsNamedInTheError) {
  JwtVerifier v = Verifier();
  const std::string exp = "{\"exp\":" + std::to_string(kNow + 60);
  for (const char* claim : {"subscribe", "publish", "scopes"}) {
    for (const char* value : {"\"a\"", "[\"a\",1]", "{}"}) {
      const std::string payload = exp + ",\"" + claim + "\":" + value + "}";
      auto r = v.Verify(Token("{\"alg\":\"HS256\"}", payload), kNow);
      ASSERT_FALSE(r.ok()) << payload;
      EXPECT_EQ(r.status().reason(), "invalid_token");
      EXPECT_NE(r.status().message().find(std::string("claim \"") + claim +
                                          "\" must be an array of strings"),
                std::string::npos)
          << r.status().message();
    }
  }
  auto ok =
      v.Verify(Token("{\"alg\":\"HS256\"}", exp + ",\"scopes\":[],\"publish\":[\"p\"]}"), kNow);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ok->scopes.empty());
  EXPECT_EQ(ok->publish, std::vector<std::string>{"p"});
}

TEST(JwtVerifierTest, ChecksIssuerAndAudienceWhenConfigured) {
  JwtVerifier v = Verifier();
  v.set_options(JwtCheckOptions{5, true, "https://issuer", "livehub"});
  std::string hdr = "{\"alg\":\"HS256\"}";
  EXPECT_TRUE(
      v.Verify(
           Token(hdr, Claims(kNow + 60, ",\"iss\":\"https://issuer\",\"aud\":[\"x\",\"livehub\"]")),
           kNow)
          .ok());
  EXPECT_EQ(v.Verify(Token(hdr, Claims(kNow + 60, ",\"iss\":\"evil\",\"aud\":\"livehub\"")), kNow)
                .status()
                .reason(),
            "wrong_issuer");
  EXPECT_EQ(
      v.Verify(Token(hdr, Claims(kNow + 60, ",\"iss\":\"https://issuer\",\"aud\":\"other\"")), kNow)
          .status()
          .reason(),
      "wrong_audience");
}

TEST(JwtVerifierTest, LoadsRsaAndEcKeysFromAJwks) {
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  EVP_PKEY_get_bn_param(Rsa(), OSSL_PKEY_PARAM_RSA_N, &n);
  EVP_PKEY_get_bn_param(Rsa(), OSSL_PKEY_PARAM_RSA_E, &e);
  auto bn = [](BIGNUM* b) {
    std::string s(static_cast<size_t>(BN_num_bytes(b)), '\0');
    BN_bn2bin(b, reinterpret_cast<unsigned char*>(s.data()));
    return B64(s);
  };
  unsigned char pub[65];
  size_t pub_len = 0;
  EVP_PKEY_get_octet_string_param(Ec(), OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &pub_len);
  ASSERT_EQ(pub_len, 65u);
  std::string x(reinterpret_cast<char*>(pub) + 1, 32), y(reinterpret_cast<char*>(pub) + 33, 32);
  std::string jwks =
      "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":\"" +
      bn(n) + "\",\"e\":\"" + bn(e) +
      "\"},{\"kty\":\"EC\",\"kid\":\"e\",\"crv\":\"P-256\",\"x\":\"" + B64(x) + "\",\"y\":\"" +
      B64(y) + "\"},{\"kty\":\"oct\",\"use\":\"enc\",\"k\":\"AA\"}]}";
  BN_free(n);
  BN_free(e);
  JwtVerifier v;
  ASSERT_TRUE(v.AddJwks(jwks, "jwks.json").ok()) << v.AddJwks(jwks, "jwks.json").ToString();
  EXPECT_TRUE(v.Verify(Token("{\"alg\":\"RS256\",\"kid\":\"r\"}", Claims(), Rsa()), kNow).ok());
  EXPECT_TRUE(v.Verify(Token("{\"alg\":\"ES256\",\"kid\":\"e\"}", Claims(), Ec()), kNow).ok());
  EXPECT_EQ(
      v.Verify(Token("{\"alg\":\"ES256\",\"kid\":\"r\"}", Claims(), Ec()), kNow).status().reason(),
      "unknown_key");
  EXPECT_FALSE(v.AddJwks("{\"keys\":[]}", "empty.json").ok());
  EXPECT_FALSE(
      v.AddJwks("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}]}",
                "bad.json")
          .ok());
}

TEST(JwtVerifierTest, RefusesWeakKeys) {
  JwtVerifier v;
  EXPECT_FALSE(v.AddHmacSecret("short").ok());
  EXPECT_FALSE(v.AddPublicKeyPem("not a pem", "", "x.pem").ok());
  PkeyPtr small(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}), EVP_PKEY_free);
  EXPECT_FALSE(v.AddPublicKeyPem(PublicPem(small.get()), "", "small.pem").ok());
}

}  // namespace
}  // namespace livehub
