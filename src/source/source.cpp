#include "source/source.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>

#include "codec/body_decoder.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/strings.h"
#include "stream/pattern.h"

namespace livehub {
namespace {

constexpr size_t kMaxTrackedStreams = 256;  // streams told about health changes
constexpr size_t kMaxDrainBatch = 4096;     // records per drain slice
constexpr int64_t kStoreRetryMs = 200;
constexpr int64_t kDropEventIntervalMs = 1000;  // at most one drop event per second

int64_t NowMs() { return SystemClock::Get()->NowMs(); }

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // '*' matches any run of characters; everything else literally
  // (case-insensitive, host names).
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && AsciiLower(pattern[p]) == AsciiLower(text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

const char* SourceStateName(SourceState s) {
  switch (s) {
    case SourceState::kDisconnected:
      return "disconnected";
    case SourceState::kConnecting:
      return "connecting";
    case SourceState::kSubscribed:
      return "subscribed";
    case SourceState::kReceiving:
      return "receiving";
    case SourceState::kStalled:
      return "stalled";
  }
  return "?";
}

Result<PayloadFormat> ParsePayloadFormat(std::string_view s) {
  if (s == "json") return PayloadFormat::kJson;
  if (s == "ndjson") return PayloadFormat::kNdjson;
  if (s == "csv") return PayloadFormat::kCsv;
  if (s == "text") return PayloadFormat::kText;
  return Status::InvalidArgument(
      "bad_config", "format must be json, ndjson, csv or text, got '" + std::string(s) + "'");
}

const char* PayloadFormatName(PayloadFormat f) {
  switch (f) {
    case PayloadFormat::kJson:
      return "json";
    case PayloadFormat::kNdjson:
      return "ndjson";
    case PayloadFormat::kCsv:
      return "csv";
    case PayloadFormat::kText:
      return "text";
  }
  return "?";
}

Backoff::Backoff(BackoffOptions o, uint64_t seed) : o_(o), rng_(seed) {}

int64_t Backoff::Next() {
  double base = static_cast<double>(o_.initial_ms) * std::pow(o_.multiplier, attempt_);
  base = std::min(base, static_cast<double>(o_.max_ms));
  if (attempt_ < 64) ++attempt_;
  std::uniform_real_distribution<double> u(-o_.jitter, o_.jitter);
  double d = base * (1 + u(rng_));
  return std::clamp<int64_t>(static_cast<int64_t>(d), 0, o_.max_ms);
}

Source::Source(SourceContext* ctx, SourceOptions options)
    : ctx_(ctx),
      options_(std::move(options)),
      backoff_(options_.backoff, std::hash<std::string>()(options_.id) ^ uint64_t(NowMs())),
      drain_timer_(*ctx->ioc) {
  // Validated at config load; a bad template here is a bug.
  auto t = StreamTemplate::Parse(options_.stream);
  if (t.ok()) stream_template_ = std::move(*t);
  snap_.id = options_.id;
  snap_.type = options_.type;
  snap_.state_since_ms = NowMs();
}

Source::~Source() = default;

void Source::Start() {
  started_ = true;
  tokens_ = std::max(1.0, options_.max_rate / 10);
  tokens_ms_ = NowMs();
  DoStart();
}

void Source::Stop() {
  if (!started_) return;
  started_ = false;
  DoStop();
  drain_timer_.cancel();
  // Publish what is queued: accepted input is never dropped at shutdown
  // (the rate cap no longer matters).
  while (!queue_.empty()) {
    size_t before = queue_.size();
    Drain();
    if (queue_.size() == before) break;  // the store refuses: give up, counted below
  }
  if (!queue_.empty()) CountDrop("shutdown", queue_.size(), "store unavailable at shutdown");
  SetState(SourceState::kDisconnected);
}

Status Source::Control(std::string_view) {
  return Status::InvalidArgument("unsupported", "source '" + options_.id + "' (" + options_.type +
                                                    ") has no runtime controls");
}

SourceState Source::state() const {
  MutexLock lock(mu_);
  return snap_.state;
}

SourceSnapshot Source::Snapshot() const {
  MutexLock lock(mu_);
  SourceSnapshot s = snap_;
  s.queued_records = queue_.size();
  s.queued_bytes = queue_bytes_;
  s.throttled = throttled_;
  int64_t interval = options_.expected_interval_ms > 0 ? options_.expected_interval_ms
                                                       : static_cast<int64_t>(interval_ewma_ms_);
  s.stall_after_ms = std::max(3 * interval, options_.stall_floor_ms);
  return s;
}

void Source::SetState(SourceState s) {
  const int64_t now = NowMs();
  {
    MutexLock lock(mu_);
    if (snap_.state == s) return;
    snap_.state = s;
    snap_.state_since_ms = now;
  }
  if (s == SourceState::kSubscribed) subscribed_ms_ = now;
  EmitHealth();
}

void Source::SetError(std::string_view message) {
  {
    MutexLock lock(mu_);
    snap_.last_error = std::string(message.substr(0, 500));
    snap_.last_error_ms = NowMs();
  }
  LogLine(LogLevel::kWarn, "source error",
          JsonFields().Add("source", options_.id).Add("error", message.substr(0, 500)));
}

void Source::NoteReconnect() {
  uint64_t n;
  {
    MutexLock lock(mu_);
    n = ++snap_.reconnects;
  }
  hub()->SysEvent("reconnect", JsonFields().Add("source", options_.id).Add("reconnects", n));
}

void Source::EmitHealth() {
  SourceSnapshot s = Snapshot();
  JsonFields fields;
  fields.Add("source", s.id).Add("state", SourceStateName(s.state));
  if (s.last_message_ms) fields.Add("last_message_age_ms", NowMs() - s.last_message_ms);
  if (!s.last_error.empty()) fields.Add("last_error", s.last_error);
  hub()->SysEvent("health", fields);
  // Subscribers of the streams this source feeds get a `health` message.
  for (const std::string& name : streams_) {
    Stream* st = hub()->Find(name);
    if (!st) continue;
    std::string msg;
    JsonWriter m(&msg);
    m.BeginObject().Field("type", "health").Field("source", s.id);
    m.Field("state", SourceStateName(s.state)).Field("stream", name);
    if (s.last_message_ms) m.Field("last_message_age_ms", NowMs() - s.last_message_ms);
    m.EndObject();
    st->Notify("health", msg);
  }
}

void Source::TrackStream(const std::string& stream) {
  if (streams_.size() < kMaxTrackedStreams) streams_.insert(stream);
}

void Source::NoteMessage(int64_t now_ms) {
  SourceState st;
  {
    MutexLock lock(mu_);
    if (snap_.last_message_ms > 0) {
      double gap = static_cast<double>(now_ms - snap_.last_message_ms);
      interval_ewma_ms_ = interval_ewma_ms_ == 0 ? gap : 0.9 * interval_ewma_ms_ + 0.1 * gap;
    }
    snap_.last_message_ms = now_ms;
    ++snap_.messages_in;
    st = snap_.state;
  }
  if (st != SourceState::kReceiving) SetState(SourceState::kReceiving);
}

void Source::Tick(int64_t now_ms) {
  if (!started_) return;
  SourceSnapshot s = Snapshot();
  if (s.state == SourceState::kSubscribed || s.state == SourceState::kReceiving) {
    int64_t since = std::max(s.last_message_ms, subscribed_ms_);
    if (now_ms - since > s.stall_after_ms) SetState(SourceState::kStalled);
  }
  // Receiving for reset_after_ms since the last (re)connect: the next
  // failure starts the backoff over from its initial delay.
  if (s.state == SourceState::kReceiving && backoff_.attempts() > 0 &&
      now_ms - subscribed_ms_ >= options_.backoff.reset_after_ms) {
    backoff_.Reset();
  }
  if (drops_since_event_ > 0 && now_ms - last_drop_event_ms_ >= kDropEventIntervalMs) {
    CountDrop("", 0);  // flushes the summary
  }
}

void Source::CountDrop(std::string_view reason, uint64_t n, std::string_view detail) {
  const int64_t now = NowMs();
  if (n > 0) {
    MutexLock lock(mu_);
    snap_.dropped[std::string(reason)] += n;
  }
  drops_since_event_ += n;
  if (drops_since_event_ == 0 || now - last_drop_event_ms_ < kDropEventIntervalMs) return;
  JsonFields fields;
  fields.Add("source", options_.id).Add("dropped", drops_since_event_);
  if (!reason.empty()) fields.Add("reason", reason);
  if (!detail.empty()) fields.Add("detail", detail.substr(0, 300));
  hub()->SysEvent("drop", fields);
  drops_since_event_ = 0;
  last_drop_event_ms_ = now;
}

bool Source::Ingest(std::string_view payload, const TemplateVars& vars,
                    const StreamTemplate* tmpl) {
  if (!tmpl) tmpl = &stream_template_;
  const int64_t now = NowMs();
  NoteMessage(now);
  {
    MutexLock lock(mu_);
    snap_.bytes_in += payload.size();
  }
  if (payload.size() > options_.max_message_bytes) {
    CountDrop("oversize", 1,
              std::to_string(payload.size()) +
                  " bytes, limit max_message_bytes=" + std::to_string(options_.max_message_bytes));
    return !throttled_;
  }
  std::vector<std::string> records;
  if (options_.format == PayloadFormat::kText) {
    if (!simdjson::validate_utf8(payload.data(), payload.size())) {
      CountDrop("bad_utf8", 1, "text payload is not valid UTF-8");
      return !throttled_;
    }
    std::string s;
    AppendJsonString(&s, payload);
    records.push_back(std::move(s));
  } else {
    DecodeLimits limits;
    limits.max_event_bytes = options_.max_message_bytes;
    BodyFormat f = options_.format == PayloadFormat::kNdjson ? BodyFormat::kNdjson
                   : options_.format == PayloadFormat::kCsv  ? BodyFormat::kCsv
                                                             : BodyFormat::kJson;
    Status st;
    if (f == BodyFormat::kCsv && !options_.csv_columns.empty()) {
      std::string with_header;
      for (size_t i = 0; i < options_.csv_columns.size(); ++i) {
        if (i) with_header.push_back(',');
        with_header += options_.csv_columns[i];
      }
      with_header.push_back('\n');
      with_header.append(payload);
      st = DecodeBody(f, with_header, limits, &records);
    } else {
      st = DecodeBody(f, payload, limits, &records);
    }
    if (!st.ok()) {
      CountDrop(st.reason(), 1, st.message());
      return !throttled_;
    }
  }
  std::vector<Pending> items;
  items.reserve(records.size());
  for (std::string& r : records) {
    auto stream = tmpl->Render(options_.id, vars, r);
    if (!stream.ok()) {
      CountDrop("bad_stream", 1, stream.status().message());
      continue;
    }
    items.push_back({std::move(*stream), std::move(r), {}});
  }
  return Enqueue(std::move(items));
}

bool Source::IngestRecords(std::vector<std::pair<std::string, std::string>> stream_and_data,
                           size_t message_bytes) {
  NoteMessage(NowMs());
  {
    MutexLock lock(mu_);
    snap_.bytes_in += message_bytes;
  }
  std::vector<Pending> items;
  items.reserve(stream_and_data.size());
  for (auto& [stream, data] : stream_and_data) {
    if (Status st = ValidateStreamName(stream); !st.ok()) {
      CountDrop("bad_stream", 1, st.message());
      continue;
    }
    items.push_back({std::move(stream), std::move(data), {}});
  }
  return Enqueue(std::move(items));
}

bool Source::Enqueue(std::vector<Pending> items) {
  {
    MutexLock lock(mu_);
    for (Pending& p : items) {
      if (!p.stream.empty()) ++snap_.records_in;
      queue_bytes_ += p.charge();
      queue_.push_back(std::move(p));
    }
  }
  if (queue_bytes_ > options_.queue_max_bytes) {
    if (options_.policy == QueuePolicy::kThrottle) {
      throttled_ = true;
    } else {
      uint64_t dropped = 0;
      while (queue_bytes_ > options_.queue_max_bytes && !queue_.empty()) {
        Pending p;
        {
          MutexLock lock(mu_);
          p = std::move(queue_.front());
          queue_.pop_front();
          queue_bytes_ -= p.charge();
        }
        if (p.stream.empty()) {
          // A cursor marker covers only what came before it, which is now
          // published or dropped: it is due.
          if (Store* store = hub()->store()) store->PutCursor(options_.id, p.cursor_key, p.data);
        } else {
          ++dropped;
        }
      }
      if (dropped) {
        CountDrop("queue_full", dropped,
                  "ingest queue over max_bytes=" + std::to_string(options_.queue_max_bytes));
      }
    }
  }
  ScheduleDrain(0);
  return !throttled_;
}

void Source::ScheduleDrain(int64_t delay_ms) {
  if (drain_scheduled_ || queue_.empty()) return;
  drain_scheduled_ = true;
  if (delay_ms <= 0) {
    boost::asio::post(ioc(), [this] { Drain(); });
    return;
  }
  drain_timer_.expires_after(std::chrono::milliseconds(delay_ms));
  drain_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // cancelled: Stop drains
    Drain();
  });
}

void Source::Drain() {
  drain_scheduled_ = false;
  size_t budget = kMaxDrainBatch;
  int64_t next_delay = 0;
  if (options_.max_rate > 0 && started_) {
    const int64_t now = NowMs();
    const double burst = std::max(1.0, options_.max_rate / 10);
    tokens_ = std::min(burst, tokens_ + (now - tokens_ms_) * options_.max_rate / 1000.0);
    tokens_ms_ = now;
    budget = std::min(budget, static_cast<size_t>(tokens_));
    if (budget == 0) {
      next_delay =
          std::max<int64_t>(1, static_cast<int64_t>((1 - tokens_) * 1000 / options_.max_rate));
    }
  }
  size_t used = 0;
  std::vector<std::string> datas;
  bool store_busy = false;
  while (used < budget && !queue_.empty()) {
    Pending& head = queue_.front();
    if (head.stream.empty()) {  // cursor marker: everything before it is out
      if (Store* store = hub()->store()) store->PutCursor(options_.id, head.cursor_key, head.data);
      MutexLock lock(mu_);
      queue_bytes_ -= head.charge();
      queue_.pop_front();
      continue;
    }
    // A run of records for one stream becomes one publish.
    size_t n = 0;
    datas.clear();
    size_t bytes = 0;
    while (n < queue_.size() && used + n < budget && queue_[n].stream == head.stream &&
           !queue_[n].stream.empty()) {
      datas.push_back(queue_[n].data);
      bytes += queue_[n].charge();
      ++n;
    }
    auto r = hub()->Publish(head.stream, datas, /*allow_system=*/false, nullptr);
    if (r && !r->ok() && r->status().code() == StatusCode::kUnavailable) {
      // The store cannot take more right now: keep the records, retry.
      store_busy = true;
      break;
    }
    std::string stream = head.stream;
    {
      MutexLock lock(mu_);
      if (!r || r->ok()) snap_.events_published += n;
      for (size_t i = 0; i < n; ++i) queue_.pop_front();
      queue_bytes_ -= bytes;
    }
    if (r && !r->ok()) {
      CountDrop(r->status().reason(), n, r->status().message());
    } else if (!streams_.count(stream)) {
      TrackStream(stream);
    }
    used += n;
  }
  if (options_.max_rate > 0 && started_) tokens_ -= static_cast<double>(used);
  if (throttled_ && queue_bytes_ <= options_.queue_max_bytes / 2) {
    throttled_ = false;
    OnResume();
  }
  if (queue_.empty()) return;
  if (store_busy) {
    ScheduleDrain(kStoreRetryMs);
  } else if (options_.max_rate > 0 && started_) {
    ScheduleDrain(std::max<int64_t>(next_delay, static_cast<int64_t>(1000 / options_.max_rate)));
  } else {
    ScheduleDrain(0);
  }
}

std::optional<std::string> Source::LoadCursor(const std::string& key) {
  Store* store = hub()->store();
  if (!store) return std::nullopt;
  return store->GetCursor(options_.id, key);
}

void Source::SaveCursor(const std::string& key, std::string value) {
  if (queue_.empty()) {
    if (Store* store = hub()->store()) store->PutCursor(options_.id, key, value);
    return;
  }
  Pending marker{{}, std::move(value), key};
  MutexLock lock(mu_);
  queue_bytes_ += marker.charge();
  queue_.push_back(std::move(marker));
}

std::vector<std::pair<std::string, std::string>> Source::HeadersFor(std::string_view host) const {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const std::pair<std::string, std::string>& h) {
    for (auto& [k, v] : out) {
      if (EqualsIgnoreAsciiCase(k, h.first)) {
        v = h.second;
        return;
      }
    }
    out.push_back(h);
  };
  for (const HeaderRule& rule : ctx_->header_rules) {
    if (!GlobMatch(rule.host_pattern, host)) continue;
    for (const auto& h : rule.headers) add(h);
  }
  for (const auto& h : options_.headers) add(h);
  return out;
}

}  // namespace livehub
