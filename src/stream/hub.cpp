#include "stream/hub.h"

#include <algorithm>
#include <future>
#include <random>

#include "core/json_writer.h"
#include "core/log.h"

namespace livehub {

Hub::Hub(HubOptions options, const Clock* clock, MetricsRegistry* metrics, Store* store)
    : options_(std::move(options)), clock_(clock), metrics_(metrics), store_(store) {
  events_published_ =
      metrics_->GetCounter("events_published_total", "Events appended to streams (all sources).");
  bytes_published_ =
      metrics_->GetCounter("bytes_published_total", "Bytes of event data appended to streams.");
  streams_created_ = metrics_->GetCounter("streams_created_total", "Streams created.");
  keyed_dropped_ = metrics_->GetCounter(
      "keyed_diffs_dropped_total",
      "Keyed-state diffs dropped for naming another generation than the stream's.");
  std::random_device rd;
  epoch_salt_ = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(clock_->NowMs());
  metrics_->AddCollector([this](std::string* out) { RenderStreamMetrics(out); });
  if (store_) RestoreFromStore();
}

Durability Hub::DurabilityFor(std::string_view name) const {
  if (!store_ || name.starts_with(kSysPrefix)) return Durability::kMemory;
  for (const StreamRule& r : options_.rules) {
    if (r.durability && r.pattern.Matches(name)) return *r.durability;
  }
  return options_.durability;
}

HistoryLimits Hub::HistoryFor(std::string_view name) const {
  for (const StreamRule& r : options_.rules) {
    if (r.history && r.pattern.Matches(name)) return *r.history;
  }
  return options_.history;
}

RetentionLimits Hub::RetentionFor(std::string_view name) const {
  for (const StreamRule& r : options_.rules) {
    if (r.retention && r.pattern.Matches(name)) return *r.retention;
  }
  return options_.retention;
}

KeyedOptions Hub::KeyedFor(std::string_view name) const {
  if (name.starts_with(kSysPrefix)) return KeyedOptions{KeyedMode::kOff, 0};
  for (const StreamRule& r : options_.rules) {
    if (r.keyed && r.pattern.Matches(name)) return *r.keyed;
  }
  return options_.keyed;
}

void Hub::RestoreKeyed(Stream* stream, const StoredStream& ss) {
  // Rebuild the state from every stored event (bounded by the stream's
  // retention), in chunks. A full evicted by retention leaves its diffs
  // without a baseline: they are dropped and the stream needs a full.
  constexpr size_t kChunk = 10'000;
  if (KeyedFor(ss.name).mode == KeyedMode::kInfer) {
    // Inferred streams are keyed only if their first event is a `full`:
    // look at that one event before replaying anything (most streams are
    // not keyed, and a restart must not read their whole history).
    if (ss.first_seq != 1 || ss.last_seq == 0) return;
    std::vector<StoredEvent> first;
    if (!store_->Read(ss.id, 1, 1, 1, 64u << 20, &first).ok() || first.empty() ||
        !KeyedState::LooksLikeFull(first.front().data)) {
      return;
    }
  }
  uint64_t from = ss.first_seq;
  while (from <= ss.last_seq) {
    std::vector<StoredEvent> rows;
    if (!store_->Read(ss.id, from, ss.last_seq, kChunk, 64u << 20, &rows).ok() || rows.empty()) {
      break;
    }
    for (const StoredEvent& r : rows) stream->ReplayKeyed(r.seq, r.data);
    from = rows.back().seq + 1;
  }
}

void Hub::RestoreFromStore() {
  const bool crashed = store_->previous_run_crashed();
  size_t restored = 0, new_epochs = 0;
  for (const StoredStream& ss : store_->loaded()) {
    const Durability d = DurabilityFor(ss.name);
    if (d == Durability::kMemory || !ValidateStreamName(ss.name).ok()) continue;
    // After a crash an `async` stream may have acknowledged (and delivered)
    // events that never reached the disk: its seqs would be reused for other
    // data. A new epoch tells every client to reset instead.
    std::string epoch = ss.epoch;
    if (crashed && d == Durability::kAsync) {
      epoch = NewEpoch();
      ++new_epochs;
    }
    const HistoryLimits limits = HistoryFor(ss.name);
    auto stream = std::make_unique<Stream>(ss.name, epoch, limits, clock_);
    const int64_t id = store_->AddStream(ss.name, epoch, ss.created_ms, ss.last_seq);
    store_->SetRetention(id, RetentionFor(ss.name));
    stream->SetStorage(StreamStorage{store_, id, d});
    const KeyedOptions keyed = KeyedFor(ss.name);
    stream->SetKeyed(keyed);
    if (keyed.mode != KeyedMode::kOff) RestoreKeyed(stream.get(), ss);
    std::vector<StoredEvent> rows;
    const uint64_t want = std::min<uint64_t>(limits.max_events, ss.events);
    if (want > 0) {
      // No byte cap here (`want` bounds it): the ring trims to its limits,
      // keeping the newest, so history always reaches the watermark.
      (void)store_->Read(id, ss.last_seq - want + 1, ss.last_seq, want, SIZE_MAX, &rows);
    }
    std::vector<EventPtr> recent;
    const int64_t mono = clock_->MonoNs();
    for (const StoredEvent& r : rows) {
      recent.push_back(MakeEvent(stream.get(), ss.name, epoch, r.seq, r.ts_ms, mono, r.data));
    }
    stream->Restore(ss.last_seq + 1, ss.last_ts_ms, recent);
    {
      // Uncontended (the constructor runs this, before the hub is shared).
      WriterLock lock(registry_mu_);
      streams_.emplace(ss.name, std::move(stream));
    }
    ++restored;
  }
  LogLine(LogLevel::kInfo, "store restored",
          JsonFields()
              .Add("streams", restored)
              .Add("new_epochs", new_epochs)
              .Add("previous_run_crashed", crashed));
}

std::string Hub::NewEpoch() {
  // 12 base-36 chars from a per-process salt and a counter: unique across
  // restarts and streams, opaque to clients.
  static std::atomic<uint64_t> counter{0};
  uint64_t x = epoch_salt_ + 0x9E3779B97F4A7C15ull * (++counter);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string e;
  for (int i = 0; i < 12; ++i) {
    e.push_back(kDigits[x % 36]);
    x /= 36;
  }
  return e;
}

Result<Stream*> Hub::GetOrCreate(std::string_view name) {
  {
    ReaderLock lock(registry_mu_);
    auto it = streams_.find(std::string(name));
    if (it != streams_.end()) return it->second.get();
  }
  WriterLock lock(registry_mu_);
  auto it = streams_.find(std::string(name));
  if (it != streams_.end()) return it->second.get();
  if (streams_.size() >= options_.max_streams) {
    metrics_
        ->GetCounter("publish_rejected_total", "Publishes rejected, by reason.",
                     "reason=\"too_many_streams\"")
        ->Add();
    return Status::ResourceExhausted(
        "too_many_streams", "cannot create stream '" + std::string(name) + "': the hub holds " +
                                std::to_string(streams_.size()) +
                                " streams, limits.max_streams is " +
                                std::to_string(options_.max_streams));
  }
  auto stream = std::make_unique<Stream>(std::string(name), NewEpoch(), HistoryFor(name), clock_);
  Stream* s = stream.get();
  s->SetKeyed(KeyedFor(name));
  if (Durability d = DurabilityFor(name); d != Durability::kMemory) {
    const int64_t id = store_->AddStream(s->name(), s->epoch(), clock_->NowMs(), 0);
    store_->SetRetention(id, RetentionFor(name));
    s->SetStorage(StreamStorage{store_, id, d});
  }
  streams_.emplace(std::string(name), std::move(stream));
  streams_created_->Add();
  // Wildcard subscribers get the new stream before its first event.
  for (auto& [id, w] : watches_) {
    if (!w.pattern.Matches(name)) continue;
    if (auto watcher = w.watcher.lock()) watcher->OnStreamCreated(s);
  }
  return s;
}

std::optional<Result<PublishAck>> Hub::Publish(std::string_view name,
                                               const std::vector<std::string>& datas,
                                               bool allow_system, PublishDone on_commit) {
  using R = Result<PublishAck>;
  if (!allow_system && name.starts_with(kSysPrefix)) {
    return R(Status::PermissionDenied("streams under '$sys/' are written only by the hub"));
  }
  if (Status st = ValidateStreamName(name, allow_system); !st.ok()) return R(st);
  if (datas.empty()) return R(Status::InvalidArgument("empty_batch", "nothing to publish"));
  if (check_ && !name.starts_with(kSysPrefix)) {
    if (Status st = check_->Check(this, name, datas); !st.ok()) {
      metrics_
          ->GetCounter("publish_rejected_total", "Publishes rejected, by reason.",
                       "reason=\"" + st.reason() + "\"")
          ->Add();
      return R(st);
    }
  }
  auto stream = GetOrCreate(name);
  if (!stream.ok()) return R(stream.status());
  if ((*stream)->keyed() && on_commit) {
    // A `sync` keyed publish learns what was dropped only at the commit.
    on_commit = [counter = keyed_dropped_, done = std::move(on_commit)](Result<PublishAck> r) {
      if (r.ok() && r->dropped) counter->Add(r->dropped);
      done(std::move(r));
    };
  }
  auto result = (*stream)->Append(datas, std::move(on_commit));
  if (result && result->ok() && (*result)->dropped) {
    keyed_dropped_->Add((*result)->dropped);
  }
  if (result && !result->ok()) {
    if (result->status().reason() == "generation_mismatch") {
      keyed_dropped_->Add(datas.size());
    }
    metrics_
        ->GetCounter("publish_rejected_total", "Publishes rejected, by reason.",
                     "reason=\"" + result->status().reason() + "\"")
        ->Add();
    return result;
  }
  events_published_->Add(datas.size());
  size_t bytes = 0;
  for (const auto& d : datas) bytes += d.size();
  bytes_published_->Add(bytes);
  return result;
}

Result<PublishAck> Hub::Publish(std::string_view name, const std::vector<std::string>& datas,
                                bool allow_system) {
  auto done = std::make_shared<std::promise<Result<PublishAck>>>();
  auto now = Publish(name, datas, allow_system,
                     [done](Result<PublishAck> r) { done->set_value(std::move(r)); });
  if (now) return std::move(*now);
  return done->get_future().get();
}

Stream* Hub::Find(std::string_view name) const {
  ReaderLock lock(registry_mu_);
  auto it = streams_.find(std::string(name));
  return it == streams_.end() ? nullptr : it->second.get();
}

std::vector<Stream*> Hub::List() const {
  std::vector<Stream*> out;
  {
    ReaderLock lock(registry_mu_);
    out.reserve(streams_.size());
    for (const auto& [name, s] : streams_) out.push_back(s.get());
  }
  std::sort(out.begin(), out.end(),
            [](const Stream* a, const Stream* b) { return a->name() < b->name(); });
  return out;
}

size_t Hub::stream_count() const {
  ReaderLock lock(registry_mu_);
  return streams_.size();
}

uint64_t Hub::Watch(const Pattern& pattern, std::weak_ptr<StreamWatcher> watcher,
                    const std::function<void(Stream*)>& existing) {
  WriterLock lock(registry_mu_);
  uint64_t id = next_watch_id_++;
  if (!pattern.exact()) watches_.emplace(id, WatchEntry{pattern, std::move(watcher)});
  if (pattern.exact()) {
    auto it = streams_.find(pattern.text());
    if (it != streams_.end()) existing(it->second.get());
    // An exact subscription to a stream that does not exist yet still picks
    // it up when it is created.
    else
      watches_.emplace(id, WatchEntry{pattern, std::move(watcher)});
  } else {
    for (const auto& [name, s] : streams_) {
      if (pattern.Matches(name)) existing(s.get());
    }
  }
  return id;
}

void Hub::Unwatch(uint64_t watch_id) {
  WriterLock lock(registry_mu_);
  watches_.erase(watch_id);
}

void Hub::SysEvent(std::string_view kind, const JsonFields& fields) {
  std::string data;
  JsonWriter w(&data);
  w.BeginObject().Field("event", kind);
  data.append(fields.text());
  data.push_back('}');
  LogLine(LogLevel::kInfo, kind, fields);
  std::vector<std::string> one{std::move(data)};
  (void)Publish("$sys/events", one, /*allow_system=*/true);
}

void Hub::EvictExpired() {
  size_t n = 0;
  for (Stream* s : List()) n += s->EvictExpired();
  if (n) {
    metrics_
        ->GetCounter("history_evicted_total", "Events evicted from in-memory history.",
                     "reason=\"age\"")
        ->Add(n);
  }
}

void Hub::RenderStreamMetrics(std::string* out) const {
  std::vector<StreamStats> stats;
  for (Stream* s : List()) stats.push_back(s->GetStats());
  auto family = [&](const char* name, const char* help, const char* type, auto get) {
    AppendFamilyHeader(out, name, help, type);
    for (const auto& st : stats) {
      *out += "livehub_";
      *out += name;
      *out += "{stream=\"" + PromLabelValue(st.watermark.stream) + "\"} " +
              std::to_string(get(st)) + "\n";
    }
  };
  family("stream_events_in_total", "Events appended per stream.", "counter",
         [](const StreamStats& s) { return s.events_in; });
  family("stream_bytes_in_total", "Event data bytes appended per stream.", "counter",
         [](const StreamStats& s) { return s.bytes_in; });
  family("stream_latest_seq", "Latest seq per stream.", "gauge",
         [](const StreamStats& s) { return s.watermark.latest_seq; });
  family("stream_history_events", "Events held in memory per stream.", "gauge",
         [](const StreamStats& s) { return static_cast<uint64_t>(s.history_events); });
  family("stream_history_bytes", "Bytes held in memory per stream.", "gauge",
         [](const StreamStats& s) { return static_cast<uint64_t>(s.history_bytes); });
  family("stream_subscribers", "Subscriber attachments per stream.", "gauge",
         [](const StreamStats& s) { return static_cast<uint64_t>(s.subscribers); });
  family("stream_evicted_total", "Events evicted from memory per stream.", "counter",
         [](const StreamStats& s) { return s.evicted; });
  AppendFamilyHeader(out, "streams", "Streams in the hub.", "gauge");
  *out += "livehub_streams " + std::to_string(stats.size()) + "\n";
}

}  // namespace livehub
