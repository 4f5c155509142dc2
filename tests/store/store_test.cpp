#include "store/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "metrics/metrics.h"

namespace livehub {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("livehub-store-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path() const { return (dir_ / "livehub.db").string(); }

  std::unique_ptr<Store> Open(StoreOptions o = {}) {
    o.path = Path();
    auto s = Store::Open(o, &metrics_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Queues events [first, last] with data {"n":seq} and ts = seq.
  static void Put(Store* s, int64_t id, uint64_t first, uint64_t last, size_t pad = 0) {
    auto owned = std::make_shared<std::vector<std::string>>();
    for (uint64_t q = first; q <= last; ++q) {
      owned->push_back("{\"n\":" + std::to_string(q) + ",\"p\":\"" + std::string(pad, 'x') + "\"}");
    }
    std::vector<StoreRecord> recs;
    for (uint64_t q = first; q <= last; ++q) {
      recs.push_back(StoreRecord{q, static_cast<int64_t>(q), (*owned)[q - first], owned});
    }
    s->Enqueue(id, std::move(recs), nullptr);
  }

  static std::vector<uint64_t> Seqs(Store* s, int64_t id) {
    std::vector<StoredEvent> out;
    EXPECT_TRUE(s->Read(id, 1, UINT64_MAX, 1'000'000, SIZE_MAX, &out).ok());
    std::vector<uint64_t> seqs;
    for (const auto& e : out) seqs.push_back(e.seq);
    return seqs;
  }

  fs::path dir_;
  MetricsRegistry metrics_;
};

TEST_F(StoreTest, CommittedEventsReadBackInOrderWithTheirData) {
  auto s = Open();
  const int64_t id = s->AddStream("a/b", "e1", 1000, 0);
  Put(s.get(), id, 1, 5);
  ASSERT_TRUE(s->Flush(5000));
  std::vector<StoredEvent> out;
  ASSERT_TRUE(s->Read(id, 2, 4, 100, SIZE_MAX, &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].seq, 2u);
  EXPECT_EQ(out[0].ts_ms, 2);
  EXPECT_EQ(out[0].data, "{\"n\":2,\"p\":\"\"}");
  EXPECT_EQ(out[2].seq, 4u);
  EXPECT_EQ(s->FirstSeq(id), 1u);
}

TEST_F(StoreTest, DoneCallbacksRunAfterCommitInQueueOrder) {
  auto s = Open();
  const int64_t id = s->AddStream("a", "e1", 0, 0);
  std::vector<int> order;
  std::mutex mu;
  for (int i = 0; i < 3; ++i) {
    auto data = std::make_shared<std::string>("1");
    s->Enqueue(id, {StoreRecord{static_cast<uint64_t>(i + 1), 0, *data, data}}, [&, i] {
      std::lock_guard lock(mu);
      order.push_back(i);
    });
  }
  ASSERT_TRUE(s->Flush(5000));
  std::lock_guard lock(mu);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST_F(StoreTest, ReopenRestoresStreamsWatermarksAndACleanShutdown) {
  {
    auto s = Open();
    const int64_t a = s->AddStream("a", "ea", 111, 0);
    const int64_t b = s->AddStream("b", "eb", 222, 0);
    Put(s.get(), a, 1, 10);
    Put(s.get(), b, 1, 3);
  }  // destructor commits and marks the shutdown clean
  auto s = Open();
  EXPECT_FALSE(s->previous_run_crashed());
  ASSERT_EQ(s->loaded().size(), 2u);
  const StoredStream& a = s->loaded()[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.epoch, "ea");
  EXPECT_EQ(a.created_ms, 111);
  EXPECT_EQ(a.first_seq, 1u);
  EXPECT_EQ(a.last_seq, 10u);
  EXPECT_EQ(a.last_ts_ms, 10);
  EXPECT_EQ(a.events, 10u);
  EXPECT_EQ(s->loaded()[1].last_seq, 3u);
  // The same name keeps its id; new events continue after the watermark.
  const int64_t id = s->AddStream("a", "ea", 111, 10);
  EXPECT_EQ(id, a.id);
  Put(s.get(), id, 11, 12);
  ASSERT_TRUE(s->Flush(5000));
  EXPECT_EQ(Seqs(s.get(), id).back(), 12u);
}

TEST_F(StoreTest, AnOpenStoreThatWasNeverClosedReportsACrash) {
  auto first = Open();
  first->AddStream("a", "e", 0, 0);
  ASSERT_TRUE(first->Flush(5000));
  // A second open while the first has not shut down sees the flag unset,
  // exactly as after a kill -9.
  StoreOptions o;
  o.path = Path();
  auto second = Store::Open(o, &metrics_);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE((*second)->previous_run_crashed());
}

TEST_F(StoreTest, RetentionByCountKeepsTheNewestAndTheWatermark) {
  StoreOptions o;
  o.retention_interval_ms = 50;
  auto s = Open(o);
  const int64_t id = s->AddStream("a", "e", 0, 0);
  s->SetRetention(id, RetentionLimits{5, 0, 0});
  Put(s.get(), id, 1, 20);
  ASSERT_TRUE(s->Flush(5000));
  for (int i = 0; i < 100 && s->FirstSeq(id) != 16; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(Seqs(s.get(), id), (std::vector<uint64_t>{16, 17, 18, 19, 20}));
  EXPECT_EQ(s->FirstSeq(id), 16u);
  s.reset();
  auto again = Open();
  EXPECT_EQ(again->loaded()[0].last_seq, 20u);
  EXPECT_EQ(again->loaded()[0].first_seq, 16u);
  EXPECT_EQ(again->loaded()[0].events, 5u);
}

TEST_F(StoreTest, RetentionByBytesKeepsTheStreamUnderItsBudget) {
  StoreOptions o;
  o.retention_interval_ms = 50;
  auto s = Open(o);
  const int64_t id = s->AddStream("a", "e", 0, 0);
  s->SetRetention(id, RetentionLimits{0, 10'000, 0});
  Put(s.get(), id, 1, 100, 980);  // ~1 KB each: 100 KB
  ASSERT_TRUE(s->Flush(5000));
  for (int i = 0; i < 100 && s->FirstSeq(id) == 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto seqs = Seqs(s.get(), id);
  ASSERT_FALSE(seqs.empty());
  EXPECT_EQ(seqs.back(), 100u);
  EXPECT_LE(seqs.size(), 10u);
  EXPECT_GE(seqs.size(), 9u);
  for (size_t i = 1; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], seqs[i - 1] + 1);
}

TEST_F(StoreTest, RetentionByAgeDeletesOldEvents) {
  StoreOptions o;
  o.retention_interval_ms = 50;
  auto s = Open(o);
  const int64_t id = s->AddStream("a", "e", 0, 0);
  s->SetRetention(id, RetentionLimits{0, 0, 60'000});
  const int64_t now = SystemClock::Get()->NowMs();
  auto data = std::make_shared<std::string>("{}");
  std::vector<StoreRecord> recs;
  for (uint64_t q = 1; q <= 6; ++q) {
    // seq 1-3 are two minutes old, 4-6 fresh.
    recs.push_back(StoreRecord{q, q <= 3 ? now - 120'000 : now, *data, data});
  }
  s->Enqueue(id, std::move(recs), nullptr);
  ASSERT_TRUE(s->Flush(5000));
  for (int i = 0; i < 100 && s->FirstSeq(id) != 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(Seqs(s.get(), id), (std::vector<uint64_t>{4, 5, 6}));
}

TEST_F(StoreTest, CursorsAreWrittenWithTheEventsQueuedBeforeThem) {
  {
    auto s = Open();
    const int64_t id = s->AddStream("k", "e", 0, 0);
    Put(s.get(), id, 1, 2);
    s->PutCursor("kafka:orders", "partition-0", "42");
    s->PutCursor("kafka:orders", "partition-0", "43");
  }
  auto s = Open();
  EXPECT_EQ(s->GetCursor("kafka:orders", "partition-0").value_or(""), "43");
  EXPECT_FALSE(s->GetCursor("kafka:orders", "partition-1").has_value());
}

TEST_F(StoreTest, AFullStoreRefusesWritesWithoutLosingThemAndRecoversWhenSpaceReturns) {
  StoreOptions o;
  o.max_db_bytes = 512 * 1024;  // a tiny "disk"
  o.max_batch_events = 10;
  o.retention_interval_ms = 100;
  auto s = Open(o);
  const int64_t id = s->AddStream("big", "e", 0, 0);
  ASSERT_TRUE(s->Writable().ok());
  for (uint64_t q = 1; q <= 400; q += 10) Put(s.get(), id, q, q + 9, 2000);  // ~0.8 MB
  for (int i = 0; i < 200 && s->Writable().ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Status st = s->Writable();
  ASSERT_FALSE(st.ok()) << "0.8 MB fit a 512 KB store";
  EXPECT_EQ(st.reason(), "store_unavailable");
  EXPECT_NE(st.message().find("full"), std::string::npos) << st.message();
  // Space returns (retention now keeps the newest 50): every queued event
  // is committed, none was dropped while the store was full.
  s->SetRetention(id, RetentionLimits{50, 0, 0});
  ASSERT_TRUE(s->Flush(30'000));
  EXPECT_TRUE(s->Writable().ok());
  auto seqs = Seqs(s.get(), id);
  ASSERT_FALSE(seqs.empty());
  EXPECT_EQ(seqs.back(), 400u);
  s.reset();
  EXPECT_EQ(Open()->loaded()[0].last_seq, 400u);
}

TEST_F(StoreTest, ABatchBiggerThanTheRoomRetentionFreesIsCommittedInPieces) {
  // Every op gathers into one transaction of ~0.8 MB, more than the whole
  // 512 KB store; each op alone (~20 KB) fits once retention has run.
  StoreOptions o;
  o.max_db_bytes = 512 * 1024;
  o.max_batch_events = 100'000;
  o.async_commit_delay_ms = 300;
  o.retention_interval_ms = 100;
  auto s = Open(o);
  const int64_t id = s->AddStream("big", "e", 0, 0);
  s->SetRetention(id, RetentionLimits{50, 0, 0});
  for (uint64_t q = 1; q <= 400; q += 10) Put(s.get(), id, q, q + 9, 2000);
  ASSERT_TRUE(s->Flush(30'000)) << "the big batch never committed";
  EXPECT_TRUE(s->Writable().ok());
  EXPECT_GT(metrics_.GetCounter("store_failures_total", "")->value(), 0u)
      << "the batch fit at once: the test did not exercise the split";
  auto seqs = Seqs(s.get(), id);
  ASSERT_FALSE(seqs.empty());
  EXPECT_EQ(seqs.back(), 400u);
  EXPECT_LT(seqs.size(), 400u) << "retention ran between the pieces";
}

TEST_F(StoreTest, AFileThatIsNotADatabaseIsRefusedWithTheFileAndTheFixNamed) {
  {
    std::ofstream f(Path(), std::ios::binary);
    f << std::string(8192, 'Z');
  }
  StoreOptions o;
  o.path = Path();
  auto s = Store::Open(o, &metrics_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().reason(), "store_damaged");
  EXPECT_NE(s.status().message().find(Path()), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("livehub store check"), std::string::npos);
  EXPECT_NE(s.status().message().find("backup"), std::string::npos);
}

TEST(DurabilityTest, ParsesTheThreeModesAndRejectsOthers) {
  EXPECT_EQ(*ParseDurability("memory"), Durability::kMemory);
  EXPECT_EQ(*ParseDurability("async"), Durability::kAsync);
  EXPECT_EQ(*ParseDurability("sync"), Durability::kSync);
  auto bad = ParseDurability("fsync");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("memory, async or sync"), std::string::npos);
}

}  // namespace
}  // namespace livehub
