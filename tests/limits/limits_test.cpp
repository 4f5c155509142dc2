#include "limits/limits.h"

#include <gtest/gtest.h>

#include <string>

namespace livehub {
namespace {

constexpr int64_t kMs = 1'000'000;

TEST(TokenBucketTest, StartsFullThenRefusesWithTheWaitUntilTheNextToken) {
  TokenBucket b;
  RateLimit l{10, 3};  // 10/s, burst 3
  EXPECT_EQ(b.Take(l, 0), 0);
  EXPECT_EQ(b.Take(l, 0), 0);
  EXPECT_EQ(b.Take(l, 0), 0);
  EXPECT_EQ(b.Take(l, 0), 100);  // one token every 100 ms
  EXPECT_EQ(b.Take(l, 50 * kMs), 50);
  EXPECT_EQ(b.Take(l, 100 * kMs), 0);
  EXPECT_FALSE(b.Full(l, 100 * kMs));
  EXPECT_TRUE(b.Full(l, 400 * kMs));
}

TEST(TokenBucketTest, RefillNeverExceedsTheBurst) {
  TokenBucket b;
  RateLimit l{1000, 2};
  EXPECT_EQ(b.Take(l, 0), 0);
  EXPECT_EQ(b.Take(l, 3600'000 * kMs), 0);
  EXPECT_EQ(b.Take(l, 3600'000 * kMs), 0);
  EXPECT_GT(b.Take(l, 3600'000 * kMs), 0);
}

TEST(TokenBucketTest, RateZeroIsOff) {
  TokenBucket b;
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(b.Take(RateLimit{0, 0}, 0), 0);
}

double Refusals(MetricsRegistry& m, const std::string& reason) {
  return static_cast<double>(
      m.GetCounter("refusals_total", "", "reason=\"" + reason + "\"")->value());
}

TEST(PeerLimiterTest, RefusesTheConnectionOverThePerIpLimitAndCountsIt) {
  MetricsRegistry m;
  PeerLimitOptions o;
  o.max_connections_per_ip = 2;
  o.exempt = {};
  PeerLimiter lim(o, &m);
  auto a = lim.Admit("10.0.0.1");
  auto b = lim.Admit("10.0.0.1");
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = lim.Admit("10.0.0.1");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().reason(), "too_many_connections_per_ip");
  EXPECT_NE(c.status().message().find("limits.max_connections_per_ip is 2"), std::string::npos);
  EXPECT_EQ(Refusals(m, "too_many_connections_per_ip"), 1);
  EXPECT_TRUE(lim.Admit("10.0.0.2").ok());  // another IP is not affected
  a->reset();                               // a connection closes: its slot is free
  EXPECT_EQ(lim.ConnectionsFrom("10.0.0.1"), 1u);
  EXPECT_TRUE(lim.Admit("10.0.0.1").ok());
}

TEST(PeerLimiterTest, ExemptPeersAreNeverRefused) {
  MetricsRegistry m;
  PeerLimitOptions o;
  o.max_connections_per_ip = 1;
  o.publish_per_connection = {1, 1};
  PeerLimiter lim(o, &m);  // default exempt list: loopback
  std::vector<std::shared_ptr<PeerTicket>> held;
  for (int i = 0; i < 10; ++i) {
    auto t = lim.Admit("127.0.0.1");
    ASSERT_TRUE(t.ok());
    held.push_back(*t);
  }
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(lim.TakePublish(held[0].get(), 0).ok());
}

TEST(PeerLimiterTest, PublishRateIsPerConnectionAndPerIp) {
  MetricsRegistry m;
  PeerLimitOptions o;
  o.exempt = {};
  o.publish_per_connection = {10, 2};
  o.publish_per_ip = {10, 3};
  PeerLimiter lim(o, &m);
  auto a = *lim.Admit("10.0.0.1");
  auto b = *lim.Admit("10.0.0.1");
  EXPECT_TRUE(lim.TakePublish(a.get(), 0).ok());
  EXPECT_TRUE(lim.TakePublish(a.get(), 0).ok());
  Status st = lim.TakePublish(a.get(), 0);  // connection bucket empty
  EXPECT_EQ(st.reason(), "rate_limited");
  EXPECT_NE(st.message().find("publish_rate_per_connection"), std::string::npos);
  EXPECT_EQ(*st.retry_after_ms(), 100);
  EXPECT_TRUE(lim.TakePublish(b.get(), 0).ok());  // IP bucket: 3rd token
  st = lim.TakePublish(b.get(), 0);               // IP bucket empty
  EXPECT_NE(st.message().find("publish_rate_per_ip"), std::string::npos);
  EXPECT_EQ(Refusals(m, "rate_limited"), 2);
  EXPECT_TRUE(lim.TakePublish(b.get(), 200 * kMs).ok());
}

TEST(PeerLimiterTest, AnIpsRateSurvivesReconnecting) {
  MetricsRegistry m;
  PeerLimitOptions o;
  o.exempt = {};
  o.publish_per_connection = {0, 0};
  o.publish_per_ip = {1, 1};
  PeerLimiter lim(o, &m);
  {
    auto a = *lim.Admit("10.0.0.9");
    EXPECT_TRUE(lim.TakePublish(a.get(), 0).ok());
  }
  auto b = *lim.Admit("10.0.0.9");
  EXPECT_FALSE(lim.TakePublish(b.get(), 0).ok());
}

}  // namespace
}  // namespace livehub
