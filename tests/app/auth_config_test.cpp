// The `auth:` hook of the app config: parsed by src/auth, patterns checked
// with the stream pattern rules, secrets resolved like source headers.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "app/config.h"

namespace livehub {
namespace {

TEST(AuthConfigHookTest, ParsesTheSectionAndResolvesTheSecretFromTheEnvironment) {
  setenv("LIVEHUB_TEST_JWT_SECRET", "0123456789abcdef0123456789abcdef!!", 1);
  auto c = ParseConfig(R"(
auth:
  jwt: {hs256_secret: "${LIVEHUB_TEST_JWT_SECRET}"}
  anonymous: {subscribe: ["public/**"]}
)",
                       "cfg.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->auth.hs256_secret, "0123456789abcdef0123456789abcdef!!");
  EXPECT_TRUE(c->auth.configured());
  EXPECT_FALSE(Config{}.auth.configured());
}

TEST(AuthConfigHookTest, NamesBadPatternsAndUnknownKeys) {
  auto c = ParseConfig("auth:\n  api_keys: [{name: a, sha256: " + std::string(64, 'a') +
                           ", publish: [\"x/**/\"]}]\n",
                       "cfg.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("auth.api_keys[0].publish"), std::string::npos)
      << c.status().message();
  c = ParseConfig("auth:\n  tokens: {}\n", "cfg.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("auth.tokens: unknown key"), std::string::npos);
  c = ParseConfig("auth:\n  jwt: {hs256_secret: \"${LIVEHUB_TEST_UNSET_VAR}\"}\n", "cfg.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("auth.jwt.hs256_secret"), std::string::npos);
}

}  // namespace
}  // namespace livehub
