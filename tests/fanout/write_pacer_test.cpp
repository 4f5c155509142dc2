#include "fanout/write_pacer.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"

namespace livehub {
namespace {

int64_t Now() { return SystemClock::Get()->MonoNs(); }

// What the writers saw, in the order they ran.
struct Call {
  std::string what;  // "resume 3", "kick 1", or a marker's name
  uint64_t token = 0;
  int64_t burst_ns = 0;
  std::thread::id thread = std::this_thread::get_id();
};

class FakeWriter final : public PacedWriter {
 public:
  FakeWriter(int id, std::vector<Call>* calls) : id_(id), calls_(calls) {}
  void ResumePacedWrite(uint64_t token) override {
    calls_->push_back({"resume " + std::to_string(id_), token, WritePacer::BurstStartNs()});
    if (on_resume) on_resume();
  }
  void RunKickedWrite() override {
    calls_->push_back({"kick " + std::to_string(id_), 0, WritePacer::BurstStartNs()});
    if (complete_after_burst) {
      EXPECT_TRUE(WritePacer::CompleteAfterBurst(self.lock()));
    }
  }
  void CompleteWrite() override {
    calls_->push_back({"complete " + std::to_string(id_), 0, WritePacer::BurstStartNs()});
  }
  bool complete_after_burst = false;
  std::weak_ptr<FakeWriter> self;
  std::function<void()> on_resume;

 private:
  int id_;
  std::vector<Call>* calls_;
};

std::vector<std::shared_ptr<FakeWriter>> Writers(int n, std::vector<Call>* calls) {
  std::vector<std::shared_ptr<FakeWriter>> out;
  for (int i = 0; i < n; ++i) out.push_back(std::make_shared<FakeWriter>(i, calls));
  return out;
}

TEST(WritePacerTest, WritersDueTogetherResumeInOneBurstInTheOrderTheyWereDeferred) {
  boost::asio::io_context ioc;
  WritePacer pacer(ioc);
  std::vector<Call> calls;
  auto w = Writers(5, &calls);
  const int64_t due = Now() + 20'000'000;
  // Deferred out of id order; same due time.
  for (int i : {3, 1, 4, 0, 2}) pacer.Defer(w[i], due, 500'000, 100 + i);
  EXPECT_EQ(pacer.waiting(), 5u);
  EXPECT_EQ(WritePacer::BurstStartNs(), 0);
  ioc.run_for(std::chrono::seconds(2));
  ASSERT_EQ(calls.size(), 5u);
  const std::vector<std::string> order = {"resume 3", "resume 1", "resume 4", "resume 0",
                                          "resume 2"};
  for (size_t k = 0; k < calls.size(); ++k) {
    EXPECT_EQ(calls[k].what, order[k]);
    // The token given to Defer comes back.
    EXPECT_EQ(calls[k].token, 100u + static_cast<uint64_t>(calls[k].what.back() - '0'));
    // One tick: one burst start, at or after the due time less the slack.
    EXPECT_EQ(calls[k].burst_ns, calls[0].burst_ns);
  }
  EXPECT_GE(calls[0].burst_ns, due - 500'000);
  EXPECT_EQ(pacer.waiting(), 0u);
  EXPECT_EQ(WritePacer::BurstStartNs(), 0);  // only inside a burst
}

TEST(WritePacerTest, AnEarlierDeferralRearmsTheTimer) {
  boost::asio::io_context ioc;
  WritePacer pacer(ioc);
  std::vector<Call> calls;
  auto w = Writers(2, &calls);
  const int64_t start = Now();
  pacer.Defer(w[0], start + 1'000'000'000, 0, 1);  // in 1 s
  pacer.Defer(w[1], start + 10'000'000, 0, 2);     // in 10 ms: goes first
  ioc.run_for(std::chrono::milliseconds(500));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].what, "resume 1");
  EXPECT_GE(calls[0].burst_ns, start + 10'000'000);
  ioc.restart();
  ioc.run_for(std::chrono::seconds(2));
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].what, "resume 0");
  EXPECT_GE(calls[1].burst_ns, start + 1'000'000'000);
}

TEST(WritePacerTest, ABigTickResumesInChunksSoOtherWorkRunsBetween) {
  boost::asio::io_context ioc;
  WritePacer pacer(ioc);
  std::vector<Call> calls;
  const int n = static_cast<int>(WritePacer::kChunk) * 2 + 5;
  auto w = Writers(n, &calls);
  // The first resume posts what stands for a publish arriving meanwhile.
  w[0]->on_resume = [&] { boost::asio::post(ioc, [&] { calls.push_back({"publish"}); }); };
  const int64_t due = Now() + 5'000'000;
  for (int i = 0; i < n; ++i) pacer.Defer(w[i], due, 0, 1);
  ioc.run_for(std::chrono::seconds(2));
  ASSERT_EQ(calls.size(), static_cast<size_t>(n) + 1);
  // The publish runs after the first chunk, not after the whole tick.
  EXPECT_EQ(calls[WritePacer::kChunk].what, "publish");
  EXPECT_EQ(calls[WritePacer::kChunk - 1].what, "resume " + std::to_string(WritePacer::kChunk - 1));
  EXPECT_EQ(calls[WritePacer::kChunk + 1].what, "resume " + std::to_string(WritePacer::kChunk));
  // Every chunk of the tick has the tick's burst start.
  for (const Call& c : calls) {
    if (c.what != "publish") {
      EXPECT_EQ(c.burst_ns, calls[0].burst_ns) << c.what;
    }
  }
}

TEST(WriteKicksTest, KicksFromOtherThreadsRunOnTheIoThreadInOneDrain) {
  boost::asio::io_context ioc;
  auto& kicks = boost::asio::use_service<WriteKicks>(ioc);
  std::vector<Call> calls;
  auto w = Writers(3, &calls);
  std::thread publisher([&] {
    for (auto& writer : w) kicks.Kick(writer);
  });
  const std::thread::id publisher_id = publisher.get_id();
  publisher.join();
  size_t handlers = ioc.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(handlers, 1u);  // one posted drain for the three kicks
  ASSERT_EQ(calls.size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(calls[k].what, "kick " + std::to_string(k));
    EXPECT_NE(calls[k].burst_ns, 0);  // a drain is a burst
    EXPECT_EQ(calls[k].burst_ns, calls[0].burst_ns);
    EXPECT_EQ(calls[k].thread, std::this_thread::get_id());  // the one running the io_context
    EXPECT_NE(calls[k].thread, publisher_id);
  }
  // A later kick posts a new drain.
  kicks.Kick(w[1]);
  ioc.restart();
  EXPECT_EQ(ioc.run_for(std::chrono::milliseconds(200)), 1u);
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[3].what, "kick 1");
}

TEST(WriteKicksTest, CompletionsAskedForDuringADrainRunAfterAllItsWrites) {
  boost::asio::io_context ioc;
  auto& kicks = boost::asio::use_service<WriteKicks>(ioc);
  std::vector<Call> calls;
  auto w = Writers(3, &calls);
  for (auto& writer : w) {
    writer->complete_after_burst = true;
    writer->self = writer;
    kicks.Kick(writer);
  }
  EXPECT_FALSE(WritePacer::CompleteAfterBurst(w[0]));  // not in a burst: the caller completes
  ioc.run_for(std::chrono::milliseconds(200));
  std::vector<std::string> order;
  for (const Call& c : calls) order.push_back(c.what);
  EXPECT_EQ(order, (std::vector<std::string>{"kick 0", "kick 1", "kick 2", "complete 0",
                                             "complete 1", "complete 2"}));
  EXPECT_EQ(calls[3].burst_ns, 0);  // after the burst
}

TEST(WriteKicksTest, ShutdownDropsWritersStillListed) {
  std::vector<Call> calls;
  auto w = Writers(1, &calls);
  {
    boost::asio::io_context ioc;
    boost::asio::use_service<WriteKicks>(ioc).Kick(w[0]);
    EXPECT_EQ(w[0].use_count(), 2);  // listed
  }
  EXPECT_EQ(w[0].use_count(), 1);  // released with the io_context, never run
  EXPECT_TRUE(calls.empty());
}

}  // namespace
}  // namespace livehub
