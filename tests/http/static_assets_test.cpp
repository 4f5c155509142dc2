// The dashboard's embedded files: the table the build generates from web/,
// and how the REST layer serves it (ETag, Cache-Control, 304).
#include "http/static_assets.h"

#include <gtest/gtest.h>

#include <string>

#include "http/rest_api.h"

namespace livehub {
namespace {

TEST(StaticAssetsTest, EmbedsTheIndexPageAndTheHashedBundles) {
  const StaticAsset* index = FindDashboardAsset("/");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index, FindDashboardAsset("/index.html"));
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(index->cache_control, "no-cache");
  EXPECT_NE(index->body.find("<footer class=\"live\""), std::string_view::npos);
  int js = 0, css = 0;
  for (const StaticAsset& a : DashboardAssets()) {
    EXPECT_EQ(a.etag.front(), '"');
    EXPECT_EQ(a.etag.back(), '"');
    EXPECT_FALSE(a.body.empty()) << a.path;
    if (a.path.starts_with("/assets/")) {
      EXPECT_EQ(a.cache_control, "public, max-age=31536000, immutable") << a.path;
      // index.html names every hashed bundle it needs.
      EXPECT_NE(index->body.find(a.path), std::string_view::npos) << a.path;
      js += a.path.ends_with(".js");
      css += a.path.ends_with(".css");
    }
  }
  EXPECT_EQ(js, 1);
  EXPECT_EQ(css, 1);
  EXPECT_EQ(FindDashboardAsset("/nope.js"), nullptr);
}

TEST(StaticAssetsTest, EtagMatchesListsWeakTagsAndStar) {
  EXPECT_TRUE(EtagMatches("\"abc\"", "\"abc\""));
  EXPECT_TRUE(EtagMatches("\"x\", W/\"abc\"", "\"abc\""));
  EXPECT_TRUE(EtagMatches(" * ", "\"abc\""));
  EXPECT_FALSE(EtagMatches("", "\"abc\""));
  EXPECT_FALSE(EtagMatches("\"abcd\"", "\"abc\""));
}

// The REST layer serves the files with their validators, and answers a
// matching If-None-Match with 304 and no body. (The asset routes never touch
// the hub, so none is needed here.)
TEST(StaticAssetsTest, ServesFilesWithEtagAndAnswers304WhenUnchanged) {
  RestContext ctx;
  ctx.reply_later = [](HttpResponse) {};
  HttpRequestView req;
  req.method = "GET";
  req.path = "/";
  std::optional<HttpResponse> r = HandleRest(ctx, req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->content_type, "text/html; charset=utf-8");
  std::string etag;
  for (auto& [k, v] : r->headers) {
    if (k == "ETag") etag = v;
  }
  ASSERT_FALSE(etag.empty());
  req.if_none_match = etag;
  r = HandleRest(ctx, req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 304);
  EXPECT_TRUE(r->body.empty());
  req.method = "POST";
  r = HandleRest(ctx, req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
}

}  // namespace
}  // namespace livehub
