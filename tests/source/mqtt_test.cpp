// The mqtt source's pure helpers: the broker URL parser (and its redaction)
// and the topic filter check. The connector's I/O is covered by
// tests/integration/mqtt.test.mjs against a real broker.
#include <gtest/gtest.h>

#include <string>

#include "source/mqtt_source.h"

namespace livehub {
namespace {

TEST(MqttUrlTest, ParsesHostAndDefaultPorts) {
  auto u = ParseMqttUrl("mqtt://broker.example.com");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "broker.example.com");
  EXPECT_EQ(u->port, 1883);
  EXPECT_FALSE(u->tls);

  auto s = ParseMqttUrl("mqtts://broker.example.com");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->port, 8883);
  EXPECT_TRUE(s->tls);
}

TEST(MqttUrlTest, ParsesExplicitPortAndIpv6Literal) {
  auto u = ParseMqttUrl("mqtt://127.0.0.1:18830");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 18830);

  auto v6 = ParseMqttUrl("mqtts://[::1]:9000/");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);
  EXPECT_EQ(v6->Redacted(), "mqtts://[::1]:9000");
}

TEST(MqttUrlTest, TakesUserinfoButNeverShowsIt) {
  auto u = ParseMqttUrl("mqtt://alice:s3cret@host:1884");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->username, "alice");
  EXPECT_EQ(u->password, "s3cret");
  EXPECT_EQ(u->Redacted(), "mqtt://host:1884");
}

TEST(MqttUrlTest, RejectsBadUrlsWithoutEchoingSecrets) {
  for (const char* bad : {"http://host", "mqtt://", "mqtt://host:", "mqtt://host:0",
                          "mqtt://host:70000", "mqtt://host:12a", "mqtt://host/path",
                          "mqtt://host?x=1", "mqtt://[::1", "mqtt://:pw@host"}) {
    auto u = ParseMqttUrl(bad);
    EXPECT_FALSE(u.ok()) << bad;
  }
  auto u = ParseMqttUrl("mqtt://bob:hunter2@host:99999");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().message().find("hunter2"), std::string::npos);
}

TEST(MqttTopicFilterTest, AcceptsWildcardsInWholeLevels) {
  for (const char* ok : {"a", "a/b", "sensors/+/air", "+", "#", "a/#", "+/+/#", "/a", "a//b"}) {
    EXPECT_TRUE(ValidMqttTopicFilter(ok, nullptr)) << ok;
  }
}

TEST(MqttTopicFilterTest, RejectsMisplacedWildcardsAndEmpty) {
  std::string why;
  EXPECT_FALSE(ValidMqttTopicFilter("", &why));
  EXPECT_FALSE(ValidMqttTopicFilter("a+/b", &why));
  EXPECT_NE(why.find("'+'"), std::string::npos);
  EXPECT_FALSE(ValidMqttTopicFilter("a/#/b", &why));
  EXPECT_NE(why.find("'#'"), std::string::npos);
  EXPECT_FALSE(ValidMqttTopicFilter("a/b#", &why));
  EXPECT_FALSE(ValidMqttTopicFilter(std::string("a\0b", 3), &why));
}

}  // namespace
}  // namespace livehub
