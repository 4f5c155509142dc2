// ProcessManager: runs the configured processors (windows, alert rules).
// Each processor reads its input streams as an ordinary subscriber would
// (Hub::Watch + Stream::Attach at the live end), so it sees every event of
// every matching stream once, in seq order per stream, through the same
// delivery path as WebSocket/SSE clients. Events go into one bounded queue
// (arrival order across streams kept); one worker thread feeds them to the
// processors, ticks them every kTickMs, and publishes what they return with
// Hub::Publish, so derived streams get seq, history, persistence, metrics
// and fan-out like any other stream (and can feed further processors).
//
// Bound: at most `queue_events` events wait; past that an event is dropped
// for its processor and counted (livehub_process_dropped_total) — that
// processor's results then miss it (and are no longer a pure replay).
// State is in memory only: after a restart processors start empty, at the
// live end of their inputs (derived streams keep their history and seq).
// Thread safety: Start/Stop/RunOnce from one owner thread; the taps are
// called from publisher threads and only touch the queue (mu_).
// Lock order: Hub registry -> Stream -> Tap::mu_ / mu_.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "process/process_config.h"
#include "stream/hub.h"

namespace livehub {

class ProcessManager {
 public:
  static constexpr int64_t kTickMs = 100;

  // `time_index` resolves `time_field: $schema` (the schema registry's
  // TimeIndex); without it such processors see no event time.
  ProcessManager(Hub* hub, const ProcessConfig& config, TimeIndexLookup time_index = {});
  ~ProcessManager();
  ProcessManager(const ProcessManager&) = delete;
  ProcessManager& operator=(const ProcessManager&) = delete;

  // Subscribes every processor to its inputs (live end), then, with
  // `thread`, starts the worker. Without it, RunOnce drives (tests).
  void Start(bool thread = true);
  // Processes what was queued, publishes the results, stops the worker and
  // detaches. Idempotent.
  void Stop();
  // Feeds the queued events to the processors, then ticks them with now_ms,
  // and publishes the outputs. Returns the number of events processed.
  size_t RunOnce(int64_t now_ms);

  // The recent-list length of an alert stream, or nullopt if `stream` is not
  // one (GET /v1/alerts/{stream}).
  std::optional<size_t> AlertRecent(std::string_view stream) const;
  size_t size() const { return processors_.size(); }

 private:
  class Tap;
  struct Item {
    size_t processor;
    EventPtr event;
  };
  void Enqueue(size_t processor, const EventPtr& ev);
  void Publish(std::vector<Output>* outs);
  void Loop();

  Hub* hub_;
  const size_t queue_cap_;
  std::vector<std::unique_ptr<Processor>> processors_;
  std::vector<std::pair<std::string, size_t>> alert_streams_;
  std::vector<std::shared_ptr<Tap>> taps_;
  std::vector<uint64_t> watch_ids_;
  std::vector<Counter*> m_dropped_;
  Gauge* m_queue_;
  Counter* m_publish_failed_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Item> queue_;  // GUARDED_BY(mu_)
  bool stop_ = false;        // GUARDED_BY(mu_)
  std::thread worker_;
  bool started_ = false;
  int64_t last_tick_ms_ = 0;
};

}  // namespace livehub
