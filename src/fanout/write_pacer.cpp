#include "fanout/write_pacer.h"

#include <algorithm>

#include "core/clock.h"

namespace livehub {
namespace {

thread_local WritePacer* tl_pacer = nullptr;
thread_local int64_t tl_burst_ns = 0;

// Marks the calling thread's burst of writes (see BurstStartNs).
class BurstScope {
 public:
  explicit BurstScope(int64_t now_ns) : outer_(tl_burst_ns) {
    if (outer_ == 0) tl_burst_ns = now_ns;
  }
  ~BurstScope() { tl_burst_ns = outer_; }
  BurstScope(const BurstScope&) = delete;
  BurstScope& operator=(const BurstScope&) = delete;

 private:
  int64_t outer_;
};

// The writes a burst completed, finished when it ends (CompleteAfterBurst).
thread_local std::vector<std::shared_ptr<PacedWriter>>* tl_completions = nullptr;

// Collects the completions of the writes a loop makes; Finish runs them.
// Not nested: an inner batch leaves the outer one's list alone. Left
// without Finish (a handler threw), the writers are released unfinished:
// their write stays "in flight" until the write timeout closes them.
class CompletionBatch {
 public:
  CompletionBatch() {
    if (tl_completions == nullptr) tl_completions = &list_;
  }
  ~CompletionBatch() {
    if (tl_completions == &list_) tl_completions = nullptr;
  }
  CompletionBatch(const CompletionBatch&) = delete;
  CompletionBatch& operator=(const CompletionBatch&) = delete;

  void Finish() {
    if (tl_completions != &list_) return;
    // Completions run inline from here on (each may write its next batch).
    tl_completions = nullptr;
    for (auto& w : list_) w->CompleteWrite();
    list_.clear();
  }

 private:
  std::vector<std::shared_ptr<PacedWriter>> list_;
};

bool Later(const auto& a, const auto& b) {
  return a.due_ns != b.due_ns ? a.due_ns > b.due_ns : a.order > b.order;
}

}  // namespace

WritePacer::WritePacer(boost::asio::io_context& ioc) : timer_(ioc) {}

WritePacer::~WritePacer() {
  if (tl_pacer == this) tl_pacer = nullptr;
}

WritePacer* WritePacer::Current() { return tl_pacer; }

void WritePacer::Install(WritePacer* p) { tl_pacer = p; }

int64_t WritePacer::BurstStartNs() { return tl_burst_ns; }

bool WritePacer::CompleteAfterBurst(std::shared_ptr<PacedWriter> writer) {
  if (tl_completions == nullptr) return false;
  tl_completions->push_back(std::move(writer));
  return true;
}

void WritePacer::Defer(std::shared_ptr<PacedWriter> writer, int64_t due_ns, int64_t slack_ns,
                       uint64_t token) {
  heap_.push_back({due_ns, deferred_++, slack_ns, token, std::move(writer)});
  std::push_heap(heap_.begin(), heap_.end(), [](auto& a, auto& b) { return Later(a, b); });
  if (armed_for_ns_ == 0 || due_ns < armed_for_ns_) Arm(due_ns);
}

void WritePacer::Arm(int64_t due_ns) {
  armed_for_ns_ = due_ns;
  const int64_t wait = std::max<int64_t>(0, due_ns - SystemClock::Get()->MonoNs());
  timer_.expires_after(std::chrono::nanoseconds(wait));  // cancels an earlier wait
  timer_.async_wait([this](boost::system::error_code ec) { OnTimer(ec); });
}

void WritePacer::OnTimer(boost::system::error_code ec) {
  if (ec) return;  // re-armed for an earlier due time, or shutting down
  armed_for_ns_ = 0;
  const int64_t now = SystemClock::Get()->MonoNs();
  auto later = [](auto& a, auto& b) { return Later(a, b); };
  // Take every due session out first: a resumed write may defer again.
  while (!heap_.empty() && heap_.front().due_ns - heap_.front().slack_ns <= now) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    ready_.push_back({now, heap_.back().token, std::move(heap_.back().writer)});
    heap_.pop_back();
  }
  if (!run_posted_) RunReady();
  if (!heap_.empty() && (armed_for_ns_ == 0 || heap_.front().due_ns < armed_for_ns_)) {
    Arm(heap_.front().due_ns);
  }
}

void WritePacer::RunReady() {
  run_posted_ = false;
  const size_t end = std::min(ready_.size(), ready_next_ + kChunk);
  CompletionBatch completions;
  while (ready_next_ < end) {
    Ready r = std::move(ready_[ready_next_++]);
    BurstScope burst(r.burst_ns);
    r.writer->ResumePacedWrite(r.token);
  }
  completions.Finish();
  if (ready_next_ < ready_.size()) {
    run_posted_ = true;
    boost::asio::post(timer_.get_executor(), [this] { RunReady(); });
    return;
  }
  ready_.clear();
  ready_next_ = 0;
}

WriteKicks::WriteKicks(boost::asio::execution_context& ctx)
    : service(ctx), ioc_(static_cast<boost::asio::io_context&>(ctx)) {}

void WriteKicks::Kick(std::shared_ptr<PacedWriter> writer) {
  MutexLock lock(mu_);
  pending_.push_back(std::move(writer));
  if (pending_.size() == 1) boost::asio::post(ioc_, [this] { Drain(); });
}

void WriteKicks::Drain() {
  // Local, so an io_context run by several threads could drain twice at
  // once; the list's capacity goes back for the next burst.
  std::vector<std::shared_ptr<PacedWriter>> running;
  {
    MutexLock lock(mu_);
    running.swap(pending_);
  }
  CompletionBatch completions;
  {
    BurstScope burst(SystemClock::Get()->MonoNs());
    for (auto& s : running) s->RunKickedWrite();
  }
  completions.Finish();
  running.clear();
  MutexLock lock(mu_);
  if (pending_.empty() && pending_.capacity() < running.capacity()) pending_.swap(running);
}

void WriteKicks::shutdown() {
  std::vector<std::shared_ptr<PacedWriter>> drop;
  MutexLock lock(mu_);
  drop.swap(pending_);
}

}  // namespace livehub
