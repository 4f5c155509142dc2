// URL parsing and redaction for the network client sources.
#include "source/net_client.h"

#include <gtest/gtest.h>

namespace livehub {
namespace {

TEST(NetClientTest, ParsesSchemeHostPortAndTarget) {
  auto u = ParseNetUrl("wss://feed.example.com:8443/v1/stream?x=1#frag", "ws", "wss");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "feed.example.com");
  EXPECT_EQ(u->port, "8443");
  EXPECT_EQ(u->target, "/v1/stream?x=1");
  EXPECT_EQ(u->path, "/v1/stream");
  EXPECT_EQ(u->HostHeader(), "feed.example.com:8443");
}

TEST(NetClientTest, DefaultsPortAndPathPerScheme) {
  auto u = ParseNetUrl("HTTP://example.com", "http", "https");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->target, "/");
  EXPECT_EQ(u->HostHeader(), "example.com");
  auto s = ParseNetUrl("https://example.com?q=1", "http", "https");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->port, "443");
  EXPECT_EQ(s->target, "/?q=1");
}

TEST(NetClientTest, AcceptsIpv6LiteralsAndSkipsUserinfo) {
  auto u = ParseNetUrl("ws://user:pw@[::1]:9001/ws", "ws", "wss");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "9001");
  EXPECT_EQ(u->HostHeader(), "[::1]:9001");
}

TEST(NetClientTest, RejectsWrongSchemeBadPortAndNoHost) {
  EXPECT_FALSE(ParseNetUrl("http://x/", "ws", "wss").ok());
  EXPECT_FALSE(ParseNetUrl("ws://x:99999/", "ws", "wss").ok());
  EXPECT_FALSE(ParseNetUrl("ws://x:8a/", "ws", "wss").ok());
  EXPECT_FALSE(ParseNetUrl("ws:///path", "ws", "wss").ok());
  EXPECT_FALSE(ParseNetUrl("example.com/path", "ws", "wss").ok());
}

TEST(NetClientTest, ErrorsDoNotRepeatCredentials) {
  auto u = ParseNetUrl("ftp://user:hunter2@x/?token=abc", "ws", "wss");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().message().find("hunter2"), std::string::npos);
  EXPECT_EQ(u.status().message().find("abc"), std::string::npos);
}

TEST(NetClientTest, RedactsUserinfoAndCredentialQueryValues) {
  EXPECT_EQ(RedactUrl("wss://me:pw@h:1/p?a=1&api_key=K&Token=T&sig=S#f"),
            "wss://h:1/p?a=1&api_key=***&Token=***&sig=***#f");
  EXPECT_EQ(RedactUrl("http://h/p"), "http://h/p");
  EXPECT_EQ(RedactUrl("http://h/p?flag&x=2"), "http://h/p?flag&x=2");
}

}  // namespace
}  // namespace livehub
