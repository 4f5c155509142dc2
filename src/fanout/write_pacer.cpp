#include "fanout/write_pacer.h"

#include <algorithm>

#include "core/clock.h"
#include "fanout/session.h"

namespace livehub {
namespace {

thread_local WritePacer* tl_pacer = nullptr;

bool Later(const auto& a, const auto& b) { return a.due_ns > b.due_ns; }

}  // namespace

WritePacer::WritePacer(boost::asio::io_context& ioc) : timer_(ioc) {}

WritePacer::~WritePacer() {
  if (tl_pacer == this) tl_pacer = nullptr;
}

WritePacer* WritePacer::Current() { return tl_pacer; }

void WritePacer::Install(WritePacer* p) { tl_pacer = p; }

void WritePacer::Defer(std::shared_ptr<SubscriberSession> session, int64_t due_ns,
                       int64_t slack_ns) {
  heap_.push_back({due_ns, slack_ns, std::move(session)});
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
  ready_.clear();
  while (!heap_.empty() && heap_.front().due_ns - heap_.front().slack_ns <= now) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    ready_.push_back(std::move(heap_.back().session));
    heap_.pop_back();
  }
  for (auto& s : ready_) s->ResumePacedWrite();
  ready_.clear();
  if (!heap_.empty() && (armed_for_ns_ == 0 || heap_.front().due_ns < armed_for_ns_)) {
    Arm(heap_.front().due_ns);
  }
}

WriteKicks::WriteKicks(boost::asio::execution_context& ctx)
    : service(ctx), ioc_(static_cast<boost::asio::io_context&>(ctx)) {}

void WriteKicks::Kick(std::shared_ptr<SubscriberSession> session) {
  std::lock_guard lock(mu_);
  pending_.push_back(std::move(session));
  if (pending_.size() == 1) boost::asio::post(ioc_, [this] { Drain(); });
}

void WriteKicks::Drain() {
  // Local, so an io_context run by several threads could drain twice at
  // once; the list's capacity goes back for the next burst.
  std::vector<std::shared_ptr<SubscriberSession>> running;
  {
    std::lock_guard lock(mu_);
    running.swap(pending_);
  }
  for (auto& s : running) s->RunKickedWrite();
  running.clear();
  std::lock_guard lock(mu_);
  if (pending_.empty() && pending_.capacity() < running.capacity()) pending_.swap(running);
}

void WriteKicks::shutdown() {
  std::vector<std::shared_ptr<SubscriberSession>> drop;
  std::lock_guard lock(mu_);
  drop.swap(pending_);
}

}  // namespace livehub
