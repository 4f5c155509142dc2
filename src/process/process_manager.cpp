#include "process/process_manager.h"

#include <algorithm>

#include "core/json_writer.h"
#include "core/log.h"

namespace livehub {

// One processor's subscription: attaches to each matching stream as it
// appears and hands its events to the manager's queue.
class ProcessManager::Tap final : public Subscriber,
                                  public StreamWatcher,
                                  public std::enable_shared_from_this<Tap> {
 public:
  Tap(ProcessManager* m, size_t index) : m_(m), index_(index) {}

  void OnEvent(const EventPtr& ev) override { m_->Enqueue(index_, ev); }
  void OnGap(Stream*, uint64_t, uint64_t, std::string_view) override {}
  // Called with the registry lock held, before the stream's first event.
  void OnStreamCreated(Stream* stream) override { AttachTo(stream); }

  void AttachTo(Stream* stream) {
    auto a = stream->Attach(shared_from_this(), 0);  // the live end
    stream->CatchUp(a.get(), SIZE_MAX);              // nothing to catch up: goes live
    std::lock_guard lock(mu_);
    attached_.emplace_back(stream, std::move(a));
  }
  void DetachAll() {
    std::vector<std::pair<Stream*, std::shared_ptr<Attachment>>> all;
    {
      std::lock_guard lock(mu_);
      all.swap(attached_);
    }
    for (auto& [s, a] : all) s->Detach(a);
  }

 private:
  ProcessManager* m_;
  const size_t index_;
  std::mutex mu_;
  std::vector<std::pair<Stream*, std::shared_ptr<Attachment>>> attached_;  // GUARDED_BY(mu_)
};

ProcessManager::ProcessManager(Hub* hub, const ProcessConfig& config, TimeIndexLookup time_index)
    : hub_(hub), queue_cap_(config.queue_events) {
  MetricsRegistry* metrics = hub->metrics();
  for (WindowSpec s : config.windows) {
    if (s.time.from_schema) s.time.schema_index = time_index;
    processors_.push_back(std::make_unique<WindowProcessor>(std::move(s), metrics));
  }
  for (AlertSpec s : config.alerts) {
    if (s.time.from_schema) s.time.schema_index = time_index;
    processors_.push_back(std::make_unique<AlertProcessor>(s, metrics));
    bool merged = false;  // several rules may write one alert stream: the largest list
    for (auto& [name, recent] : alert_streams_) {
      if (name == s.output) {
        recent = std::max(recent, s.recent);
        merged = true;
      }
    }
    if (!merged) alert_streams_.emplace_back(s.output, s.recent);
  }
  for (const auto& p : processors_) {
    m_dropped_.push_back(metrics->GetCounter(
        "process_dropped_total", "Events a processor never saw, by reason.",
        "processor=\"" + PromLabelValue(p->name()) + "\",reason=\"queue_full\""));
  }
  m_queue_ = metrics->GetGauge("process_queue_events", "Events waiting for the processors.");
  m_publish_failed_ = metrics->GetCounter("process_publish_failed_total",
                                          "Processor outputs the hub refused to append.");
}

ProcessManager::~ProcessManager() { Stop(); }

void ProcessManager::Start(bool thread) {
  if (started_) return;
  started_ = true;
  last_tick_ms_ = hub_->clock()->NowMs();
  for (size_t i = 0; i < processors_.size(); ++i) {
    auto tap = std::make_shared<Tap>(this, i);
    taps_.push_back(tap);
    watch_ids_.push_back(
        hub_->Watch(processors_[i]->input(), tap, [&tap](Stream* s) { tap->AttachTo(s); }));
  }
  if (thread) worker_ = std::thread([this] { Loop(); });
  LogLine(LogLevel::kInfo, "processors started",
          JsonFields().Add("processors", processors_.size()));
}

void ProcessManager::Stop() {
  if (!started_) return;
  started_ = false;
  for (uint64_t id : watch_ids_) hub_->Unwatch(id);
  watch_ids_.clear();
  for (auto& tap : taps_) tap->DetachAll();
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  RunOnce(hub_->clock()->NowMs());  // what arrived before the detach
  taps_.clear();
}

void ProcessManager::Enqueue(size_t processor, const EventPtr& ev) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() < queue_cap_) {
      queue_.push_back(Item{processor, ev});
      if (queue_.size() == 1) cv_.notify_one();
      return;
    }
  }
  m_dropped_[processor]->Add();
}

size_t ProcessManager::RunOnce(int64_t now_ms) {
  std::vector<Item> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(queue_);
  }
  m_queue_->Set(0);
  std::vector<Output> outs;
  for (const Item& it : batch) {
    const Event& ev = *it.event;
    InputRecord r{ev.stream->name(), ev.seq, ev.ts_ms, ev.data()};
    processors_[it.processor]->OnRecord(r, &outs);
    if (outs.size() >= 4096) Publish(&outs);  // keep the buffer bounded
  }
  // The clock the processors see never runs ahead of input still queued
  // (a backlog): processing-time windows must not close before their
  // events are read, and a source with queued events is not idle.
  int64_t tick_ms = now_ms;
  {
    std::lock_guard lock(mu_);
    if (!queue_.empty()) tick_ms = std::min(tick_ms, queue_.front().event->ts_ms);
  }
  for (auto& p : processors_) p->OnTick(tick_ms, &outs);
  Publish(&outs);
  return batch.size();
}

void ProcessManager::Publish(std::vector<Output>* outs) {
  // Consecutive outputs to one stream go as one atomic batch.
  std::vector<std::string> datas;
  for (size_t i = 0; i < outs->size();) {
    size_t j = i;
    datas.clear();
    while (j < outs->size() && (*outs)[j].stream == (*outs)[i].stream &&
           (*outs)[j].alert == (*outs)[i].alert && datas.size() < 1000) {
      datas.push_back(std::move((*outs)[j].data));
      ++j;
    }
    auto r = hub_->Publish((*outs)[i].stream, datas, false, nullptr);
    if ((*outs)[i].alert && (!r || r->ok())) {
      // Alerts are lifecycle events too: logged and on $sys/events.
      for (const std::string& d : datas) {
        hub_->SysEvent("alert", JsonFields().Add("stream", (*outs)[i].stream).AddRaw("alert", d));
      }
    }
    if (r && !r->ok()) {
      m_publish_failed_->Add(datas.size());
      LogLine(LogLevel::kWarn, "processor output refused",
              JsonFields().Add("stream", (*outs)[i].stream).Add("reason", r->status().reason()));
    }
    i = j;
  }
  outs->clear();
}

void ProcessManager::Loop() {
  const Clock* clock = hub_->clock();
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(kTickMs),
                   [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      m_queue_->Set(static_cast<int64_t>(queue_.size()));
    }
    RunOnce(clock->NowMs());
  }
}

std::optional<size_t> ProcessManager::AlertRecent(std::string_view stream) const {
  for (const auto& [name, recent] : alert_streams_) {
    if (name == stream) return recent;
  }
  return std::nullopt;
}

}  // namespace livehub
