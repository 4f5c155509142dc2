#include "fanout/access.h"

#include <gtest/gtest.h>

namespace livehub {
namespace {

std::shared_ptr<const Access> Grant(std::vector<std::string> sub, std::vector<std::string> pub,
                                    std::vector<std::string> scopes = {},
                                    Principal::Kind kind = Principal::Kind::kToken) {
  Principal p;
  p.kind = kind;
  p.subject = "t";
  p.subscribe = std::move(sub);
  p.publish = std::move(pub);
  p.scopes = std::move(scopes);
  auto a = Access::Compile(std::move(p));
  EXPECT_TRUE(a.ok());
  return *a;
}

Pattern P(std::string_view t) { return *Pattern::Parse(t); }

TEST(AccessTest, ReadsAndWritesOnlyWhatTheGrantCovers) {
  auto a = Grant({"sensors/**", "specs/E13-*"}, {"sensors/alice/*"});
  EXPECT_TRUE(a->CanRead("sensors/a/b"));
  EXPECT_TRUE(a->CanRead("specs/E13-F03"));
  EXPECT_FALSE(a->CanRead("specs/E14-F03"));
  EXPECT_FALSE(a->CanRead("secret"));
  EXPECT_TRUE(a->CanWrite("sensors/alice/t"));
  EXPECT_FALSE(a->CanWrite("sensors/bob/t"));
  EXPECT_FALSE(a->CanWrite("specs/E13-F03"));
}

TEST(AccessTest, SystemStreamsNeedAdminOrAnExplicitGrant) {
  EXPECT_FALSE(Grant({"**"}, {})->CanRead("$sys/events"));
  EXPECT_TRUE(Grant({"**"}, {}, {"admin"})->CanRead("$sys/events"));
  EXPECT_TRUE(Grant({"$sys/events"}, {})->CanRead("$sys/events"));
  EXPECT_FALSE(Grant({"**"}, {})->MayReadSome(P("$sys/**")));
  EXPECT_TRUE(Grant({}, {}, {"admin"})->MayReadSome(P("$sys/**")));
}

TEST(AccessTest, RefusesPatternsThatCanNeverMatchTheGrant) {
  auto a = Grant({"sensors/air/*", "specs/E13-*"}, {});
  EXPECT_TRUE(a->MayReadSome(P("sensors/**")));  // filtered per stream
  EXPECT_TRUE(a->MayReadSome(P("*/air/x")));
  EXPECT_TRUE(a->MayReadSome(P("specs/*-F03")));
  EXPECT_FALSE(a->MayReadSome(P("secret/**")));
  EXPECT_FALSE(a->MayReadSome(P("sensors/water/*")));
  EXPECT_FALSE(a->MayReadSome(P("sensors/air")));  // exact, not covered
  EXPECT_FALSE(a->MayReadSome(P("specs/E14-*")));
  EXPECT_TRUE(a->MayReadSome(P("sensors/air/x")));
}

TEST(AccessTest, PatternIntersectionHandlesDoubleStars) {
  EXPECT_TRUE(PatternsMayIntersect("a/**", "**/b"));
  EXPECT_TRUE(PatternsMayIntersect("a/**/c", "a/b/**"));
  EXPECT_TRUE(PatternsMayIntersect("**", "x/y/z"));
  EXPECT_FALSE(PatternsMayIntersect("a/**", "b/**"));
  EXPECT_FALSE(PatternsMayIntersect("a/*", "a/b/c"));
  EXPECT_FALSE(PatternsMayIntersect("**", "$sys/events"));
  EXPECT_TRUE(PatternsMayIntersect("$sys/**", "$sys/events"));
}

TEST(AccessTest, RefusalsSayUnauthorizedWithoutCredentialsAndForbiddenWith) {
  auto anon = Grant({}, {}, {}, Principal::Kind::kAnonymous);
  Status st = anon->Refuse("no");
  EXPECT_EQ(st.reason(), "unauthorized");
  EXPECT_EQ(HttpStatusFor(st), 401);
  st = Grant({}, {})->Refuse("no");
  EXPECT_EQ(st.reason(), "forbidden");
  EXPECT_EQ(HttpStatusFor(st), 403);
}

TEST(AccessTest, ABadPatternInAGrantIsAnInvalidToken) {
  Principal p;
  p.subscribe = {"ok/*", "bad//x"};
  auto a = Access::Compile(p);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().reason(), "invalid_token");
}

TEST(AccessTest, EverythingAllowsEveryStreamAndScope) {
  auto a = Access::Everything();
  EXPECT_TRUE(a->CanRead("$sys/events"));
  EXPECT_TRUE(a->CanWrite("x"));
  EXPECT_TRUE(a->HasScope("admin"));
}

}  // namespace
}  // namespace livehub
