#include "stream/keyed_state.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "codec/json_value.h"
#include "core/clock.h"
#include "stream/hub.h"
#include "stream/stream.h"

namespace livehub {
namespace {

class NoticeSubscriber final : public Subscriber {
 public:
  void OnEvent(const EventPtr& ev) override { events.push_back(ev); }
  void OnGap(Stream*, uint64_t, uint64_t, std::string_view) override {}
  void OnNotice(const char* type, const std::string& json) override {
    notices.push_back(std::string(type) + " " + json);
  }
  std::vector<EventPtr> events;
  std::vector<std::string> notices;
};

std::string Full(uint64_t gen, const std::string& state) {
  return R"({"type":"full","generation":)" + std::to_string(gen) + R"(,"state":)" + state + "}";
}
std::string Diff(uint64_t gen, const std::string& patch) {
  return R"({"type":"diff","generation":)" + std::to_string(gen) + R"(,"patch":)" + patch + "}";
}

class KeyedStreamTest : public ::testing::Test {
 protected:
  std::unique_ptr<Stream> Make(KeyedMode mode, size_t max_bytes = 1 << 20) {
    auto s = std::make_unique<Stream>("k/a", "ep1", HistoryLimits{}, &clock_);
    s->SetKeyed(KeyedOptions{mode, max_bytes});
    return s;
  }
  static std::string Snapshot(Stream* s) {
    std::string snap;
    auto sub = std::make_shared<NoticeSubscriber>();
    auto a = s->Attach(sub, 0, &snap);
    s->Detach(a);
    return snap;
  }
  FakeClock clock_;
};

TEST(KeyedEnvelopeTest, ParsesFullAndDiffAndNamesWhatIsWrong) {
  auto f = KeyedState::ParseEnvelope(Full(3, R"({"a":1})"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->kind, KeyedState::Kind::kFull);
  EXPECT_EQ(f->generation, 3u);
  auto d = KeyedState::ParseEnvelope(Diff(3, R"({"a":null})"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, KeyedState::Kind::kDiff);
  auto no_gen = KeyedState::ParseEnvelope(R"({"type":"diff","patch":{}})");
  ASSERT_FALSE(no_gen.ok());
  EXPECT_EQ(no_gen.status().reason(), "keyed_bad_event");
  EXPECT_NE(no_gen.status().message().find("generation"), std::string::npos);
  auto extra = KeyedState::ParseEnvelope(R"({"type":"full","state":{},"x":1})");
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.status().message().find("\"x\""), std::string::npos);
  EXPECT_FALSE(KeyedState::ParseEnvelope(R"({"temp":1})").ok());
  EXPECT_TRUE(KeyedState::LooksLikeFull(R"({"type":"full","state":{"a":1}})"));
  EXPECT_FALSE(KeyedState::LooksLikeFull(R"({"type":"diff","generation":1,"patch":{}})"));
}

TEST_F(KeyedStreamTest, FullSetsBaselineAndDiffsMerge) {
  auto s = Make(KeyedMode::kOn);
  ASSERT_TRUE(s->Append({Full(1, R"({"a":1,"b":{"x":1}})")}, nullptr)->ok());
  ASSERT_TRUE(s->Append({Diff(1, R"({"a":null,"b":{"y":2},"c":[1]})")}, nullptr)->ok());
  EXPECT_EQ(Snapshot(s.get()),
            R"({"type":"snapshot","stream":"k/a","epoch":"ep1","seq":2,"generation":1,)"
            R"("state":{"b":{"x":1,"y":2},"c":[1]}})");
  StreamStats st = s->GetStats();
  EXPECT_TRUE(st.keyed.keyed);
  EXPECT_EQ(st.keyed.generation, 1u);
  EXPECT_EQ(st.keyed.fulls, 1u);
  EXPECT_EQ(st.keyed.diffs, 1u);
  EXPECT_FALSE(st.keyed.need_full);
}

TEST_F(KeyedStreamTest, DiffForAnotherGenerationIsDroppedAndMarksNeedFull) {
  auto s = Make(KeyedMode::kOn);
  auto sub = std::make_shared<NoticeSubscriber>();
  auto a = s->Attach(sub, 0);
  ASSERT_TRUE(s->CatchUp(a.get(), 1 << 20));
  ASSERT_TRUE(s->Append({Full(7, R"({"a":1})")}, nullptr)->ok());
  // A batch with one good and one stale diff: the stale one is dropped.
  auto r = s->Append({Diff(7, R"({"a":2})"), Diff(6, R"({"a":3})")}, nullptr);
  ASSERT_TRUE(r && r->ok());
  EXPECT_EQ((*r)->dropped, 1u);
  EXPECT_EQ((*r)->first_seq, 2u);
  EXPECT_EQ((*r)->last_seq, 2u);
  StreamStats st = s->GetStats();
  EXPECT_TRUE(st.keyed.need_full);
  EXPECT_EQ(st.keyed.need_full_reason, "generation");
  EXPECT_EQ(st.keyed.diffs_dropped, 1u);
  ASSERT_EQ(sub->notices.size(), 1u);
  EXPECT_NE(sub->notices[0].find(R"("type":"need_full")"), std::string::npos);
  EXPECT_NE(sub->notices[0].find(R"("rejected_generation":6)"), std::string::npos);
  // Only stale diffs: refused as a whole, nothing appended.
  auto all = s->Append({Diff(5, "{}")}, nullptr);
  ASSERT_TRUE(all && !all->ok());
  EXPECT_EQ(all->status().reason(), "generation_mismatch");
  EXPECT_EQ(s->latest_seq(), 2u);
  // A full clears need_full and starts the new generation.
  ASSERT_TRUE(s->Append({Full(8, R"({"z":0})")}, nullptr)->ok());
  EXPECT_FALSE(s->GetStats().keyed.need_full);
  EXPECT_NE(Snapshot(s.get()).find(R"("generation":8,"state":{"z":0})"), std::string::npos);
}

TEST_F(KeyedStreamTest, DiffBeforeAnyFullNeedsAFull) {
  auto s = Make(KeyedMode::kOn);
  auto r = s->Append({Diff(1, R"({"a":1})")}, nullptr);
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->status().reason(), "generation_mismatch");
  EXPECT_EQ(s->GetStats().keyed.need_full_reason, "no_full");
  EXPECT_EQ(Snapshot(s.get()), "");  // no state: no snapshot
}

TEST_F(KeyedStreamTest, MalformedEventRefusesTheWholeBatch) {
  auto s = Make(KeyedMode::kOn);
  auto r = s->Append({Full(1, "{}"), R"({"temp":3})"}, nullptr);
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->status().reason(), "keyed_bad_event");
  EXPECT_EQ(r->status().detail().value_or(99), 1u);  // index of the bad event
  EXPECT_EQ(s->latest_seq(), 0u);
}

TEST_F(KeyedStreamTest, FullWithoutGenerationGetsTheNextOne) {
  auto s = Make(KeyedMode::kOn);
  ASSERT_TRUE(s->Append({Full(4, "{}")}, nullptr)->ok());
  ASSERT_TRUE(s->Append({R"({"type":"full","state":{"q":1}})"}, nullptr)->ok());
  std::vector<EventPtr> out;
  bool more;
  uint64_t next;
  ASSERT_TRUE(s->Read(2, 10, &out, &more, &next).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->data(), R"({"generation":5,"type":"full","state":{"q":1}})");
  EXPECT_TRUE(s->Append({Diff(5, R"({"q":2})")}, nullptr)->ok());
}

TEST_F(KeyedStreamTest, InferredFromTheFirstEventOnly) {
  auto keyed = Make(KeyedMode::kInfer);
  ASSERT_TRUE(keyed->Append({Full(1, R"({"a":1})")}, nullptr)->ok());
  EXPECT_TRUE(keyed->keyed());
  auto plain = Make(KeyedMode::kInfer);
  ASSERT_TRUE(plain->Append({R"({"temp":1})"}, nullptr)->ok());
  ASSERT_TRUE(plain->Append({Full(1, R"({"a":1})")}, nullptr)->ok());
  EXPECT_FALSE(plain->keyed());
  auto off = Make(KeyedMode::kOff);
  ASSERT_TRUE(off->Append({Full(1, R"({"a":1})")}, nullptr)->ok());
  EXPECT_FALSE(off->keyed());
}

TEST_F(KeyedStreamTest, StateBoundRefusesLargeFullsAndClearsOnGrowth) {
  auto s = Make(KeyedMode::kOn, 64);
  auto big = s->Append({Full(1, R"({"a":")" + std::string(100, 'x') + "\"}")}, nullptr);
  ASSERT_FALSE(big->ok());
  EXPECT_EQ(big->status().reason(), "state_too_large");
  ASSERT_TRUE(s->Append({Full(1, R"({"a":1})")}, nullptr)->ok());
  ASSERT_TRUE(s->Append({Diff(1, R"({"b":")" + std::string(80, 'y') + "\"}")}, nullptr)->ok());
  StreamStats st = s->GetStats();
  EXPECT_TRUE(st.keyed.need_full);
  EXPECT_EQ(st.keyed.need_full_reason, "state_too_large");
  EXPECT_EQ(st.keyed.state_bytes, 0u);
  EXPECT_EQ(Snapshot(s.get()), "");
  // Further diffs of the cleared generation are dropped until a full.
  EXPECT_FALSE(s->Append({Diff(1, R"({"c":1})")}, nullptr)->ok());
  ASSERT_TRUE(s->Append({Full(2, R"({"a":2})")}, nullptr)->ok());
  EXPECT_FALSE(s->GetStats().keyed.need_full);
}

TEST_F(KeyedStreamTest, StateBytesTrackTheSerialisedSize) {
  auto s = Make(KeyedMode::kOn);
  ASSERT_TRUE(s->Append({Full(1, R"({"a":1,"b":{"c":"dd"}})")}, nullptr)->ok());
  ASSERT_TRUE(s->Append({Diff(1, R"({"a":null,"b":{"e":[1,2]},"f":true})")}, nullptr)->ok());
  std::string snap = Snapshot(s.get());
  auto parsed = JsonValue::Parse(snap);
  ASSERT_TRUE(parsed.ok());
  const size_t exact = parsed->Find("state")->ToString().size();
  // Tracked incrementally; within a separator per container of exact.
  const size_t tracked = s->GetStats().keyed.state_bytes;
  EXPECT_GE(tracked, exact);
  EXPECT_LE(tracked, exact + 4);
}

// Property: for random fulls and diffs, a snapshot taken at any point plus
// the events after its seq always rebuilds the live state.
TEST_F(KeyedStreamTest, SnapshotPlusLaterDiffsEqualsLiveState) {
  std::mt19937 rng(20261123);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  auto value = [&](auto&& self, int depth) -> std::string {
    switch (pick(depth > 1 ? 4 : 5)) {
      case 0:
        return std::to_string(pick(50));
      case 1:
        return "null";
      case 2:
        return "[" + std::to_string(pick(9)) + "]";
      case 3:
        return "\"s" + std::to_string(pick(5)) + "\"";
      default: {
        std::string o = "{";
        for (int i = pick(3); i > 0; --i) {
          if (o.size() > 1) o += ",";
          o += "\"" + std::string(1, static_cast<char>('p' + pick(4))) +
               "\":" + self(self, depth + 1);
        }
        return o + "}";
      }
    }
  };
  auto object = [&](int depth) {
    std::string o = "{";
    for (int i = pick(5); i > 0; --i) {
      if (o.size() > 1) o += ",";
      o += "\"k" + std::to_string(pick(6)) + "\":" + value(value, depth);
    }
    return o + "}";
  };
  for (int round = 0; round < 40; ++round) {
    auto s = Make(KeyedMode::kOn);
    uint64_t gen = 1;
    ASSERT_TRUE(s->Append({Full(gen, object(0))}, nullptr)->ok());
    struct Probe {
      std::string snapshot;
      std::shared_ptr<NoticeSubscriber> sub;
      std::shared_ptr<Attachment> a;
    };
    std::vector<Probe> probes;
    for (int i = 0; i < 200; ++i) {
      const int r = pick(100);
      if (r < 4) {
        ASSERT_TRUE(s->Append({Full(++gen, object(0))}, nullptr)->ok());
      } else if (r < 8) {
        (void)s->Append({Diff(gen + 1, object(0))}, nullptr);  // stale: dropped
      } else {
        ASSERT_TRUE(s->Append({Diff(gen, object(0))}, nullptr)->ok());
      }
      if (pick(20) == 0) {
        Probe p;
        p.sub = std::make_shared<NoticeSubscriber>();
        p.a = s->Attach(p.sub, 0, &p.snapshot);
        ASSERT_TRUE(s->CatchUp(p.a.get(), 1 << 20));
        probes.push_back(std::move(p));
      }
    }
    std::string live = Snapshot(s.get());
    auto live_state = JsonValue::Parse(live);
    ASSERT_TRUE(live_state.ok());
    for (Probe& p : probes) {
      auto snap = JsonValue::Parse(p.snapshot);
      ASSERT_TRUE(snap.ok());
      JsonValue state = *snap->Find("state");
      uint64_t g = static_cast<uint64_t>(snap->Find("generation")->int_value());
      uint64_t expect_seq = static_cast<uint64_t>(snap->Find("seq")->int_value()) + 1;
      for (const EventPtr& ev : p.sub->events) {
        ASSERT_EQ(ev->seq, expect_seq++);  // exactly the events after the snapshot
        auto e = JsonValue::Parse(ev->data());
        ASSERT_TRUE(e.ok());
        if (e->Find("type")->string_value() == "full") {
          state = *e->Find("state");
          g = static_cast<uint64_t>(e->Find("generation")->int_value());
        } else {
          ASSERT_EQ(static_cast<uint64_t>(e->Find("generation")->int_value()), g);
          ApplyMergePatch(&state, *e->Find("patch"));
        }
      }
      ASSERT_EQ(state.ToString(), live_state->Find("state")->ToString()) << "round " << round;
      s->Detach(p.a);
    }
  }
}

TEST(KeyedHubTest, HubAppliesKeyedRulesAndCountsDrops) {
  FakeClock clock;
  MetricsRegistry metrics;
  HubOptions o;
  o.rules.push_back(StreamRule{*Pattern::Parse("state/**"), std::nullopt, std::nullopt,
                               std::nullopt, KeyedOptions{KeyedMode::kOn, 1 << 20}});
  Hub hub(o, &clock, &metrics);
  auto bad = hub.Publish("state/x", {R"({"temp":1})"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().reason(), "keyed_bad_event");
  ASSERT_TRUE(hub.Publish("state/x", {Full(1, "{}")}).ok());
  EXPECT_FALSE(hub.Publish("state/x", {Diff(9, "{}")}).ok());
  EXPECT_NE(metrics.Render().find("livehub_keyed_diffs_dropped_total 1"), std::string::npos);
  ASSERT_TRUE(hub.Publish("plain/x", {R"({"temp":1})"}).ok());
  EXPECT_FALSE(hub.Find("plain/x")->keyed());
}

}  // namespace
}  // namespace livehub
