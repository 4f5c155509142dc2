// Stream + Store: sync events are invisible until committed, async events
// are stored, and reads and catch-up older than memory come from the store.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "metrics/metrics.h"
#include "store/store.h"
#include "stream/stream.h"

namespace livehub {
namespace {

namespace fs = std::filesystem;

class CollectingSubscriber final : public Subscriber {
 public:
  void OnEvent(const EventPtr& ev) override {
    std::lock_guard lock(mu);
    seqs.push_back(ev->seq);
    datas.emplace_back(ev->data());
  }
  void OnGap(Stream*, uint64_t from, uint64_t to, std::string_view) override {
    std::lock_guard lock(mu);
    gaps.emplace_back(from, to);
  }
  std::vector<uint64_t> Seqs() {
    std::lock_guard lock(mu);
    return seqs;
  }
  std::mutex mu;
  std::vector<uint64_t> seqs;
  std::vector<std::string> datas;
  std::vector<std::pair<uint64_t, uint64_t>> gaps;
};

class StreamStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("livehub-stream-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    StoreOptions o;
    o.path = (dir_ / "livehub.db").string();
    auto s = Store::Open(o, &metrics_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  std::unique_ptr<Stream> MakeStream(Durability d, HistoryLimits limits = {}) {
    auto s = std::make_unique<Stream>("s/a", "ep1", limits, SystemClock::Get());
    const int64_t id = store_->AddStream("s/a", "ep1", 0, 0);
    s->SetStorage(StreamStorage{store_.get(), id, d});
    return s;
  }

  static std::vector<std::string> Datas(int n, int first = 1) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back("{\"i\":" + std::to_string(first + i) + "}");
    return out;
  }

  fs::path dir_;
  MetricsRegistry metrics_;
  std::unique_ptr<Store> store_;
};

TEST_F(StreamStoreTest, SyncEventsAreDeliveredAndAcknowledgedOnlyAfterTheCommit) {
  auto s = MakeStream(Durability::kSync);
  auto sub = std::make_shared<CollectingSubscriber>();
  auto a = s->Attach(sub, 0);
  ASSERT_TRUE(s->CatchUp(a.get(), 1 << 20));
  std::promise<Result<PublishAck>> acked;
  auto now = s->Append(Datas(3), [&](Result<PublishAck> r) { acked.set_value(std::move(r)); });
  EXPECT_FALSE(now.has_value()) << "a sync append answered before its commit";
  auto r = acked.get_future().get();  // the commit callback
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first_seq, 1u);
  EXPECT_EQ(r->last_seq, 3u);
  // Delivered before the ack (same callback, in this order).
  EXPECT_EQ(sub->Seqs(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(s->latest_seq(), 3u);
  std::vector<StoredEvent> stored;
  ASSERT_TRUE(store_->Read(s->storage().id, 1, 3, 10, SIZE_MAX, &stored).ok());
  EXPECT_EQ(stored.size(), 3u);
}

TEST_F(StreamStoreTest, AsyncEventsAreDeliveredAtOnceAndStored) {
  auto s = MakeStream(Durability::kAsync);
  auto now = s->Append(Datas(2), nullptr);
  ASSERT_TRUE(now.has_value());
  ASSERT_TRUE(now->ok());
  EXPECT_EQ(s->latest_seq(), 2u);
  ASSERT_TRUE(store_->Flush(5000));
  std::vector<StoredEvent> stored;
  ASSERT_TRUE(store_->Read(s->storage().id, 1, 2, 10, SIZE_MAX, &stored).ok());
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[1].data, "{\"i\":2}");
}

TEST_F(StreamStoreTest, ReadAndCatchUpOlderThanMemoryComeFromTheStoreWithoutAGap) {
  HistoryLimits small;
  small.max_events = 5;
  auto s = MakeStream(Durability::kAsync, small);
  for (int b = 0; b < 10; ++b) s->Append(Datas(10, b * 10 + 1), nullptr);
  ASSERT_TRUE(store_->Flush(5000));
  EXPECT_EQ(s->first_seq(), 1u) << "the oldest available seq counts the store";

  std::vector<EventPtr> out;
  bool more = true;
  uint64_t next = 1;
  std::vector<uint64_t> seqs;
  while (more) {
    out.clear();
    ASSERT_TRUE(s->Read(next, 30, &out, &more, &next).ok());
    for (const auto& e : out) seqs.push_back(e->seq);
  }
  ASSERT_EQ(seqs.size(), 100u);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1);

  auto sub = std::make_shared<CollectingSubscriber>();
  auto a = s->Attach(sub, 3);
  for (int i = 0; i < 1000 && !s->CatchUp(a.get(), 1024); ++i) {
  }
  s->Append(Datas(1, 101), nullptr);
  auto got = sub->Seqs();
  ASSERT_EQ(got.size(), 99u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], i + 3);
  EXPECT_TRUE(sub->gaps.empty());
  EXPECT_EQ(sub->datas[0], "{\"i\":3}");
}

TEST_F(StreamStoreTest, AStoreThatCannotAcceptRefusesBeforeSequencing) {
  // Fill the queue bound: a store that is far behind refuses new appends.
  // Another connection holds the database's write lock, so the writer is
  // stuck in its busy wait whatever the machine's speed (a slow writer alone
  // kept up under a sanitizer build).
  store_.reset();
  StoreOptions o;
  o.path = (dir_ / "livehub.db").string();
  o.max_queue_events = 1000;
  auto st = Store::Open(o, &metrics_);
  ASSERT_TRUE(st.ok());
  store_ = std::move(*st);
  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open(o.path.c_str(), &blocker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  struct Release {
    sqlite3* db;
    ~Release() {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close(db);
    }
  } release{blocker};
  auto s = MakeStream(Durability::kAsync);
  uint64_t accepted = 0;
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    auto r = s->Append(Datas(100), nullptr);
    ASSERT_TRUE(r.has_value());
    if (r->ok()) {
      accepted = (*r)->last_seq;
    } else {
      EXPECT_EQ(r->status().reason(), "store_unavailable");
      refused = true;
    }
  }
  ASSERT_TRUE(refused);
  EXPECT_EQ(s->latest_seq(), accepted) << "a refused append sequenced something";
}

}  // namespace
}  // namespace livehub
