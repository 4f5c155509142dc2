// Subscriptions: patterns, attached streams and the one way out of them,
// without a session, a socket or a hub.
#include "fanout/subscriptions.h"

#include <gtest/gtest.h>

#include "core/clock.h"

namespace livehub {
namespace {

class SubscriptionsTest : public ::testing::Test {
 protected:
  Stream* S(const std::string& name) {
    streams_.push_back(std::make_unique<Stream>(name, "e1", HistoryLimits{}, &clock_));
    return streams_.back().get();
  }
  static Pattern P(std::string_view t) { return *Pattern::Parse(t); }
  static Subscriptions::StreamSub Sub(int64_t interval_ns = 0) {
    Subscriptions::StreamSub s;
    s.attachment = std::make_shared<Attachment>();
    s.interval_ns = interval_ns;
    return s;
  }
  static std::vector<std::string> Names(const std::vector<Subscriptions::Detached>& d) {
    std::vector<std::string> out;
    for (const auto& x : d) out.push_back(x.stream->name());
    std::sort(out.begin(), out.end());
    return out;
  }

  FakeClock clock_;
  std::vector<std::unique_ptr<Stream>> streams_;
  Subscriptions subs_;
};

TEST_F(SubscriptionsTest, PatternsAreUniqueAndCountedOnceWhenRepeated) {
  EXPECT_TRUE(subs_.AddPattern(P("a/*"), 0));
  EXPECT_FALSE(subs_.AddPattern(P("a/*"), 5));
  EXPECT_EQ(subs_.pattern_count(), 1u);
  EXPECT_EQ(subs_.CountWith({P("a/*"), P("b"), P("b"), P("c/**")}), 3u);
  EXPECT_EQ(subs_.PatternTexts(), std::vector<std::string>{"a/*"});
}

TEST_F(SubscriptionsTest, TheFirstMatchingPatternDecidesMaxHzOfALaterStream) {
  subs_.AddPattern(P("a/x"), 100);
  subs_.AddPattern(P("a/*"), 200);
  EXPECT_EQ(subs_.IntervalFor("a/x"), 100);
  EXPECT_EQ(subs_.IntervalFor("a/y"), 200);
  EXPECT_EQ(subs_.IntervalFor("b"), 0);
}

TEST_F(SubscriptionsTest, CoalescedCountsStreamsWithMaxHz) {
  Stream* a = S("a/1");
  Stream* b = S("a/2");
  subs_.Add(a, Sub(100));
  subs_.Add(b, Sub(0));
  EXPECT_EQ(subs_.coalesced(), 1u);
  subs_.Add(a, Sub(0));  // replaced
  EXPECT_EQ(subs_.coalesced(), 0u);
  subs_.Add(b, Sub(5));
  std::vector<uint64_t> unwatch;
  EXPECT_EQ(subs_.RemoveAll(&unwatch).size(), 2u);
  EXPECT_EQ(subs_.coalesced(), 0u);
  EXPECT_EQ(subs_.size(), 0u);
}

TEST_F(SubscriptionsTest, UnsubscribingDetachesOnlyStreamsNoOtherPatternMatches) {
  Stream* a1 = S("a/1");
  Stream* a2 = S("a/2");
  Stream* b = S("b");
  subs_.AddPattern(P("a/*"), 0);
  subs_.AddPattern(P("a/1"), 0);
  subs_.AddPattern(P("b"), 0);
  subs_.SetWatchId("a/*", 7);
  subs_.SetWatchId("b", 9);
  subs_.Add(a1, Sub());
  subs_.Add(a2, Sub(50));
  subs_.Add(b, Sub());
  std::vector<std::string> removed;
  std::vector<uint64_t> unwatch;
  auto detached = subs_.RemovePatterns({"a/*", "nope"}, &removed, &unwatch);
  EXPECT_EQ(removed, std::vector<std::string>{"a/*"});
  EXPECT_EQ(unwatch, std::vector<uint64_t>{7});
  EXPECT_EQ(Names(detached), std::vector<std::string>{"a/2"});  // a/1 still matches "a/1"
  EXPECT_TRUE(subs_.Contains(a1));
  EXPECT_FALSE(subs_.Contains(a2));
  EXPECT_EQ(subs_.coalesced(), 0u);
  EXPECT_EQ(subs_.PatternTexts(), (std::vector<std::string>{"a/1", "b"}));
}

TEST_F(SubscriptionsTest, ARefreshDetachesWhatTheNewGrantNoLongerCoversButKeepsPatterns) {
  Stream* a = S("a/1");
  Stream* b = S("b/1");
  subs_.AddPattern(P("**"), 0);
  subs_.Add(a, Sub());
  subs_.Add(b, Sub());
  Principal p;
  p.kind = Principal::Kind::kToken;
  p.subject = "t";
  p.subscribe = {"a/**"};
  auto access = *Access::Compile(p);
  auto detached = subs_.RemoveUnreadable(*access);
  EXPECT_EQ(Names(detached), std::vector<std::string>{"b/1"});
  EXPECT_EQ(subs_.pattern_count(), 1u);
  EXPECT_TRUE(subs_.Contains(a));
}

TEST_F(SubscriptionsTest, DetachedStreamsCarryWhatMaxHzStillHeld) {
  Stream* a = S("a/1");
  subs_.AddPattern(P("a/*"), 100);
  Subscriptions::StreamSub sub = Sub(100);
  sub.held.push_back(MakeEvent(a, a->name(), "e1", 1, 0, 0, "1"));
  sub.held_bytes = sub.held.back()->charge();
  subs_.Add(a, std::move(sub));
  std::vector<uint64_t> unwatch;
  auto detached = subs_.RemoveAll(&unwatch);
  ASSERT_EQ(detached.size(), 1u);
  EXPECT_EQ(detached[0].sub.held.size(), 1u);  // the owner releases its bytes
  EXPECT_GT(detached[0].sub.held_bytes, 0u);
  EXPECT_NE(detached[0].sub.attachment, nullptr);
  EXPECT_EQ(unwatch.size(), 1u);
}

}  // namespace
}  // namespace livehub
