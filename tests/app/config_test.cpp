#include "app/config.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace livehub {
namespace {

Config Parse(const std::string& yaml) {
  auto c = ParseConfig(yaml, "cfg.yaml");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? c.value() : Config();
}

// Parses text that must be rejected; returns the error message.
std::string ParseError(const std::string& yaml) {
  auto c = ParseConfig(yaml, "cfg.yaml");
  EXPECT_FALSE(c.ok()) << "accepted:\n" << yaml;
  if (c.ok()) return "";
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().reason(), "bad_config");
  return c.status().message();
}

// Evaluates `haystack` once (it is often a ParseError call).
#define EXPECT_CONTAINS(haystack, needle)                      \
  do {                                                         \
    const std::string text_ = (haystack);                      \
    EXPECT_NE(text_.find(needle), std::string::npos) << text_; \
  } while (0)

// ---------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------

void ExpectDocumentedDefaults(const Config& c) {
  EXPECT_EQ(c.http.listen_host, "127.0.0.1");
  EXPECT_EQ(c.http.listen_port, 8080);
  EXPECT_EQ(c.http.threads, 0u);
  EXPECT_EQ(c.data_dir, "./livehub-data");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_TRUE(c.demo);
  EXPECT_EQ(c.demo_interval_ms, 100);

  EXPECT_EQ(c.http.max_body_bytes, 8388608u);
  EXPECT_EQ(c.http.max_header_bytes, 16384u);
  EXPECT_EQ(c.http.decode.max_event_bytes, 1048576u);
  EXPECT_EQ(c.http.decode.max_batch_events, 100000u);
  EXPECT_EQ(c.fanout.max_ws_message_bytes, 1048576u);
  EXPECT_EQ(c.hub.max_streams, 100000u);
  EXPECT_EQ(c.fanout.max_connections, 20000u);
  EXPECT_EQ(c.http.max_http_connections, 10000u);
  EXPECT_EQ(c.fanout.max_subscriptions, 1000u);

  EXPECT_EQ(c.hub.history.max_events, 10000u);
  EXPECT_EQ(c.hub.history.max_bytes, 16777216u);
  EXPECT_EQ(c.hub.history.max_age_ms, 3'600'000);
  EXPECT_EQ(c.hub.warn_after_ms, 10'000);
  EXPECT_EQ(c.hub.stale_after_ms, 60'000);

  EXPECT_EQ(c.fanout.queue_bytes, 4194304u);
  EXPECT_EQ(c.fanout.slow_client, SlowClientPolicy::kDropOldest);
  EXPECT_EQ(c.fanout.ws_ping_interval_ms, 20'000);
  EXPECT_EQ(c.fanout.ws_pong_timeout_ms, 20'000);
  EXPECT_EQ(c.fanout.write_timeout_ms, 30'000);
  EXPECT_EQ(c.fanout.sse_keepalive_ms, 15'000);
  EXPECT_EQ(c.fanout.write_delay_ns, 20'000'000);
  EXPECT_EQ(c.fanout.socket_send_buffer, 65536u);
  EXPECT_EQ(c.http.request_timeout_ms, 30'000);

  EXPECT_TRUE(c.hub.rules.empty());
  EXPECT_TRUE(c.fanout.rules.empty());
}

TEST(ParseConfigTest, EmptyTextGivesTheDocumentedDefaults) { ExpectDocumentedDefaults(Parse("")); }

TEST(ParseConfigTest, CommentsOnlyAndNullSectionsGiveTheDefaults) {
  ExpectDocumentedDefaults(Parse("# nothing here\n"));
  ExpectDocumentedDefaults(Parse("limits:\nhistory:\nsubscribers:\n"));
}

// ---------------------------------------------------------------------------
// Every section
// ---------------------------------------------------------------------------

TEST(ParseConfigTest, ReadsTopLevelScalars) {
  Config c = Parse(
      "listen: 0.0.0.0:9000\n"
      "threads: 4\n"
      "data_dir: /var/lib/livehub\n"
      "log_level: debug\n");
  EXPECT_EQ(c.http.listen_host, "0.0.0.0");
  EXPECT_EQ(c.http.listen_port, 9000);
  EXPECT_EQ(c.http.threads, 4u);
  EXPECT_EQ(c.data_dir, "/var/lib/livehub");
  EXPECT_EQ(c.log_level, "debug");
}

TEST(ParseConfigTest, ReadsListenWithPortZero) {
  Config c = Parse("listen: 127.0.0.1:0\n");
  EXPECT_EQ(c.http.listen_host, "127.0.0.1");
  EXPECT_EQ(c.http.listen_port, 0);
}

TEST(ParseConfigTest, ReadsDemo) {
  Config c = Parse("demo:\n  enabled: false\n  interval_s: 0.25\n");
  EXPECT_FALSE(c.demo);
  EXPECT_EQ(c.demo_interval_ms, 250);
}

TEST(ParseConfigTest, ReadsLimits) {
  Config c = Parse(
      "limits:\n"
      "  max_body_bytes: 1000\n"
      "  max_header_bytes: 2048\n"
      "  max_event_bytes: 500\n"
      "  max_batch_events: 10\n"
      "  max_ws_message_bytes: 4096\n"
      "  max_streams: 3\n"
      "  max_connections: 5\n"
      "  max_http_connections: 6\n"
      "  max_subscriptions_per_connection: 7\n");
  EXPECT_EQ(c.http.max_body_bytes, 1000u);
  EXPECT_EQ(c.http.max_header_bytes, 2048u);
  EXPECT_EQ(c.http.decode.max_event_bytes, 500u);
  EXPECT_EQ(c.http.decode.max_batch_events, 10u);
  EXPECT_EQ(c.fanout.max_ws_message_bytes, 4096u);
  EXPECT_EQ(c.hub.max_streams, 3u);
  EXPECT_EQ(c.fanout.max_connections, 5u);
  EXPECT_EQ(c.http.max_http_connections, 6u);
  EXPECT_EQ(c.fanout.max_subscriptions, 7u);
}

TEST(ParseConfigTest, ReadsHistory) {
  Config c = Parse("history:\n  max_events: 50\n  max_bytes: 65536\n  max_age_s: 1.5\n");
  EXPECT_EQ(c.hub.history.max_events, 50u);
  EXPECT_EQ(c.hub.history.max_bytes, 65536u);
  EXPECT_EQ(c.hub.history.max_age_ms, 1500);
}

TEST(ParseConfigTest, ReadsFreshness) {
  Config c = Parse("freshness:\n  warn_after_s: 2\n  stale_after_s: 5\n");
  EXPECT_EQ(c.hub.warn_after_ms, 2000);
  EXPECT_EQ(c.hub.stale_after_ms, 5000);
}

TEST(ParseConfigTest, ReadsSubscribers) {
  Config c = Parse(
      "subscribers:\n"
      "  queue_bytes: 8192\n"
      "  slow_client: disconnect\n"
      "  ws_ping_interval_s: 1\n"
      "  ws_pong_timeout_s: 2\n"
      "  write_timeout_s: 3\n"
      "  sse_keepalive_s: 4\n"
      "  write_delay_ms: 2.5\n"
      "  socket_send_buffer: 131072\n"
      "  request_timeout_s: 0.5\n");
  EXPECT_EQ(c.fanout.queue_bytes, 8192u);
  EXPECT_EQ(c.fanout.slow_client, SlowClientPolicy::kDisconnect);
  EXPECT_EQ(c.fanout.ws_ping_interval_ms, 1000);
  EXPECT_EQ(c.fanout.ws_pong_timeout_ms, 2000);
  EXPECT_EQ(c.fanout.write_timeout_ms, 3000);
  EXPECT_EQ(c.fanout.sse_keepalive_ms, 4000);
  EXPECT_EQ(c.fanout.write_delay_ns, 2'500'000);
  EXPECT_EQ(c.fanout.socket_send_buffer, 131072u);
  EXPECT_EQ(c.http.request_timeout_ms, 500);
}

TEST(ParseConfigTest, SocketSendBufferIsZeroOrBetween4KiBAnd64MiB) {
  EXPECT_EQ(Parse("subscribers:\n  socket_send_buffer: 0\n").fanout.socket_send_buffer, 0u);
  EXPECT_CONTAINS(ParseError("subscribers:\n  socket_send_buffer: 100\n"),
                  "subscribers.socket_send_buffer: must be 0 (kernel autotuning) or 4096..");
  EXPECT_CONTAINS(ParseError("subscribers:\n  socket_send_buffer: 134217728\n"),
                  "subscribers.socket_send_buffer: must be 0");
  EXPECT_CONTAINS(ParseError("subscribers:\n  socket_send_buffer: -1\n"),
                  "subscribers.socket_send_buffer:");
}

TEST(ParseConfigTest, RefusesAWriteDelayOutsideZeroToOneSecond) {
  EXPECT_CONTAINS(ParseError("subscribers:\n  write_delay_ms: 1500\n"),
                  "subscribers.write_delay_ms: must be at most 1000");
  EXPECT_CONTAINS(ParseError("subscribers:\n  write_delay_ms: -1\n"),
                  "subscribers.write_delay_ms: must be at least 0");
  EXPECT_CONTAINS(ParseError("subscribers:\n  write_delay_ms: soon\n"),
                  "subscribers.write_delay_ms: cannot read 'soon'");
  EXPECT_CONTAINS(ParseError("subscribers:\n  write_delay_ms: .nan\n"),
                  "subscribers.write_delay_ms: must be at most 1000");
  EXPECT_EQ(Parse("subscribers:\n  write_delay_ms: 0\n").fanout.write_delay_ns, 0);
}

TEST(ParseConfigTest, ReadsStreamRulesInOrder) {
  Config c = Parse(
      "history:\n"
      "  max_bytes: 1000000\n"
      "streams:\n"
      "  - pattern: \"market/**\"\n"
      "    history: {max_events: 100000, max_age_s: 86400}\n"
      "    slow_client: disconnect\n"
      "  - pattern: \"debug/*\"\n"
      "    history: {max_events: 100}\n"
      "  - pattern: \"noisy/**\"\n"
      "    slow_client: drop_oldest\n");

  ASSERT_EQ(c.hub.rules.size(), 2u);
  EXPECT_EQ(c.hub.rules[0].pattern.text(), "market/**");
  EXPECT_TRUE(c.hub.rules[0].pattern.Matches("market/a/b"));
  EXPECT_EQ(c.hub.rules[0].history->max_events, 100000u);
  EXPECT_EQ(c.hub.rules[0].history->max_age_ms, 86'400'000);
  EXPECT_EQ(c.hub.rules[0].history->max_bytes, 1000000u);  // from top-level history
  EXPECT_EQ(c.hub.rules[1].pattern.text(), "debug/*");
  EXPECT_EQ(c.hub.rules[1].history->max_events, 100u);
  EXPECT_EQ(c.hub.rules[1].history->max_age_ms, 3'600'000);  // default

  ASSERT_EQ(c.fanout.rules.size(), 2u);
  EXPECT_EQ(c.fanout.rules[0].pattern.text(), "market/**");
  EXPECT_EQ(c.fanout.rules[0].policy, SlowClientPolicy::kDisconnect);
  EXPECT_EQ(c.fanout.rules[1].pattern.text(), "noisy/**");
  EXPECT_EQ(c.fanout.rules[1].policy, SlowClientPolicy::kDropOldest);
}

TEST(ParseConfigTest, EmptyStreamsListIsAllowed) {
  Config c = Parse("streams: []\n");
  EXPECT_TRUE(c.hub.rules.empty());
  EXPECT_TRUE(c.fanout.rules.empty());
}

// ---------------------------------------------------------------------------
// Unknown keys and wrong types name the key path
// ---------------------------------------------------------------------------

TEST(ParseConfigTest, UnknownTopLevelKeyIsAnErrorNamingIt) {
  std::string msg = ParseError("listn: 127.0.0.1:1\n");
  EXPECT_CONTAINS(msg, "cfg.yaml: listn: unknown key");
  EXPECT_CONTAINS(msg, "listen");  // lists the known keys
}

TEST(ParseConfigTest, UnknownNestedKeyIsAnErrorNamingItsPath) {
  std::string msg = ParseError("limits:\n  max_bodybytes: 10\n");
  EXPECT_CONTAINS(msg, "cfg.yaml: limits.max_bodybytes: unknown key");
  EXPECT_CONTAINS(msg, "max_body_bytes");

  EXPECT_CONTAINS(ParseError("history:\n  max_event: 1\n"), "history.max_event");
  EXPECT_CONTAINS(ParseError("demo:\n  enable: true\n"), "demo.enable");
  EXPECT_CONTAINS(ParseError("freshness:\n  warn_s: 1\n"), "freshness.warn_s");
  EXPECT_CONTAINS(ParseError("subscribers:\n  slow: disconnect\n"), "subscribers.slow");
}

TEST(ParseConfigTest, UnknownKeyInAStreamRuleNamesTheEntry) {
  EXPECT_CONTAINS(ParseError("streams:\n  - pattern: a\n    histroy: {max_events: 1}\n"),
                  "streams[0].histroy");
  EXPECT_CONTAINS(ParseError("streams:\n  - pattern: a\n  - pattern: b\n"
                             "    history: {max_event: 1}\n"),
                  "streams[1].history.max_event");
}

TEST(ParseConfigTest, WrongScalarTypeIsAnErrorNamingTheKey) {
  std::string msg = ParseError("limits:\n  max_streams: lots\n");
  EXPECT_CONTAINS(msg, "limits.max_streams");
  EXPECT_CONTAINS(msg, "lots");

  EXPECT_CONTAINS(ParseError("threads: 1.5\n"), "threads");
  EXPECT_CONTAINS(ParseError("demo:\n  enabled: maybe\n"), "demo.enabled");
  EXPECT_CONTAINS(ParseError("history:\n  max_age_s: soon\n"), "history.max_age_s");
  EXPECT_CONTAINS(ParseError("subscribers:\n  write_timeout_s: [1]\n"),
                  "subscribers.write_timeout_s");
}

TEST(ParseConfigTest, NegativeSizesAreRejected) {
  EXPECT_CONTAINS(ParseError("history:\n  max_events: -1\n"), "history.max_events");
  EXPECT_CONTAINS(ParseError("threads: -2\n"), "threads");
}

TEST(ParseConfigTest, NegativeDurationsAreRejected) {
  std::string msg = ParseError("freshness:\n  warn_after_s: -1\n");
  EXPECT_CONTAINS(msg, "freshness.warn_after_s");
  EXPECT_CONTAINS(msg, "negative");
}

// docs/configuration.md: "a value out of range is an error that names the key
// path". A duration that does not fit in int64 milliseconds must not wrap
// into a negative limit (a negative max_age evicts every event at once).
TEST(ParseConfigTest, DurationsTooLargeToHoldInMillisecondsAreRejected) {
  EXPECT_CONTAINS(ParseError("history:\n  max_age_s: 1e300\n"), "history.max_age_s");
  EXPECT_CONTAINS(ParseError("history:\n  max_age_s: .inf\n"), "history.max_age_s");
  EXPECT_CONTAINS(ParseError("subscribers:\n  write_timeout_s: 1e17\n"),
                  "subscribers.write_timeout_s");
}

TEST(ParseConfigTest, NotANumberDurationIsRejected) {
  EXPECT_CONTAINS(ParseError("history:\n  max_age_s: .nan\n"), "history.max_age_s");
}

TEST(ParseConfigTest, ValuesBelowTheirMinimumAreRejected) {
  std::string msg = ParseError("limits:\n  max_body_bytes: 0\n");
  EXPECT_CONTAINS(msg, "limits.max_body_bytes");
  EXPECT_CONTAINS(msg, "at least 1");
  EXPECT_CONTAINS(ParseError("subscribers:\n  queue_bytes: 100\n"), "subscribers.queue_bytes");
  EXPECT_CONTAINS(ParseError("limits:\n  max_header_bytes: 10\n"), "limits.max_header_bytes");
}

TEST(ParseConfigTest, SectionThatIsNotAMappingIsAnError) {
  EXPECT_CONTAINS(ParseError("limits: 5\n"), "limits");
  EXPECT_CONTAINS(ParseError("history: [1, 2]\n"), "history");
  EXPECT_CONTAINS(ParseError("streams: {pattern: a}\n"), "streams");
  EXPECT_CONTAINS(ParseError("streams:\n  - just-a-string\n"), "streams[0]");
}

TEST(ParseConfigTest, ScalarKeyGivenAMappingIsAnError) {
  EXPECT_CONTAINS(ParseError("listen: {host: a}\n"), "listen");
  EXPECT_CONTAINS(ParseError("data_dir: [a, b]\n"), "data_dir");
}

TEST(ParseConfigTest, DocumentThatIsNotAMappingIsAnError) {
  ParseError("just a string\n");
  ParseError("- a\n- b\n");
}

TEST(ParseConfigTest, YamlSyntaxErrorNamesTheLine) {
  std::string msg = ParseError("limits:\n  max_streams: 1\n  bad: [unclosed\n");
  EXPECT_CONTAINS(msg, "cfg.yaml: line ");
}

// ---------------------------------------------------------------------------
// Values checked after parsing
// ---------------------------------------------------------------------------

TEST(ParseConfigTest, InvalidSlowClientPolicyIsRejected) {
  std::string msg = ParseError("subscribers:\n  slow_client: block\n");
  EXPECT_CONTAINS(msg, "subscribers.slow_client");
  EXPECT_CONTAINS(msg, "block");
  EXPECT_CONTAINS(msg, "drop_oldest");

  EXPECT_CONTAINS(ParseError("streams:\n  - pattern: a/*\n    slow_client: kick\n"),
                  "streams[0].slow_client");
}

TEST(ParseConfigTest, InvalidStreamRulePatternIsRejected) {
  EXPECT_CONTAINS(ParseError("streams:\n  - pattern: \"a//b\"\n    history: {max_events: 1}\n"),
                  "streams[0].pattern");
  EXPECT_CONTAINS(ParseError("streams:\n  - history: {max_events: 1}\n"), "streams[0].pattern");
}

TEST(ParseConfigTest, BadListenAddressIsRejected) {
  for (const char* listen : {"8080", ":8080", "host:", "host:65536", "host:-1", "host:80x"}) {
    std::string msg = ParseError(std::string("listen: \"") + listen + "\"\n");
    EXPECT_CONTAINS(msg, "listen");
    EXPECT_CONTAINS(msg, listen);
  }
}

TEST(ParseConfigTest, UnknownLogLevelIsRejected) {
  EXPECT_CONTAINS(ParseError("log_level: verbose\n"), "log_level");
  for (const char* level : {"debug", "info", "warn", "error"}) {
    EXPECT_EQ(Parse(std::string("log_level: ") + level + "\n").log_level, level);
  }
}

TEST(ParseConfigTest, StaleBeforeWarnIsRejected) {
  std::string msg = ParseError("freshness:\n  warn_after_s: 30\n  stale_after_s: 10\n");
  EXPECT_CONTAINS(msg, "stale_after_s");
  EXPECT_CONTAINS(msg, "warn_after_s");

  // Only warn raised above the default stale (60 s).
  ParseError("freshness:\n  warn_after_s: 61\n");
  // Equal is fine.
  Config c = Parse("freshness:\n  warn_after_s: 20\n  stale_after_s: 20\n");
  EXPECT_EQ(c.hub.stale_after_ms, 20'000);
}

TEST(LoadConfigFileTest, MissingFileIsAnErrorNamingThePath) {
  auto c = LoadConfigFile("/nonexistent/livehub-test.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().reason(), "bad_config");
  EXPECT_CONTAINS(c.status().message(), "/nonexistent/livehub-test.yaml");
}

// ---------------------------------------------------------------------------
// SetListen
// ---------------------------------------------------------------------------

TEST(SetListenTest, AcceptsLoopbackWithPortZero) {
  Config c;
  ASSERT_TRUE(SetListen(&c, "127.0.0.1:0").ok());
  EXPECT_EQ(c.http.listen_host, "127.0.0.1");
  EXPECT_EQ(c.http.listen_port, 0);
}

TEST(SetListenTest, AcceptsTheHighestPort) {
  Config c;
  ASSERT_TRUE(SetListen(&c, "0.0.0.0:65535").ok());
  EXPECT_EQ(c.http.listen_host, "0.0.0.0");
  EXPECT_EQ(c.http.listen_port, 65535);
}

TEST(SetListenTest, MapsLocalhostToTheLoopbackAddress) {
  Config c;
  ASSERT_TRUE(SetListen(&c, "localhost:8081").ok());
  EXPECT_EQ(c.http.listen_host, "127.0.0.1");
  EXPECT_EQ(c.http.listen_port, 8081);
}

TEST(SetListenTest, StripsBracketsFromIpv6) {
  Config c;
  ASSERT_TRUE(SetListen(&c, "[::1]:9000").ok());
  EXPECT_EQ(c.http.listen_host, "::1");
  EXPECT_EQ(c.http.listen_port, 9000);
}

TEST(SetListenTest, RejectsMalformedAddressesAndLeavesTheConfigAlone) {
  for (const char* bad : {"", "8080", ":8080", "host:", "host:abc", "host:80x", "host:-1",
                          "host:65536", "host:99999999999"}) {
    Config c;
    Status st = SetListen(&c, bad);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.reason(), "bad_config") << bad;
    EXPECT_EQ(c.http.listen_host, "127.0.0.1") << bad;
    EXPECT_EQ(c.http.listen_port, 8080) << bad;
  }
}

}  // namespace
}  // namespace livehub

namespace livehub {
namespace {

TEST(ParseLimitsConfigTest, ReadsEveryLimitKey) {
  auto c = ParseConfig(R"(
limits:
  max_url_bytes: 4096
  max_json_depth: 16
  max_connections_per_ip: 5
  max_pattern_segments: 8
  max_pattern_wildcards: 2
  publish_rate_per_connection: {rate: 10, burst: 20}
  publish_rate_per_ip: {rate: 100}
  exempt_ips: ["10.1.2.3", "::1"]
  header_timeout_s: 2.5
  idle_timeout_s: 30
tls: {cert_file: a.crt, key_file: a.key}
)",
                       "cfg.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->http.max_url_bytes, 4096u);
  EXPECT_EQ(c->fanout.max_json_depth, 16u);
  EXPECT_EQ(c->http.decode.max_depth, 16u);
  EXPECT_EQ(c->peers.max_connections_per_ip, 5u);
  EXPECT_EQ(c->fanout.max_pattern_segments, 8u);
  EXPECT_EQ(c->fanout.max_pattern_wildcards, 2u);
  EXPECT_EQ(c->peers.publish_per_connection.rate, 10);
  EXPECT_EQ(c->peers.publish_per_connection.burst, 20);
  EXPECT_EQ(c->peers.publish_per_ip.burst, 100);  // burst defaults to rate
  EXPECT_EQ(c->peers.exempt, (std::vector<std::string>{"10.1.2.3", "::1"}));
  EXPECT_EQ(c->http.header_timeout_ms, 2500);
  EXPECT_EQ(c->http.idle_timeout_ms, 30000);
  EXPECT_EQ(c->http.tls.cert_file, "a.crt");
  EXPECT_EQ(c->http.tls.key_file, "a.key");
}

TEST(ParseLimitsConfigTest, RefusesBadLimitValuesNamingTheKey) {
  auto bad = [](const std::string& yaml) {
    auto c = ParseConfig(yaml, "cfg.yaml");
    EXPECT_FALSE(c.ok()) << yaml;
    return c.ok() ? std::string() : c.status().message();
  };
  EXPECT_NE(bad("limits: {exempt_ips: [nope]}").find("limits.exempt_ips[0]"), std::string::npos);
  EXPECT_NE(bad("limits: {header_timeout_s: 0}").find("limits.header_timeout_s"),
            std::string::npos);
  EXPECT_NE(bad("limits: {publish_rate_per_ip: {rate: 1, bucket: 2}}")
                .find("limits.publish_rate_per_ip.bucket"),
            std::string::npos);
  EXPECT_NE(bad("tls: {cert_file: a.crt}").find("needs both cert_file and key_file"),
            std::string::npos);
  EXPECT_NE(bad("tls: {cert: a.crt}").find("tls.cert"), std::string::npos);
}

}  // namespace
}  // namespace livehub
