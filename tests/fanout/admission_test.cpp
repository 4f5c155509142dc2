// Admission and Publisher: the one place refusals are decided (and counted)
// for every transport, tested without sockets.
#include "fanout/admission.h"

#include <gtest/gtest.h>

#include "fanout/publisher.h"
#include "fanout/upgrade.h"

namespace livehub {
namespace {

std::shared_ptr<const Access> Grant(std::vector<std::string> sub, std::vector<std::string> pub,
                                    Principal::Kind kind = Principal::Kind::kToken) {
  Principal p;
  p.kind = kind;
  p.subject = kind == Principal::Kind::kAnonymous ? "" : "t";
  p.subscribe = std::move(sub);
  p.publish = std::move(pub);
  return *Access::Compile(std::move(p));
}

class AdmissionTest : public ::testing::Test {
 protected:
  AdmissionTest() : hub_(HubOptions{}, &clock_, &metrics_) {
    ctx_.hub = &hub_;
    ctx_.options.max_subscriptions = 3;
    ctx_.options.max_connections = 2;
    ctx_.options.max_pattern_segments = 4;
    ctx_.options.max_pattern_wildcards = 2;
    ctx_.InitMetrics(&metrics_);
  }

  int64_t Counter(const std::string& name, const std::string& reason) {
    return metrics_.GetCounter(name, "", "reason=\"" + reason + "\"")->value();
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  Hub hub_;
  FanoutContext ctx_;
};

TEST_F(AdmissionTest, PatternsAreAdmittedAllOrNothing) {
  Admission a(&ctx_, nullptr);
  auto ok = a.AdmitPatterns(*Access::Everything(), {"sensors/*", "specs/E13-F03"});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[1].text(), "specs/E13-F03");

  auto bad = a.AdmitPatterns(*Access::Everything(), {"sensors/*", "a//b"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(HttpStatusFor(bad.status()), 400);
}

TEST_F(AdmissionTest, AComplexPatternIsALimitAndCounted) {
  Admission a(&ctx_, nullptr);
  auto r = a.AdmitPatterns(*Access::Everything(), {"a/b/c/d/e"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "pattern_too_complex");
  EXPECT_NE(r.status().message().find("limits.max_pattern_segments is 4"), std::string::npos);
  r = a.AdmitPatterns(*Access::Everything(), {"*/*/*"});
  EXPECT_NE(r.status().message().find("max_pattern_wildcards is 2"), std::string::npos);
  EXPECT_EQ(Counter("refusals_total", "pattern_too_complex"), 2);
}

TEST_F(AdmissionTest, APatternOutsideTheGrantIsRefusedWithItsNameAndCounted) {
  Admission a(&ctx_, nullptr);
  auto grant = Grant({"sensors/**"}, {});
  EXPECT_TRUE(a.AdmitPatterns(*grant, {"sensors/a/*"}).ok());
  auto r = a.AdmitPatterns(*grant, {"sensors/a", "secret/*"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "forbidden");
  EXPECT_EQ(HttpStatusFor(r.status()), 403);
  EXPECT_NE(r.status().message().find("'secret/*'"), std::string::npos);
  r = a.AdmitPatterns(*grant, {"other"});
  EXPECT_NE(r.status().message().find("not allowed to subscribe to 'other'"), std::string::npos);
  EXPECT_EQ(Counter("auth_refusals_total", "forbidden"), 2);
}

TEST_F(AdmissionTest, SubscriptionCountStopsAtTheLimit) {
  Admission a(&ctx_, nullptr);
  EXPECT_TRUE(a.AdmitSubscriptionCount(3).ok());
  Status st = a.AdmitSubscriptionCount(4);
  EXPECT_EQ(st.reason(), "too_many_subscriptions");
  EXPECT_EQ(HttpStatusFor(st), 400);  // retrying the same request would not help
  EXPECT_NE(st.message().find("would have 4 subscriptions"), std::string::npos);
  EXPECT_EQ(Counter("refusals_total", "too_many_subscriptions"), 1);
}

TEST_F(AdmissionTest, ASubscriberNeedsSomeReadRightAndAFreeSlot) {
  Admission a(&ctx_, nullptr);
  Status st = a.AdmitSubscriber(*Grant({}, {}, Principal::Kind::kAnonymous));
  EXPECT_EQ(st.reason(), "unauthorized");
  EXPECT_EQ(HttpStatusFor(st), 401);
  EXPECT_TRUE(a.AdmitSubscriber(*Grant({"public/*"}, {}, Principal::Kind::kAnonymous)).ok());

  ctx_.connections = 2;
  st = a.AdmitSubscriber(*Access::Everything());
  EXPECT_EQ(st.reason(), "too_many_connections");
  EXPECT_EQ(HttpStatusFor(st), 503);
  EXPECT_EQ(RetryAfterMsFor(st), kConnectionRetryAfterMs);
  EXPECT_NE(st.message().find("limits.max_connections is 2"), std::string::npos);
  EXPECT_EQ(Counter("refusals_total", "too_many_connections"), 1);
}

TEST_F(AdmissionTest, PeersAreAdmittedUpToTheirLimitWithARetryHint) {
  Admission open(&ctx_, nullptr);
  auto none = open.AdmitPeer("10.0.0.1");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);  // no per-peer limits configured

  PeerLimitOptions po;
  po.max_connections_per_ip = 1;
  po.exempt.clear();
  PeerLimiter limiter(po, &metrics_);
  ctx_.limiter = &limiter;
  Admission a(&ctx_, nullptr);
  auto first = a.AdmitPeer("10.0.0.1");
  ASSERT_TRUE(first.ok());
  auto second = a.AdmitPeer("10.0.0.1");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().reason(), "too_many_connections_per_ip");
  EXPECT_EQ(HttpStatusFor(second.status()), 503);
  EXPECT_EQ(second.status().retry_after_ms(), kConnectionRetryAfterMs);
}

TEST_F(AdmissionTest, OriginsAreJudgedOnceForEveryEndpoint) {
  AuthOptions o;
  o.api_keys.push_back({"k", Sha256Hex("secret"), {"**"}, {}, {}});
  o.allowed_origins = {"https://app.example"};
  auto auth = Authenticator::Create(o, false);
  ASSERT_TRUE(auth.ok());
  Admission a(&ctx_, auth->get());
  EXPECT_EQ(a.DefaultAllowOrigin(), "");
  OriginDecision d = a.CheckOrigin("https://app.example", "hub:8080");
  EXPECT_TRUE(d.refusal.ok());
  EXPECT_EQ(d.allow_origin, "https://app.example");
  d = a.CheckOrigin("https://evil.example", "hub:8080");
  EXPECT_EQ(d.refusal.reason(), "origin_not_allowed");
  EXPECT_EQ(HttpStatusFor(d.refusal), 403);
  EXPECT_EQ(Counter("auth_refusals_total", "origin_not_allowed"), 1);

  Admission open(&ctx_, nullptr);
  EXPECT_EQ(open.DefaultAllowOrigin(), "*");
}

TEST_F(AdmissionTest, CredentialsBecomeAccessOrAnUnauthenticatedRefusal) {
  AuthOptions o;
  o.api_keys.push_back({"k", Sha256Hex("secret"), {"sensors/**"}, {}, {}});
  auto auth = Authenticator::Create(o, false);
  ASSERT_TRUE(auth.ok());
  Admission a(&ctx_, auth->get());
  CredentialSources src;
  src.api_key = "secret";
  auto access = a.Authorize(src);
  ASSERT_TRUE(access.ok());
  EXPECT_TRUE((*access)->CanRead("sensors/x"));
  EXPECT_FALSE((*access)->CanRead("other"));

  src.api_key = "wrong";
  access = a.Authorize(src);
  ASSERT_FALSE(access.ok());
  EXPECT_EQ(access.status().reason(), "unknown_api_key");
  EXPECT_EQ(HttpStatusFor(access.status()), 401);
  EXPECT_EQ(Counter("auth_refusals_total", "unknown_api_key"), 1);
}

TEST_F(AdmissionTest, RefreshIsRefusedWithoutAnAuthenticatorOrAToken) {
  Admission open(&ctx_, nullptr);
  auto r = open.Refresh(*Access::Everything(), "x");
  EXPECT_EQ(r.status().reason(), "forbidden");
  AuthOptions o;
  o.api_keys.push_back({"k", Sha256Hex("secret"), {"**"}, {}, {}});
  auto auth = Authenticator::Create(o, false);
  Admission a(&ctx_, auth->get());
  r = a.Refresh(*Access::Everything(), "");
  EXPECT_EQ(r.status().reason(), "unauthorized");
  EXPECT_EQ(HttpStatusFor(r.status()), 401);
}

// ---------------------------------------------------------------------------
// Publisher
// ---------------------------------------------------------------------------

class PublisherTest : public AdmissionTest {
 protected:
  PublisherTest() : admission_(&ctx_, nullptr), publisher_(&hub_, &admission_, DecodeLimits{}) {}

  Result<PublishAck> Publish(const Access& access, std::string_view stream, std::string_view ct,
                             std::string_view body, PeerTicket* ticket = nullptr) {
    PublishInput in;
    in.stream = stream;
    in.content_type = ct;
    in.body = body;
    auto ack = publisher_.Publish(access, ticket, in, [](Result<PublishAck>) {});
    EXPECT_TRUE(ack.has_value());  // memory streams answer at once
    return *ack;
  }

  Admission admission_;
  Publisher publisher_;
};

TEST_F(PublisherTest, ABodyIsDecodedByItsContentTypeAndAppendedInOrder) {
  auto ack =
      Publish(*Access::Everything(), "rooms/k", "application/x-ndjson", "{\"t\":1}\n{\"t\":2}\n");
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->first_seq, 1u);
  EXPECT_EQ(ack->last_seq, 2u);
  // A form-encoded body (curl -d's default) is read as JSON.
  ack = Publish(*Access::Everything(), "rooms/k", "application/x-www-form-urlencoded", "[3,4]");
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->last_seq, 4u);
  std::string json;
  JsonWriter w(&json);
  w.BeginObject();
  WritePublishAckMembers(w, *ack);
  w.EndObject();
  EXPECT_EQ(json, "{\"stream\":\"rooms/k\",\"epoch\":\"" + ack->epoch +
                      "\",\"first_seq\":3,\"last_seq\":4}");
}

TEST_F(PublisherTest, EventsAlreadyDecodedAreAppendedAsTheyAre) {
  const std::vector<std::string> one{"[1,2]"};  // one event whose data is an array
  PublishInput in;
  in.stream = "rooms/k";
  in.events = &one;
  auto ack = publisher_.Publish(*Access::Everything(), nullptr, in, [](Result<PublishAck>) {});
  ASSERT_TRUE(ack && ack->ok());
  EXPECT_EQ((*ack)->first_seq, 1u);
  EXPECT_EQ((*ack)->last_seq, 1u);
}

TEST_F(PublisherTest, ARefusedPublishAppendsNothing) {
  auto grant = Grant({"**"}, {"rooms/*"});
  auto ack = Publish(*grant, "other/x", "", "{}");
  EXPECT_EQ(ack.status().reason(), "forbidden");
  EXPECT_EQ(Counter("auth_refusals_total", "forbidden"), 1);

  ack = Publish(*grant, "rooms/a", "text/plain", "{}");
  EXPECT_EQ(ack.status().reason(), "unsupported_media_type");
  EXPECT_EQ(HttpStatusFor(ack.status()), 415);

  ack = Publish(*grant, "rooms/a", "application/x-ndjson", "{\"a\":1}\n{\"a\":\n");
  EXPECT_EQ(ack.status().reason(), "bad_ndjson");
  EXPECT_EQ(ack.status().line(), 2);
  EXPECT_EQ(Counter("publish_rejected_total", "bad_ndjson"), 1);
  EXPECT_EQ(hub_.Find("rooms/a"), nullptr);
  EXPECT_EQ(hub_.Find("other/x"), nullptr);
}

TEST_F(PublisherTest, ThePublishRateIsChargedAfterAccessAndCarriesARetryHint) {
  PeerLimitOptions po;
  po.exempt.clear();
  po.publish_per_connection = {1, 1};
  PeerLimiter limiter(po, &metrics_);
  ctx_.limiter = &limiter;
  auto ticket = *limiter.Admit("10.0.0.9");
  auto grant = Grant({"**"}, {"rooms/*"});
  // Refused by access: no token taken.
  EXPECT_EQ(Publish(*grant, "other/x", "", "{}", ticket.get()).status().reason(), "forbidden");
  EXPECT_TRUE(Publish(*grant, "rooms/a", "", "{}", ticket.get()).ok());
  auto ack = Publish(*grant, "rooms/a", "", "{}", ticket.get());
  EXPECT_EQ(ack.status().reason(), "rate_limited");
  EXPECT_EQ(HttpStatusFor(ack.status()), 429);
  ASSERT_TRUE(ack.status().retry_after_ms());
  EXPECT_GT(*ack.status().retry_after_ms(), 0);
  EXPECT_EQ(hub_.Find("rooms/a")->latest_seq(), 1u);
}

// ---------------------------------------------------------------------------
// Upgrade helpers
// ---------------------------------------------------------------------------

TEST(UpgradeTest, HeaderTokensMatchCaseInsensitivelyInAList) {
  EXPECT_TRUE(HeaderHasToken("Upgrade", "upgrade"));
  EXPECT_TRUE(HeaderHasToken("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(HeaderHasToken(" WebSocket ", "websocket"));
  EXPECT_FALSE(HeaderHasToken("upgraded", "upgrade"));
  EXPECT_FALSE(HeaderHasToken("", "upgrade"));
}

TEST(UpgradeTest, CommaListsDropEmptyParts) {
  EXPECT_EQ(SplitCommaList("a,,b/*,"), (std::vector<std::string>{"a", "b/*"}));
  EXPECT_TRUE(SplitCommaList("").empty());
}

TEST(StatusTest, OneTableMapsEveryCodeToItsHttpStatusAndRetryHint) {
  EXPECT_EQ(HttpStatusFor(Status::Unauthenticated("token_expired", "x")), 401);
  EXPECT_EQ(HttpStatusFor(Status::PermissionDenied("origin_not_allowed", "x")), 403);
  EXPECT_EQ(HttpStatusFor(Status::MethodNotAllowed("x")), 405);
  EXPECT_EQ(HttpStatusFor(Status::UrlTooLong("x")), 414);
  EXPECT_EQ(HttpStatusFor(Status::UpgradeRequired("x")), 426);
  EXPECT_EQ(HttpStatusFor(Status::HeadersTooLarge("x")), 431);
  EXPECT_EQ(RetryAfterMsFor(Status::ResourceExhausted("too_many_streams", "x")), 1000);
  EXPECT_EQ(RetryAfterMsFor(Status::Unavailable("x").WithRetryAfterMs(2500)), 2500);
  EXPECT_EQ(RetryAfterMsFor(Status::InvalidArgument("bad_request", "x")), std::nullopt);
}

}  // namespace
}  // namespace livehub
