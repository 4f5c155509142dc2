#include "auth/authenticator.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <yaml-cpp/yaml.h>

#include <chrono>

namespace livehub {
namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef-test-secret";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Hs256(const std::string& payload) {
  std::string signing = Base64UrlEncode("{\"alg\":\"HS256\"}") + "." + Base64UrlEncode(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(signing.data()), signing.size(), mac, &len);
  return signing + "." + Base64UrlEncode(std::string(reinterpret_cast<char*>(mac), len));
}

Result<AuthOptions> Parse(const std::string& yaml) {
  ConfigWalker w("test.yaml");
  AuthOptions o;
  auto resolve = [](std::string_view s) -> Result<std::string> {
    if (s == "${SECRET}") return kSecret;
    return std::string(s);
  };
  ParseAuthSection(w, YAML::Load(yaml), "auth", resolve, &o);
  if (!w.status().ok()) return w.status();
  return o;
}

TEST(Sha256HexTest, MatchesTheKnownDigest) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("").size(), 64u);
}

TEST(AuthConfigTest, ParsesEverySectionAndResolvesTheSecret) {
  auto o = Parse(R"(
jwt: {hs256_secret: "${SECRET}", leeway_s: 2, require_exp: false, issuer: iss, audience: aud}
api_keys:
  - {name: ingest, sha256: BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD,
     publish: ["sensors/**"], scopes: [admin]}
anonymous: {subscribe: ["public/**"]}
cookie: tok
query_token: false
allowed_origins: ["https://App.example.com/"]
)");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->hs256_secret, kSecret);
  EXPECT_EQ(o->jwt.leeway_s, 2);
  EXPECT_FALSE(o->jwt.require_exp);
  ASSERT_EQ(o->api_keys.size(), 1u);
  EXPECT_EQ(o->api_keys[0].sha256_hex, Sha256Hex("abc"));  // lowercased
  EXPECT_EQ(o->anonymous_subscribe, std::vector<std::string>{"public/**"});
  EXPECT_EQ(o->cookie_name, "tok");
  EXPECT_FALSE(o->query_token);
  EXPECT_EQ(o->allowed_origins, std::vector<std::string>{"https://app.example.com"});
  EXPECT_TRUE(o->configured());
}

TEST(AuthConfigTest, RefusesUnknownKeysAndPlainTextApiKeys) {
  auto o = Parse("jwt: {hs256: x}");
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("auth.jwt.hs256"), std::string::npos);
  o = Parse("api_keys: [{name: a, sha256: my-secret-key}]");
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("auth.api_keys[0].sha256"), std::string::npos);
  o = Parse("allowed_origins: [example.com]");
  ASSERT_FALSE(o.ok());
  o = Parse("jwt: {leeway_s: 3600}");
  ASSERT_FALSE(o.ok());
  EXPECT_FALSE(Parse("cors: x").ok());
}

TEST(AuthenticatorTest, AnOpenHubGivesEveryoneEverything) {
  auto a = Authenticator::Create(AuthOptions{}, true);
  ASSERT_TRUE(a.ok());
  auto p = (*a)->Authenticate("", NowMs());
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->everything);
  EXPECT_TRUE(p->HasScope("admin"));
  EXPECT_EQ((*a)->CheckOrigin("https://any.example", "127.0.0.1:1"), OriginVerdict::kAnyOrigin);
}

TEST(AuthenticatorTest, VerifiesTokensAndApiKeysAndKeepsAnonymousToItsGrant) {
  auto o = Parse(R"(
jwt: {hs256_secret: "${SECRET}", leeway_s: 0}
api_keys: [{name: ingest, sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad, publish: ["a/**"], scopes: [admin]}]
anonymous: {subscribe: ["public/**"]}
)");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  auto a = Authenticator::Create(*o, false);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const int64_t now = NowMs();

  auto anon = (*a)->Authenticate("", now);
  ASSERT_TRUE(anon.ok());
  EXPECT_TRUE(anon->anonymous());
  EXPECT_FALSE(anon->everything);
  EXPECT_EQ(anon->subscribe, std::vector<std::string>{"public/**"});
  EXPECT_FALSE(anon->HasScope("admin"));

  auto key = (*a)->Authenticate("abc", now);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->kind, Principal::Kind::kApiKey);
  EXPECT_EQ(key->subject, "key:ingest");
  EXPECT_TRUE(key->HasScope("admin"));
  EXPECT_EQ(key->expires_at_ms, 0);
  EXPECT_EQ((*a)->Authenticate("abd", now).status().reason(), "unknown_api_key");

  const int64_t exp = now / 1000 + 60;
  auto tok = (*a)->Authenticate(
      Hs256("{\"sub\":\"bob\",\"exp\":" + std::to_string(exp) + ",\"subscribe\":[\"x/*\"]}"), now);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ(tok->subject, "bob");
  EXPECT_EQ(tok->expires_at_ms, exp * 1000);
  auto expired = (*a)->Authenticate(
      Hs256("{\"sub\":\"bob\",\"exp\":" + std::to_string(now / 1000 - 1) + "}"), now);
  EXPECT_EQ(expired.status().reason(), "token_expired");
}

TEST(AuthenticatorTest, ExtractsTheCredentialFromHeaderKeyQueryOrCookie) {
  AuthOptions o;
  o.api_keys.push_back({"k", Sha256Hex("x"), {}, {}, {}});
  auto a = Authenticator::Create(o, false).value();
  auto get = [&](CredentialSources s) {
    auto r = a->ExtractCredential(s);
    return r.ok() ? *r : "error:" + r.status().reason();
  };
  EXPECT_EQ(get({"Bearer  abc ", "", "q", "livehub_token=c"}), "abc");
  EXPECT_EQ(get({"bearer abc", "", "", ""}), "abc");
  EXPECT_EQ(get({"Basic dXNlcjpwdw==", "", "", ""}), "error:unauthorized");
  EXPECT_EQ(get({"", "key1", "q", ""}), "key1");
  EXPECT_EQ(get({"", "", "q", "livehub_token=c"}), "q");
  EXPECT_EQ(get({"", "", "", "a=1; livehub_token=\"c2\"; b=2"}), "c2");
  EXPECT_EQ(get({"", "", "", "other=1"}), "");
  o.query_token = false;
  o.cookie_name = "tok";
  auto b = Authenticator::Create(o, false).value();
  EXPECT_EQ(*b->ExtractCredential({"", "", "q", "tok=z"}), "z");
}

TEST(AuthenticatorTest, ChecksOriginsAgainstTheListOrTheHubsOwnOrigin) {
  AuthOptions o;
  o.api_keys.push_back({"k", Sha256Hex("x"), {}, {}, {}});
  auto same_only = Authenticator::Create(o, false).value();
  EXPECT_EQ(same_only->CheckOrigin("", "hub:8080"), OriginVerdict::kNoOrigin);
  EXPECT_EQ(same_only->CheckOrigin("http://hub:8080", "hub:8080"), OriginVerdict::kAllowed);
  EXPECT_EQ(same_only->CheckOrigin("http://evil:8080", "hub:8080"), OriginVerdict::kRefused);
  auto on_loopback = Authenticator::Create(o, false, /*loopback=*/true).value();
  EXPECT_EQ(on_loopback->CheckOrigin("http://evil:8080", "127.0.0.1:8080"),
            OriginVerdict::kAnyOrigin);
  o.allowed_origins = {"https://app.example.com"};
  auto listed = Authenticator::Create(o, false).value();
  EXPECT_EQ(listed->CheckOrigin("https://APP.example.com", "hub"), OriginVerdict::kAllowed);
  EXPECT_EQ(listed->CheckOrigin("https://app.example.com.evil", "hub"), OriginVerdict::kRefused);
  EXPECT_EQ(listed->CheckOrigin("http://app.example.com", "hub"), OriginVerdict::kRefused);
}

TEST(AuthenticatorTest, KnowsLoopbackHosts) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("[::1]"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
}

}  // namespace
}  // namespace livehub
