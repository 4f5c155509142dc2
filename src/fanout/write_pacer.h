// WritePacer: spaces a connection's writes at least `subscribers.write_delay_ms`
// apart, so events that arrive in between leave in one gathered write (one
// TCP segment) instead of one each. A connection that has not written for
// the delay writes at once: at low rates nothing waits; under load each
// write carries more events and the kernel's per-segment cost, which
// dominates fan-out on loopback and LAN alike, is paid once per batch.
//
// One pacer per io thread (installed by the Server before running its
// io_context), one timer for all its waiting sessions (a min-heap by due
// time). Sessions use the pacer of the thread they run on; without one
// (tests that run their own io_context) writes are never delayed.
// Thread safety: a pacer is used only by its own thread.
#pragma once

#include <algorithm>
#include <boost/asio.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/thread_annotations.h"

namespace livehub {

// What the pacer and WriteKicks run: a SubscriberSession (an interface so
// that they can be tested on their own). Called on the writer's io thread.
class PacedWriter {
 public:
  virtual ~PacedWriter() = default;
  // A write deferred with `token` (WritePacer::Defer) is due.
  virtual void ResumePacedWrite(uint64_t token) = 0;
  // Kicked (WriteKicks::Kick): something new to write.
  virtual void RunKickedWrite() = 0;
  // A write that completed during a burst, and asked to finish after it
  // (WritePacer::CompleteAfterBurst), finishes now.
  virtual void CompleteWrite() = 0;
};

class WritePacer {
 public:
  // How early a paced write may go: timers fire a little early or late, and
  // sessions due within a fraction of the delay of each other are better
  // written in one wake-up than in one each.
  static int64_t SlackFor(int64_t delay_ns) { return std::min<int64_t>(500'000, delay_ns / 8); }

  explicit WritePacer(boost::asio::io_context& ioc);
  ~WritePacer();
  WritePacer(const WritePacer&) = delete;
  WritePacer& operator=(const WritePacer&) = delete;

  // The pacer of the calling thread (null if none is installed).
  static WritePacer* Current();
  // Installs `p` as the calling thread's pacer (null uninstalls).
  static void Install(WritePacer* p);
  // When the burst of writes the calling thread is running (a pacer tick or
  // a WriteKicks drain) started; 0 outside one. A session written in a burst
  // takes this as its write time, so sessions written together fall due
  // together and the next tick writes them all: one wake-up per delay for a
  // stream's subscribers instead of one per half-millisecond of spread.
  static int64_t BurstStartNs();
  // During a burst, queues `writer`'s CompleteWrite() for when the burst
  // (a pacer chunk, a kick drain) has done its writes, and returns true;
  // outside one returns false. The bookkeeping after a write (metrics,
  // locks, the next batch) then does not delay the other connections'
  // writes: on a 1,000-subscriber publish that kept the last one waiting
  // ~1 ms longer.
  static bool CompleteAfterBurst(std::shared_ptr<PacedWriter> writer);

  // Calls writer->ResumePacedWrite(token) at `due_ns` (monotonic), or up to
  // `slack_ns` earlier. Writers due at the same time resume in the order
  // they were deferred.
  void Defer(std::shared_ptr<PacedWriter> writer, int64_t due_ns, int64_t slack_ns, uint64_t token);
  size_t waiting() const { return heap_.size(); }

  // Writers resumed per turn of the io_context: a tick that finds a whole
  // stream's subscribers due writes them in chunks, so a publish that
  // arrives meanwhile is read (and joins the writes still to come) within
  // a chunk's time, not after the whole burst.
  static constexpr size_t kChunk = 32;

 private:
  struct Entry {
    int64_t due_ns;
    uint64_t order;  // ties go first in, first out (sessions due together
                     // keep their place in the burst, so their spacing)
    int64_t slack_ns;
    uint64_t token;
    std::shared_ptr<PacedWriter> writer;
  };
  void Arm(int64_t due_ns);
  void OnTimer(boost::system::error_code ec);
  void RunReady();  // resumes up to kChunk of ready_, posts itself for the rest

  boost::asio::steady_timer timer_;
  std::vector<Entry> heap_;  // min-heap by due_ns
  struct Ready {
    int64_t burst_ns;  // the tick that found it due (BurstStartNs)
    uint64_t token;
    std::shared_ptr<PacedWriter> writer;
  };
  std::vector<Ready> ready_;  // due, not yet resumed, from ready_next_ on
  size_t ready_next_ = 0;
  bool run_posted_ = false;   // a RunReady is posted
  int64_t armed_for_ns_ = 0;  // 0: the timer is not armed
  uint64_t deferred_ = 0;     // Entry::order of the next Defer
};

// WriteKicks: the sessions of one io_context that have something new to
// write, run in one handler. Publishers call Kick from any thread; the first
// kick posts a Drain, later ones join its list. One post per burst instead
// of one per session: a publish to 1,000 subscribers allocated, queued and
// dispatched 1,000 asio operations before.
// An asio service: one per io_context (asio::use_service), shut down with
// it, which drops the sessions still listed.
class WriteKicks final : public boost::asio::execution_context::service {
 public:
  using key_type = WriteKicks;
  static inline boost::asio::execution_context::id id;

  explicit WriteKicks(boost::asio::execution_context& ctx);
  // Calls writer->RunKickedWrite() on the io_context's thread soon.
  void Kick(std::shared_ptr<PacedWriter> writer);

 private:
  void shutdown() override;
  void Drain();

  boost::asio::io_context& ioc_;
  Mutex mu_;
  std::vector<std::shared_ptr<PacedWriter>> pending_ GUARDED_BY(mu_);
};

}  // namespace livehub
