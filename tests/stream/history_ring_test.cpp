#include "stream/history_ring.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "stream/event.h"

namespace livehub {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;

// Limits that never bite, so a test states only the bound it exercises.
HistoryLimits Unbounded() {
  HistoryLimits l;
  l.max_events = 1'000'000;
  l.max_bytes = size_t{1} << 40;
  l.max_age_ms = int64_t{1} << 50;
  return l;
}

EventPtr Ev(uint64_t seq, int64_t ts_ms = kT0, std::string data = "{}") {
  return MakeEvent(nullptr, "s", "e1", seq, ts_ms, 0, data);
}

// Appends the next event (seq == next_seq()).
size_t AppendNext(HistoryRing* ring, int64_t ts_ms = kT0, std::string data = "{}") {
  return ring->Append(Ev(ring->next_seq(), ts_ms, std::move(data)));
}

void ExpectInvariants(const HistoryRing& ring) {
  EXPECT_EQ(ring.first_seq() + ring.size(), ring.next_seq());
  EXPECT_EQ(ring.empty(), ring.size() == 0);
  size_t bytes = 0;
  for (uint64_t s = ring.first_seq(); s < ring.next_seq(); ++s) {
    const EventPtr* ev = ring.Find(s);
    ASSERT_NE(ev, nullptr) << "seq " << s;
    EXPECT_EQ((*ev)->seq, s);
    bytes += (*ev)->charge();
  }
  EXPECT_EQ(ring.bytes(), bytes);
}

TEST(HistoryRingTest, StartsEmptyAtSeqOne) {
  HistoryRing ring(Unbounded());
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_EQ(ring.bytes(), 0u);
  EXPECT_EQ(ring.next_seq(), 1u);
  EXPECT_EQ(ring.first_seq(), 1u);
  EXPECT_EQ(ring.Find(0), nullptr);
  EXPECT_EQ(ring.Find(1), nullptr);
  ExpectInvariants(ring);
}

TEST(HistoryRingTest, AppendKeepsEventsContiguousAndChargesTheirBytes) {
  HistoryRing ring(Unbounded());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(AppendNext(&ring), 0u);
  EXPECT_EQ(ring.size(), 5u);
  EXPECT_EQ(ring.first_seq(), 1u);
  EXPECT_EQ(ring.next_seq(), 6u);
  EXPECT_GT(ring.bytes(), 0u);
  ExpectInvariants(ring);
}

TEST(HistoryRingTest, FindReturnsTheEventWithThatSeqOrNull) {
  HistoryRing ring(Unbounded());
  for (int i = 0; i < 3; ++i) AppendNext(&ring, kT0, "{\"i\":" + std::to_string(i) + "}");
  ASSERT_NE(ring.Find(2), nullptr);
  EXPECT_EQ((*ring.Find(2))->seq, 2u);
  EXPECT_EQ((*ring.Find(2))->data(), "{\"i\":1}");
  EXPECT_EQ(ring.Find(0), nullptr);
  EXPECT_EQ(ring.Find(4), nullptr);
}

TEST(HistoryRingTest, EvictsOldestWhenEventCountIsExceeded) {
  HistoryLimits l = Unbounded();
  l.max_events = 3;
  HistoryRing ring(l);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(AppendNext(&ring), 0u);
  EXPECT_EQ(AppendNext(&ring), 1u);
  EXPECT_EQ(AppendNext(&ring), 1u);
  EXPECT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.first_seq(), 3u);
  EXPECT_EQ(ring.next_seq(), 6u);
  EXPECT_EQ(ring.Find(2), nullptr);
  ASSERT_NE(ring.Find(3), nullptr);
  ExpectInvariants(ring);
}

TEST(HistoryRingTest, EvictsOldestWhenByteBudgetIsExceeded) {
  const size_t one = Ev(1)->charge();
  HistoryLimits l = Unbounded();
  l.max_bytes = 3 * one;  // room for exactly three same-sized events
  HistoryRing ring(l);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(AppendNext(&ring), 0u);
  EXPECT_EQ(ring.bytes(), 3 * one);
  EXPECT_EQ(AppendNext(&ring), 1u);
  EXPECT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.first_seq(), 2u);
  EXPECT_LE(ring.bytes(), l.max_bytes);
  ExpectInvariants(ring);
}

TEST(HistoryRingTest, OneLargeEventEvictsAsManySmallOnesAsNeeded) {
  const std::string big_data = "\"" + std::string(900, 'x') + "\"";
  const size_t small = Ev(1)->charge();
  const size_t big = Ev(5, kT0, big_data)->charge();
  HistoryLimits l = Unbounded();
  l.max_bytes = 2 * small + big;  // after the big one, room for two small ones
  HistoryRing ring(l);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(AppendNext(&ring), 0u);
  EXPECT_EQ(AppendNext(&ring, kT0, big_data), 2u);
  EXPECT_EQ(ring.first_seq(), 3u);
  EXPECT_EQ(ring.next_seq(), 6u);
  EXPECT_EQ(ring.bytes(), l.max_bytes);
  ExpectInvariants(ring);
}

TEST(HistoryRingTest, KeepsTheNewestEventEvenIfItAloneExceedsTheByteBudget) {
  HistoryLimits l = Unbounded();
  l.max_bytes = 1;
  HistoryRing ring(l);
  EXPECT_EQ(AppendNext(&ring), 0u);
  EXPECT_EQ(ring.size(), 1u);
  EXPECT_EQ(AppendNext(&ring, kT0, "\"" + std::string(4096, 'x') + "\""), 1u);
  EXPECT_EQ(ring.size(), 1u);
  EXPECT_EQ(ring.first_seq(), 2u);
  ASSERT_NE(ring.Find(2), nullptr);
  EXPECT_GT(ring.bytes(), l.max_bytes);
  ExpectInvariants(ring);
}

TEST(HistoryRingTest, ZeroMaxEventsDisablesHistoryButKeepsNumbering) {
  HistoryLimits l = Unbounded();
  l.max_events = 0;
  HistoryRing ring(l);
  EXPECT_EQ(AppendNext(&ring), 1u);
  EXPECT_EQ(AppendNext(&ring), 1u);
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.bytes(), 0u);
  EXPECT_EQ(ring.next_seq(), 3u);
  EXPECT_EQ(ring.first_seq(), 3u);
  ExpectInvariants(ring);
}

TEST(HistoryRingTest, EvictExpiredDropsOnlyEventsOlderThanMaxAge) {
  HistoryLimits l = Unbounded();
  l.max_age_ms = 1000;
  HistoryRing ring(l);
  AppendNext(&ring, kT0);         // seq 1
  AppendNext(&ring, kT0 + 500);   // seq 2
  AppendNext(&ring, kT0 + 1500);  // seq 3

  EXPECT_EQ(ring.EvictExpired(kT0 + 1000), 0u);  // exactly max_age old: kept
  EXPECT_EQ(ring.EvictExpired(kT0 + 1001), 1u);
  EXPECT_EQ(ring.first_seq(), 2u);
  EXPECT_EQ(ring.EvictExpired(kT0 + 1500), 0u);
  EXPECT_EQ(ring.EvictExpired(kT0 + 1501), 1u);
  EXPECT_EQ(ring.first_seq(), 3u);
  ASSERT_NE(ring.Find(3), nullptr);
  ExpectInvariants(ring);
}

TEST(HistoryRingTest, EvictExpiredCanEmptyTheRingAndNumberingContinues) {
  HistoryLimits l = Unbounded();
  l.max_age_ms = 10;
  HistoryRing ring(l);
  AppendNext(&ring, kT0);
  AppendNext(&ring, kT0);
  EXPECT_EQ(ring.EvictExpired(kT0 + 60'000), 2u);
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.bytes(), 0u);
  EXPECT_EQ(ring.first_seq(), 3u);
  EXPECT_EQ(ring.next_seq(), 3u);
  EXPECT_EQ(ring.EvictExpired(kT0 + 120'000), 0u);

  AppendNext(&ring, kT0 + 60'000);
  EXPECT_EQ(ring.first_seq(), 3u);
  EXPECT_EQ(ring.next_seq(), 4u);
  ExpectInvariants(ring);
}

TEST(HistoryRingTest, ResetToRestartsNumberingAndDropsHistory) {
  HistoryRing ring(Unbounded());
  AppendNext(&ring);
  AppendNext(&ring);
  ring.ResetTo(100);
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.bytes(), 0u);
  EXPECT_EQ(ring.first_seq(), 100u);
  EXPECT_EQ(ring.next_seq(), 100u);
  AppendNext(&ring);
  EXPECT_EQ(ring.first_seq(), 100u);
  ASSERT_NE(ring.Find(100), nullptr);
  EXPECT_EQ((*ring.Find(100))->seq, 100u);
  ExpectInvariants(ring);
}

TEST(HistoryRingTest, InvariantsHoldUnderMixedBounds) {
  HistoryLimits l;
  l.max_events = 7;
  l.max_bytes = 5 * Ev(1)->charge() + 300;
  l.max_age_ms = 50;
  HistoryRing ring(l);
  int64_t now = kT0;
  for (int i = 0; i < 200; ++i) {
    now += (i % 3 == 0) ? 20 : 1;
    AppendNext(&ring, now, "\"" + std::string(static_cast<size_t>(i % 17) * 13, 'y') + "\"");
    if (i % 5 == 0) ring.EvictExpired(now);
    ASSERT_LE(ring.size(), l.max_events);
    ASSERT_GE(ring.size(), 1u);
    ASSERT_TRUE(ring.size() == 1 || ring.bytes() <= l.max_bytes);
    ExpectInvariants(ring);
  }
  EXPECT_EQ(ring.next_seq(), 201u);
}

}  // namespace
}  // namespace livehub

namespace livehub {
namespace {

TEST(HistoryRingRetainTest, EvictedEventsStayReadableUntilTrimmed) {
  HistoryLimits l;
  l.max_events = 2;
  HistoryRing ring(l);
  for (int i = 0; i < 5; ++i)
    ring.Append(MakeEvent(nullptr, "s", "e1", ring.next_seq(), 0, 0, "{}"));
  // History holds 4..5; 1..3 are retained for readers.
  EXPECT_EQ(ring.first_seq(), 4u);
  EXPECT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.Find(3), nullptr);
  EXPECT_EQ(ring.retained(), 3u);
  EXPECT_EQ(ring.retained_first_seq(), 1u);
  ASSERT_NE(ring.FindRetained(1), nullptr);
  EXPECT_EQ((*ring.FindRetained(1))->seq, 1u);
  EXPECT_EQ(ring.retained_bytes(), 3 * (*ring.FindRetained(1))->charge());
  EXPECT_EQ(ring.bytes(), 2 * (*ring.FindRetained(1))->charge());  // history only

  ring.Trim(3);  // a reader still needs 3
  EXPECT_EQ(ring.retained(), 1u);
  EXPECT_EQ(ring.FindRetained(2), nullptr);
  ASSERT_NE(ring.FindRetained(3), nullptr);
  ring.Trim(100);  // never trims history itself
  EXPECT_EQ(ring.retained(), 0u);
  EXPECT_EQ(ring.retained_bytes(), 0u);
  EXPECT_EQ(ring.first_seq(), 4u);
  EXPECT_EQ(ring.size(), 2u);
}

TEST(HistoryRingRetainTest, DisabledHistoryRetainsOnlyForReaders) {
  HistoryLimits l;
  l.max_events = 0;
  HistoryRing ring(l);
  ring.Append(MakeEvent(nullptr, "s", "e1", 1, 0, 0, "{}"));
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.first_seq(), 2u);
  ASSERT_NE(ring.FindRetained(1), nullptr);
  ring.Trim(ring.next_seq());  // no reader
  EXPECT_EQ(ring.FindRetained(1), nullptr);
}

}  // namespace
}  // namespace livehub
