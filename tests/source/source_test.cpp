// The source framework: stream templates, backoff, the ingest path (decode,
// caps, template, bounded queue with drop_oldest / throttle, rate cap),
// health states and stall detection, and the `sources:` config section.
#include "source/source.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "metrics/metrics.h"
#include "source/mock_generator.h"
#include "source/source_manager.h"
#include "source/template.h"
#include "stream/hub.h"

namespace livehub {
namespace {

// --- templates ---

std::string Render(std::string_view tmpl, TemplateVars vars, std::string_view record = "{}") {
  auto t = StreamTemplate::Parse(tmpl);
  EXPECT_TRUE(t.ok()) << t.status().message();
  auto r = t->Render("src1", vars, record);
  return r.ok() ? *r : "ERR:" + r.status().message();
}

TEST(StreamTemplateTest, TopicSegmentsAndId) {
  TemplateVars v;
  v.topic = "sensors/s12/air";
  EXPECT_EQ(Render("sensors/{2}/air", v), "sensors/s12/air");
  EXPECT_EQ(Render("{id}/{topic}", v), "src1/sensors/s12/air");
  EXPECT_EQ(Render("x/{3}", v), "x/air");
  EXPECT_TRUE(Render("x/{4}", v).starts_with("ERR:"));  // no 4th segment
}

TEST(StreamTemplateTest, FieldsAreSanitisedIntoOneSegment) {
  TemplateVars v;
  EXPECT_EQ(Render("st/{field:station}", v, R"({"station":"Main St/12"})"), "st/Main_St_12");
  EXPECT_EQ(Render("st/{field:a.b}", v, R"({"a":{"b":42}})"), "st/42");
  EXPECT_EQ(Render("st/{field:ok}", v, R"({"ok":true})"), "st/true");
  EXPECT_TRUE(Render("st/{field:x}", v, R"({"y":1})").starts_with("ERR:record has no field"));
  EXPECT_TRUE(Render("st/{field:x}", v, R"({"x":[1]})").starts_with("ERR:"));
  EXPECT_TRUE(Render("st/{field:x}", v, R"({"x":""})").starts_with("ERR:"));
}

TEST(StreamTemplateTest, EventAndKey) {
  TemplateVars v;
  v.event = "price update";
  v.key = "veh:7";
  EXPECT_EQ(Render("feed/{event}/{key}", v), "feed/price_update/veh_7");
  TemplateVars empty;
  EXPECT_TRUE(Render("feed/{event}", empty).starts_with("ERR:"));
}

TEST(StreamTemplateTest, ParseErrorsNameTheProblem) {
  auto bad = StreamTemplate::Parse("a/{nope}");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown placeholder {nope}"), std::string::npos);
  EXPECT_FALSE(StreamTemplate::Parse("a/{1").ok());
  EXPECT_FALSE(StreamTemplate::Parse("a}").ok());
  EXPECT_FALSE(StreamTemplate::Parse("").ok());
  EXPECT_FALSE(StreamTemplate::Parse("a//b").ok());  // constant and invalid
  EXPECT_TRUE(StreamTemplate::Parse("{id}").ok());
}

// --- backoff ---

TEST(BackoffTest, GrowsWithinJitterAndCapsThenResets) {
  BackoffOptions o;
  o.initial_ms = 1000;
  o.max_ms = 30'000;
  o.multiplier = 2;
  o.jitter = 0.2;
  Backoff b(o, 7);
  double expect = 1000;
  for (int i = 0; i < 12; ++i) {
    int64_t d = b.Next();
    double base = std::min(expect, 30'000.0);
    EXPECT_GE(d, static_cast<int64_t>(base * 0.8) - 1) << i;
    EXPECT_LE(d, std::min<int64_t>(30'000, static_cast<int64_t>(base * 1.2) + 1)) << i;
    expect *= 2;
  }
  b.Reset();
  EXPECT_LE(b.Next(), 1200);
}

// --- the ingest path ---

class TestSource : public Source {
 public:
  using Source::backoff_;
  using Source::CountDrop;
  using Source::Ingest;
  using Source::SetState;
  using Source::Source;
  using Source::throttled;
  int resumed = 0;

 protected:
  void DoStart() override { SetState(SourceState::kConnecting); }
  void DoStop() override {}
  void OnResume() override { ++resumed; }
};

class SourceTest : public ::testing::Test {
 protected:
  SourceTest() {
    HubOptions ho;
    hub_ = std::make_unique<Hub>(ho, SystemClock::Get(), &metrics_);
    ctx_.hub = hub_.get();
    ctx_.ioc = &ioc_;
    ctx_.metrics = &metrics_;
  }
  std::unique_ptr<TestSource> Make(SourceOptions o) {
    if (o.id.empty()) o.id = "t1";
    o.type = "test";
    auto s = std::make_unique<TestSource>(&ctx_, std::move(o));
    s->Start();
    return s;
  }
  void RunPending() {
    ioc_.restart();
    ioc_.poll();
  }
  uint64_t Latest(std::string_view stream) {
    Stream* s = hub_->Find(stream);
    return s ? s->latest_seq() : 0;
  }

  MetricsRegistry metrics_;
  std::unique_ptr<Hub> hub_;
  boost::asio::io_context ioc_;
  SourceContext ctx_;
};

TEST_F(SourceTest, DecodesMapsAndPublishesInOrder) {
  SourceOptions o;
  o.stream = "t/{1}";
  auto s = Make(o);
  TemplateVars v;
  v.topic = "a";
  EXPECT_TRUE(s->Ingest(R"([{"i":1},{"i":2}])", v));
  v.topic = "b";
  EXPECT_TRUE(s->Ingest(R"({"i":3})", v));
  RunPending();
  EXPECT_EQ(Latest("t/a"), 2u);
  EXPECT_EQ(Latest("t/b"), 1u);
  SourceSnapshot snap = s->Snapshot();
  EXPECT_EQ(snap.messages_in, 2u);
  EXPECT_EQ(snap.records_in, 3u);
  EXPECT_EQ(snap.events_published, 3u);
  EXPECT_EQ(snap.state, SourceState::kReceiving);
  s->Stop();
}

TEST_F(SourceTest, MalformedOversizeAndBadStreamAreCountedNotFatal) {
  SourceOptions o;
  o.stream = "t/{field:k}";
  o.max_message_bytes = 64;
  auto s = Make(o);
  TemplateVars v;
  s->Ingest("{not json", v);
  s->Ingest(std::string(100, ' '), v);
  s->Ingest(R"({"nok":1})", v);
  s->Ingest(R"({"k":"x"})", v);
  RunPending();
  SourceSnapshot snap = s->Snapshot();
  EXPECT_EQ(snap.dropped["bad_json"], 1u);
  EXPECT_EQ(snap.dropped["oversize"], 1u);
  EXPECT_EQ(snap.dropped["bad_stream"], 1u);
  EXPECT_EQ(snap.events_published, 1u);
  EXPECT_EQ(Latest("t/x"), 1u);
  s->Stop();
}

TEST_F(SourceTest, CsvWithDeclaredColumnsAndText) {
  SourceOptions o;
  o.stream = "csv";
  o.format = PayloadFormat::kCsv;
  o.csv_columns = {"a", "b"};
  auto s = Make(o);
  s->Ingest("1,x\n2,y\n", {});
  RunPending();
  std::vector<EventPtr> evs;
  bool more = false;
  uint64_t next = 0;
  ASSERT_TRUE(hub_->Find("csv")->Read(1, 10, &evs, &more, &next).ok());
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_NE(evs[0]->json().find(R"({"a":1,"b":"x"})"), std::string::npos);
  s->Stop();

  SourceOptions t;
  t.id = "t2";
  t.stream = "txt";
  t.format = PayloadFormat::kText;
  auto s2 = Make(t);
  s2->Ingest("hello \"world\"", {});
  s2->Ingest("\xff\xfe", {});
  RunPending();
  EXPECT_EQ(Latest("txt"), 1u);
  EXPECT_EQ(s2->Snapshot().dropped["bad_utf8"], 1u);
  s2->Stop();
}

TEST_F(SourceTest, DropOldestKeepsTheQueueWithinBudget) {
  SourceOptions o;
  o.stream = "q";
  o.queue_max_bytes = 4096;
  o.max_rate = 10;  // the hub takes 10 records/s from this source
  auto s = Make(o);
  std::string rec = R"({"pad":")" + std::string(100, 'x') + R"("})";
  for (int i = 0; i < 200; ++i) s->Ingest(rec, {});
  SourceSnapshot snap = s->Snapshot();
  EXPECT_LE(snap.queued_bytes, 4096u);
  EXPECT_GT(snap.dropped["queue_full"], 0u);
  RunPending();
  snap = s->Snapshot();
  // Every record is published, queued or counted as dropped.
  EXPECT_EQ(snap.events_published + snap.queued_records + snap.dropped["queue_full"], 200u);
  EXPECT_FALSE(s->throttled());
  s->Stop();
  // Stop publishes what was queued: nothing accepted is lost.
  snap = s->Snapshot();
  EXPECT_EQ(snap.queued_records, 0u);
  EXPECT_EQ(snap.events_published + snap.dropped["queue_full"], 200u);
}

TEST_F(SourceTest, ThrottleStopsReadingAndResumesAtHalf) {
  SourceOptions o;
  o.stream = "th";
  o.queue_max_bytes = 2048;
  o.policy = QueuePolicy::kThrottle;
  o.max_rate = 1000;
  auto s = Make(o);
  std::string rec = R"({"pad":")" + std::string(100, 'x') + R"("})";
  int accepted = 0;
  while (s->Ingest(rec, {})) ++accepted;
  ++accepted;  // the message that hit the limit is kept too
  EXPECT_TRUE(s->throttled());
  EXPECT_LT(accepted, 40);
  // Drain (bounded wall time): the rate cap lets it through within ~1 s.
  for (int i = 0; i < 300 && s->throttled(); ++i) {
    ioc_.restart();
    ioc_.run_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(s->throttled());
  EXPECT_EQ(s->resumed, 1);
  s->Stop();
  SourceSnapshot snap = s->Snapshot();
  EXPECT_TRUE(snap.dropped.empty());
  EXPECT_EQ(snap.events_published, static_cast<uint64_t>(accepted));
}

TEST_F(SourceTest, StallDetectionAndRecovery) {
  SourceOptions o;
  o.stream = "st";
  o.stall_floor_ms = 50;
  o.expected_interval_ms = 10;
  auto s = Make(o);
  s->SetState(SourceState::kSubscribed);
  const int64_t now = SystemClock::Get()->NowMs();
  s->Tick(now);
  EXPECT_EQ(s->Snapshot().state, SourceState::kSubscribed);
  // Connected but silent: stalled, never receiving.
  s->Tick(now + 1000);
  EXPECT_EQ(s->Snapshot().state, SourceState::kStalled);
  s->Ingest("{}", {});
  EXPECT_EQ(s->Snapshot().state, SourceState::kReceiving);
  s->Tick(SystemClock::Get()->NowMs() + 1000);
  EXPECT_EQ(s->Snapshot().state, SourceState::kStalled);
  RunPending();
  s->Stop();
  EXPECT_EQ(s->Snapshot().state, SourceState::kDisconnected);
}

TEST_F(SourceTest, BackoffStartsOverAfterAHealthyPeriod) {
  SourceOptions o;
  o.stream = "bo";
  o.backoff.reset_after_ms = 100;
  o.stall_floor_ms = 1'000'000;
  auto s = Make(o);
  s->backoff_.Next();
  s->backoff_.Next();
  s->SetState(SourceState::kSubscribed);
  s->Ingest("{}", {});
  const int64_t now = SystemClock::Get()->NowMs();
  s->Tick(now);
  EXPECT_EQ(s->backoff_.attempts(), 2);  // not healthy for long enough yet
  s->Tick(now + 200);
  EXPECT_EQ(s->backoff_.attempts(), 0);
  RunPending();
  s->Stop();
}

TEST_F(SourceTest, HealthChangesReachSysEvents) {
  SourceOptions o;
  o.stream = "h";
  auto s = Make(o);
  s->SetState(SourceState::kSubscribed);
  Stream* sys = hub_->Find("$sys/events");
  ASSERT_NE(sys, nullptr);
  std::vector<EventPtr> evs;
  bool more;
  uint64_t next;
  ASSERT_TRUE(sys->Read(1, 100, &evs, &more, &next).ok());
  bool seen = false;
  for (const auto& e : evs) {
    if (e->json().find(R"("state":"subscribed")") != std::string::npos) seen = true;
  }
  EXPECT_TRUE(seen);
  s->Stop();
}

// --- config ---

Result<SourcesConfig> ParseSources(const std::string& yaml) {
  ConfigWalker w("test.yaml");
  SourcesConfig c;
  YAML::Node root = YAML::Load(yaml);
  ParseSourcesSection(w, root["sources"], "sources", &c);
  if (root["network"]) ParseNetworkSection(w, root["network"], "network", &c);
  if (!w.status().ok()) return w.status();
  return c;
}

TEST(SourcesConfigTest, ParsesCommonKeysAndTheTypeSection) {
  setenv("LIVEHUB_TEST_SECRET", "s3cret", 1);
  auto c = ParseSources(R"(
sources:
  - id: m1
    type: mock
    format: json
    max_rate: 50
    queue: {max_bytes: 65536, policy: throttle}
    backoff: {initial_s: 0.5, max_s: 5}
    headers: {Authorization: "Bearer ${LIVEHUB_TEST_SECRET}"}
    mock: {streams: 3, interval_s: 0.2}
network:
  headers:
    - hosts: "*.example.com"
      headers: {X-Key: "${LIVEHUB_TEST_SECRET}"}
)");
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->sources.size(), 1u);
  const SourceOptions& o = c->sources[0];
  EXPECT_EQ(o.stream, "{id}/{key}");  // the mock's default
  EXPECT_EQ(o.policy, QueuePolicy::kThrottle);
  EXPECT_EQ(o.queue_max_bytes, 65536u);
  EXPECT_EQ(o.backoff.initial_ms, 500);
  EXPECT_EQ(o.expected_interval_ms, 200);
  EXPECT_EQ(o.headers[0].second, "Bearer s3cret");
  EXPECT_EQ(std::any_cast<MockOptions>(o.settings).streams, 3);
  ASSERT_EQ(c->header_rules.size(), 1u);
  EXPECT_EQ(c->header_rules[0].headers[0].second, "s3cret");
}

TEST(SourcesConfigTest, ErrorsNameTheKey) {
  auto expect_error = [](const std::string& yaml, const std::string& needle) {
    auto c = ParseSources(yaml);
    ASSERT_FALSE(c.ok()) << yaml;
    EXPECT_NE(c.status().message().find(needle), std::string::npos) << c.status().message();
  };
  expect_error("sources:\n  - {id: a, type: nope}\n", "unknown source type 'nope'");
  expect_error("sources:\n  - {type: mock}\n", "sources[0].id: is required");
  expect_error("sources:\n  - {id: 'a b', type: mock}\n", "sources[0].id");
  expect_error("sources:\n  - {id: a, type: mock}\n  - {id: a, type: mock}\n", "duplicate");
  expect_error("sources:\n  - {id: a, type: mock, bogus: 1}\n", "sources[0].bogus: unknown key");
  expect_error("sources:\n  - {id: a, type: mock, mock: {nope: 1}}\n", "sources[0].mock.nope");
  expect_error("sources:\n  - {id: a, type: mock, queue: {policy: wait}}\n", "queue.policy");
  expect_error("sources:\n  - {id: a, type: mock, stream: 'x/{zz}'}\n", "sources[0].stream");
  expect_error("sources:\n  - {id: a, type: mock, headers: {A: '${LIVEHUB_NOPE_UNSET}'}}\n",
               "environment variable LIVEHUB_NOPE_UNSET is not set");
}

// --- the mock generator ---

TEST(MockGeneratorTest, SkipAndDropMakeUpstreamHoles) {
  MockOptions o;
  o.streams = 1;
  o.batch_size = 1;
  MockGenerator g(o);
  auto m1 = g.Tick(1);
  ASSERT_EQ(m1.size(), 1u);
  EXPECT_NE(m1[0].second.find(R"("mock_seq":1)"), std::string::npos);
  g.Skip(5);
  auto m2 = g.Tick(2);
  EXPECT_NE(m2[0].second.find(R"("mock_seq":7)"), std::string::npos);
  g.options().drop_pct = 100;
  EXPECT_TRUE(g.Tick(3).empty());
  EXPECT_EQ(g.records_lost(), 1u);
}

TEST(MockGeneratorTest, ControlValidates) {
  MockOptions o;
  MockActions a;
  EXPECT_TRUE(ApplyMockControl(R"({"rate":20,"batch_size":5,"skip":3})", &o, &a).ok());
  EXPECT_EQ(o.interval_ms, 50);
  EXPECT_EQ(o.batch_size, 5);
  EXPECT_EQ(a.skip, 3u);
  MockOptions before = o;
  Status st = ApplyMockControl(R"({"batch_size":5,"drop_pct":101})", &o, &a);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("drop_pct"), std::string::npos);
  EXPECT_EQ(o.batch_size, before.batch_size);  // all or nothing
  EXPECT_FALSE(ApplyMockControl("[1]", &o, &a).ok());
  EXPECT_FALSE(ApplyMockControl(R"({"running":"yes"})", &o, &a).ok());
}

}  // namespace
}  // namespace livehub
