// Pure parts of the http_poll source: JSON Pointer record extraction and
// URL parsing / redaction (source/http_fetch.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "source/http_fetch.h"
#include "source/http_poll_source.h"

namespace livehub {
namespace {

std::vector<std::string> Records(std::string_view body, std::string_view pointer) {
  std::vector<std::string> out;
  Status st = ExtractRecords(body, pointer, DecodeLimits{}, &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

TEST(HttpPollTest, EmptyPointerTakesArrayElementsOfTheWholeBody) {
  EXPECT_EQ(Records(R"([{"a": 1}, 2, "x"])", ""),
            (std::vector<std::string>{R"({"a":1})", "2", R"("x")"}));
}

TEST(HttpPollTest, EmptyPointerTakesASingleValueAsOneRecord) {
  EXPECT_EQ(Records(R"( {"a" : [1, 2]} )", ""), (std::vector<std::string>{R"({"a":[1,2]})"}));
}

TEST(HttpPollTest, PointerSelectsTheNestedArray) {
  const char* body = R"({"meta":{"n":2},"data":{"items":[{"id":1},{"id":2}]}})";
  EXPECT_EQ(Records(body, "/data/items"), (std::vector<std::string>{R"({"id":1})", R"({"id":2})"}));
}

TEST(HttpPollTest, PointerIndexesArraysAndUnescapesTildes) {
  const char* body = R"({"a/b":[{"m~n":[10,20]}]})";
  EXPECT_EQ(Records(body, "/a~1b/0/m~0n"), (std::vector<std::string>{"10", "20"}));
  EXPECT_EQ(Records(body, "/a~1b/0/m~0n/1"), (std::vector<std::string>{"20"}));
}

TEST(HttpPollTest, EmptyArrayIsNoRecordsNotAnError) {
  EXPECT_TRUE(Records(R"({"items":[]})", "/items").empty());
}

TEST(HttpPollTest, MissingPointerTargetIsNoRecords) {
  std::vector<std::string> out;
  Status st = ExtractRecords(R"({"data":{}})", "/data/items", DecodeLimits{}, &out);
  EXPECT_EQ(st.reason(), "no_records");
  EXPECT_NE(st.message().find("/data/items"), std::string::npos);
  st = ExtractRecords(R"({"data":[1]})", "/data/5", DecodeLimits{}, &out);
  EXPECT_EQ(st.reason(), "no_records");
}

TEST(HttpPollTest, MalformedBodyIsBadJson) {
  std::vector<std::string> out;
  Status st = ExtractRecords(R"({"data": [1, 2)", "/data", DecodeLimits{}, &out);
  EXPECT_EQ(st.reason(), "bad_json");
  EXPECT_TRUE(out.empty());
}

TEST(HttpPollTest, OversizeRecordFailsTheWholeBody) {
  DecodeLimits limits;
  limits.max_event_bytes = 8;
  std::vector<std::string> out;
  Status st = ExtractRecords(R"([1, "a long string here"])", "", limits, &out);
  EXPECT_EQ(st.reason(), "event_too_large");
  EXPECT_TRUE(out.empty());
}

TEST(HttpPollTest, ValidatesPointerSyntax) {
  EXPECT_TRUE(ValidateJsonPointer("").ok());
  EXPECT_TRUE(ValidateJsonPointer("/a/0/~0~1").ok());
  EXPECT_FALSE(ValidateJsonPointer("a/b").ok());
  EXPECT_FALSE(ValidateJsonPointer("/a~2").ok());
  EXPECT_FALSE(ValidateJsonPointer("/a~").ok());
}

TEST(HttpFetchTest, ParsesUrls) {
  auto u = ParseHttpUrl("https://Example.com/v1/feed?x=1#frag");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "Example.com");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/v1/feed?x=1");
  EXPECT_EQ(u->HostHeader(), "Example.com");
  u = ParseHttpUrl("http://127.0.0.1:8081");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, "8081");
  EXPECT_EQ(u->target, "/");
  EXPECT_EQ(u->HostHeader(), "127.0.0.1:8081");
  u = ParseHttpUrl("http://[::1]:9000/x");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->HostHeader(), "[::1]:9000");
  // A port is left out of Host only when it is the scheme's default.
  u = ParseHttpUrl("HTTP://h:80/a");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->HostHeader(), "h");
  u = ParseHttpUrl("http://h:443/a");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->HostHeader(), "h:443");
  u = ParseHttpUrl("https://h:80/a");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->HostHeader(), "h:80");
}

TEST(HttpFetchTest, RejectsBadUrlsWithoutEchoingCredentials) {
  EXPECT_FALSE(ParseHttpUrl("ftp://x/").ok());
  EXPECT_FALSE(ParseHttpUrl("http://:80/").ok());
  EXPECT_FALSE(ParseHttpUrl("http://h:99999/").ok());
  auto r = ParseHttpUrl("http://user:hunter2@h/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("hunter2"), std::string::npos);
}

TEST(HttpFetchTest, RedactsUserinfoAndSecretQueryValues) {
  EXPECT_EQ(RedactUrl("https://u:p@h.example/a?x=1&api_key=s3cr3t&Token=t&b=2"),
            "https://h.example/a?x=1&api_key=***&Token=***&b=2");
  EXPECT_EQ(RedactUrl("http://h/a/b"), "http://h/a/b");
}

}  // namespace
}  // namespace livehub
