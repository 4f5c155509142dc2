#include "source/source_manager.h"

#include <cstdlib>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include "core/clock.h"
#include "core/log.h"
#include "metrics/metrics.h"

namespace livehub {
namespace {

bool ValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void WriteSnapshot(const SourceSnapshot& s, JsonWriter* w, int64_t now_ms) {
  w->Field("id", s.id).Field("type", s.type).Field("state", SourceStateName(s.state));
  w->Field("state_since_ms", s.state_since_ms);
  w->Key("last_message_ms");
  if (s.last_message_ms)
    w->Int(s.last_message_ms);
  else
    w->Null();
  w->Key("last_message_age_ms");
  if (s.last_message_ms)
    w->Int(now_ms - s.last_message_ms);
  else
    w->Null();
  w->Field("stall_after_ms", s.stall_after_ms);
  w->Field("reconnects", s.reconnects);
  w->Key("last_error");
  if (s.last_error.empty())
    w->Null();
  else
    w->String(s.last_error);
  w->Key("last_error_ms");
  if (s.last_error_ms)
    w->Int(s.last_error_ms);
  else
    w->Null();
  w->Field("messages_in", s.messages_in).Field("bytes_in", s.bytes_in);
  w->Field("records_in", s.records_in).Field("events_published", s.events_published);
  w->Key("queue").BeginObject().Field("records", s.queued_records);
  w->Field("bytes", s.queued_bytes).Field("throttled", s.throttled).EndObject();
  w->Key("dropped").BeginObject();
  for (const auto& [reason, n] : s.dropped) w->Field(reason, n);
  w->EndObject();
}

}  // namespace

namespace {

Result<std::string> SecretValue(std::string_view name) {
  if (name.starts_with("file:")) {
    std::string path(name.substr(5));
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return Status::InvalidArgument("bad_config", "cannot read secret file '" + path + "'");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string v = ss.str();
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
    return v;
  }
  const char* v = std::getenv(std::string(name).c_str());
  if (!v) {
    return Status::InvalidArgument("bad_config",
                                   "environment variable " + std::string(name) + " is not set");
  }
  return std::string(v);
}

}  // namespace

Result<std::string> ResolveSecret(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i).starts_with("$${")) {  // escaped: a literal "${"
      out += "${";
      i += 3;
      continue;
    }
    if (!text.substr(i).starts_with("${")) {
      out.push_back(text[i++]);
      continue;
    }
    size_t close = text.find('}', i);
    if (close == std::string_view::npos) {
      return Status::InvalidArgument("bad_config", "unclosed '${' in a secret reference");
    }
    auto v = SecretValue(text.substr(i + 2, close - i - 2));
    if (!v.ok()) return v.status();
    out += *v;
    i = close + 1;
  }
  return out;
}

void ParseNetworkSection(ConfigWalker& w, const YAML::Node& node, const std::string& path,
                         SourcesConfig* out) {
  w.Map(node, path, {{"headers", [&](const YAML::Node& n, const std::string& p) {
                        if (!n.IsSequence()) return w.Fail(p, "must be a list of {hosts, headers}");
                        for (size_t i = 0; i < n.size(); ++i) {
                          std::string ip = p + "[" + std::to_string(i) + "]";
                          HeaderRule rule;
                          rule.host_pattern = "*";
                          w.Map(n[i], ip,
                                {{"hosts", w.Scalar<std::string>(&rule.host_pattern)},
                                 {"headers", w.StringMap(&rule.headers)}});
                          for (auto& [k, v] : rule.headers) {
                            auto r = ResolveSecret(v);
                            if (!r.ok()) return w.Fail(ip + ".headers." + k, r.status().message());
                            v = std::move(*r);
                          }
                          out->header_rules.push_back(std::move(rule));
                        }
                      }}});
}

void ParseSourcesSection(ConfigWalker& w, const YAML::Node& node, const std::string& path,
                         SourcesConfig* out) {
  if (node.IsNull()) return;
  if (!node.IsSequence()) return w.Fail(path, "must be a list of sources");
  std::set<std::string> ids;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& n = node[i];
    std::string ip = path + "[" + std::to_string(i) + "]";
    if (!n.IsMap()) return w.Fail(ip, "must be a mapping");
    SourceOptions o;
    if (!n["id"] || !n["id"].IsScalar()) return w.Fail(ip + ".id", "is required");
    if (!n["type"] || !n["type"].IsScalar()) return w.Fail(ip + ".type", "is required");
    o.id = n["id"].Scalar();
    o.type = n["type"].Scalar();
    if (!ValidId(o.id)) {
      return w.Fail(ip + ".id", "must be 1-64 characters of [A-Za-z0-9._-], got '" + o.id + "'");
    }
    if (!ids.insert(o.id).second) return w.Fail(ip + ".id", "duplicate source id '" + o.id + "'");
    const SourceType* type = FindSourceType(o.type);
    if (!type) {
      std::string known;
      for (const SourceType& t : SourceTypes()) known += (known.empty() ? "" : ", ") + t.name;
      return w.Fail(ip + ".type", "unknown source type '" + o.type + "' (known: " + known + ")");
    }
    if (o.type == "mock") o.stream = "{id}/{key}";
    std::string format, policy, id_ignored, type_ignored;
    bool enabled = true;
    bool has_section = false;
    YAML::Node section;
    std::map<std::string, ConfigWalker::Handler> handlers = {
        {"id", w.Scalar<std::string>(&id_ignored)},
        {"type", w.Scalar<std::string>(&type_ignored)},
        {"enabled", w.Scalar<bool>(&enabled)},
        {"stream", w.Scalar<std::string>(&o.stream)},
        {"format", w.Scalar<std::string>(&format)},
        {"csv_columns", w.StringList(&o.csv_columns)},
        {"max_message_bytes", w.Scalar<size_t>(&o.max_message_bytes, 16)},
        {"max_rate", w.Scalar<double>(&o.max_rate, 0)},
        {"expected_interval_s", w.Seconds(&o.expected_interval_ms)},
        {"stall_after_min_s", w.Seconds(&o.stall_floor_ms)},
        {"connect_timeout_s", w.Seconds(&o.connect_timeout_ms)},
        {"read_timeout_s", w.Seconds(&o.read_timeout_ms)},
        {"headers", w.StringMap(&o.headers)},
        {"queue",
         [&](const YAML::Node& qn, const std::string& qp) {
           w.Map(qn, qp,
                 {{"max_bytes", w.Scalar<size_t>(&o.queue_max_bytes, 1024)},
                  {"policy", w.Scalar<std::string>(&policy)}});
         }},
        {"backoff",
         [&](const YAML::Node& bn, const std::string& bp) {
           w.Map(bn, bp,
                 {{"initial_s", w.Seconds(&o.backoff.initial_ms)},
                  {"max_s", w.Seconds(&o.backoff.max_ms)},
                  {"multiplier", w.Scalar<double>(&o.backoff.multiplier, 1)},
                  {"jitter", w.Scalar<double>(&o.backoff.jitter, 0)},
                  {"reset_after_s", w.Seconds(&o.backoff.reset_after_ms)}});
         }},
        {"tls",
         [&](const YAML::Node& tn, const std::string& tp) {
           w.Map(tn, tp,
                 {{"verify", w.Scalar<bool>(&o.tls.verify)},
                  {"ca_file", w.Scalar<std::string>(&o.tls.ca_file)}});
         }},
        {o.type,
         [&](const YAML::Node& sn, const std::string&) {
           has_section = true;
           section = sn;
         }},
    };
    w.Map(n, ip, handlers);
    if (!w.status().ok()) return;
    if (!format.empty()) {
      auto f = ParsePayloadFormat(format);
      if (!f.ok()) return w.Fail(ip + ".format", f.status().message());
      o.format = *f;
    }
    if (!policy.empty()) {
      if (policy == "drop_oldest")
        o.policy = QueuePolicy::kDropOldest;
      else if (policy == "throttle")
        o.policy = QueuePolicy::kThrottle;
      else
        return w.Fail(ip + ".queue.policy",
                      "must be drop_oldest or throttle, got '" + policy + "'");
    }
    if (o.backoff.jitter > 1) return w.Fail(ip + ".backoff.jitter", "must be between 0 and 1");
    if (o.backoff.initial_ms < 1) return w.Fail(ip + ".backoff.initial_s", "must be > 0");
    if (o.backoff.max_ms < o.backoff.initial_ms) {
      return w.Fail(ip + ".backoff.max_s", "must be >= backoff.initial_s");
    }
    if (auto t = StreamTemplate::Parse(o.stream); !t.ok()) {
      return w.Fail(ip + ".stream", t.status().message());
    }
    for (auto& [k, v] : o.headers) {
      auto r = ResolveSecret(v);
      if (!r.ok()) return w.Fail(ip + ".headers." + k, r.status().message());
      v = std::move(*r);
    }
    o.settings = type->parse(w, has_section ? section : YAML::Node(YAML::NodeType::Null),
                             ip + "." + o.type, &o);
    if (!w.status().ok()) return;
    if (enabled) out->sources.push_back(std::move(o));
  }
}

SourceManager::SourceManager(Hub* hub, MetricsRegistry* metrics, SourcesConfig config)
    : hub_(hub), metrics_(metrics), config_(std::move(config)), tick_timer_(ioc_) {
  ctx_.hub = hub_;
  ctx_.ioc = &ioc_;
  ctx_.metrics = metrics_;
  ctx_.header_rules = config_.header_rules;
  metrics_->AddCollector([this](std::string* out) { RenderMetrics(out); });
}

SourceManager::~SourceManager() { Stop(); }

void SourceManager::Create() {
  if (started_) return;
  for (const SourceOptions& o : config_.sources) {
    const SourceType* type = FindSourceType(o.type);
    sources_.push_back(type->create(&ctx_, o));
  }
  // sources_ is complete before other threads (HTTP, metrics) may look.
  started_.store(true, std::memory_order_release);
  guard_ =
      std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
          ioc_.get_executor());
  thread_ = std::thread([this] {
    try {
      ioc_.run();
    } catch (const std::exception& e) {
      LogLine(LogLevel::kError, "sources thread failed", JsonFields().Add("error", e.what()));
    }
  });
}

void SourceManager::Start() {
  Create();
  boost::asio::post(ioc_, [this] {
    if (running_) return;
    running_ = true;
    for (auto& s : sources_) s->Start();
    ArmTick();
  });
}

void SourceManager::Stop() {
  if (!started_) return;
  started_ = false;
  std::promise<void> done;
  boost::asio::post(ioc_, [&] {
    tick_timer_.cancel();
    if (running_) {
      for (auto& s : sources_) s->Stop();
    }
    running_ = false;
    done.set_value();
  });
  done.get_future().wait_for(std::chrono::seconds(10));
  guard_.reset();
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
}

void SourceManager::ArmTick() {
  tick_timer_.expires_after(std::chrono::milliseconds(250));
  tick_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    const int64_t now = SystemClock::Get()->NowMs();
    for (auto& s : sources_) s->Tick(now);
    ArmTick();
  });
}

Source* SourceManager::Find(std::string_view id) const {
  for (const auto& s : sources_) {
    if (s->id() == id) return s.get();
  }
  return nullptr;
}

void SourceManager::Describe(Source* s, JsonWriter* w) {
  w->BeginObject();
  WriteSnapshot(s->Snapshot(), w, SystemClock::Get()->NowMs());
  const SourceOptions& o = s->options();
  w->Field("stream", o.stream).Field("format", PayloadFormatName(o.format));
  w->Key("limits").BeginObject().Field("queue_max_bytes", static_cast<uint64_t>(o.queue_max_bytes));
  w->Field("policy", o.policy == QueuePolicy::kThrottle ? "throttle" : "drop_oldest");
  w->Field("max_message_bytes", static_cast<uint64_t>(o.max_message_bytes));
  w->Field("max_rate", o.max_rate).EndObject();
  // Header names only: values may be secrets.
  auto headers = s->options().headers;
  w->Key("header_names").BeginArray();
  for (const auto& [k, v] : headers) w->String(k);
  w->EndArray();
  s->DescribeTo(w);
  w->EndObject();
}

void SourceManager::List(Done done) {
  if (!started_) return done(std::string("{\"sources\":[]}"));
  boost::asio::post(ioc_, [this, done = std::move(done)] {
    std::string out;
    JsonWriter w(&out);
    w.BeginObject().Key("sources").BeginArray();
    for (auto& s : sources_) Describe(s.get(), &w);
    w.EndArray().EndObject();
    done(std::move(out));
  });
}

void SourceManager::Get(std::string_view id, Done done) {
  Source* src = started_ ? Find(id) : nullptr;
  if (!src) return done(Status::NotFound("no source '" + std::string(id) + "'"));
  boost::asio::post(ioc_, [this, src, done = std::move(done)] {
    std::string out;
    JsonWriter w(&out);
    Describe(src, &w);
    done(std::move(out));
  });
}

void SourceManager::Control(std::string_view id, std::string_view body, Done done) {
  Source* src = started_ ? Find(id) : nullptr;
  if (!src) return done(Status::NotFound("no source '" + std::string(id) + "'"));
  boost::asio::post(ioc_, [this, src, body = std::string(body), done = std::move(done)] {
    if (Status st = src->Control(body); !st.ok()) return done(st);
    std::string out;
    JsonWriter w(&out);
    Describe(src, &w);
    done(std::move(out));
  });
}

void SourceManager::RenderMetrics(std::string* out) const {
  // sources_ is filled by Start and never changes afterwards.
  if (!started_.load(std::memory_order_acquire) || sources_.empty()) return;
  std::vector<SourceSnapshot> snaps;
  for (const auto& s : sources_) snaps.push_back(s->Snapshot());
  const int64_t now = SystemClock::Get()->NowMs();
  auto label = [](const SourceSnapshot& s) {
    return "source=\"" + PromLabelValue(s.id) + "\",type=\"" + PromLabelValue(s.type) + "\"";
  };
  auto family = [&](const char* name, const char* help, const char* type, auto get) {
    AppendFamilyHeader(out, name, help, type);
    for (const auto& s : snaps) {
      *out += "livehub_";
      *out += name;
      *out += "{" + label(s) + "} " + std::to_string(get(s)) + "\n";
    }
  };
  family("source_messages_total", "Messages received from upstream, per source.", "counter",
         [](const SourceSnapshot& s) { return s.messages_in; });
  family("source_bytes_total", "Payload bytes received from upstream, per source.", "counter",
         [](const SourceSnapshot& s) { return s.bytes_in; });
  family("source_records_total", "Records decoded from upstream messages, per source.", "counter",
         [](const SourceSnapshot& s) { return s.records_in; });
  family("source_events_published_total", "Events a source published into streams.", "counter",
         [](const SourceSnapshot& s) { return s.events_published; });
  family("source_queue_bytes", "Bytes waiting in a source's ingest queue.", "gauge",
         [](const SourceSnapshot& s) { return s.queued_bytes; });
  family("source_queue_records", "Records waiting in a source's ingest queue.", "gauge",
         [](const SourceSnapshot& s) { return s.queued_records; });
  family("source_throttled", "1 while a source's reading is paused by its queue (throttle).",
         "gauge", [](const SourceSnapshot& s) { return s.throttled ? 1 : 0; });
  family("source_reconnects_total", "Reconnect attempts, per source.", "counter",
         [](const SourceSnapshot& s) { return s.reconnects; });
  AppendFamilyHeader(out, "source_last_message_age_seconds",
                     "Seconds since a source last received a message (-1: never).", "gauge");
  for (const auto& s : snaps) {
    double age = s.last_message_ms ? (now - s.last_message_ms) / 1000.0 : -1;
    *out +=
        "livehub_source_last_message_age_seconds{" + label(s) + "} " + std::to_string(age) + "\n";
  }
  AppendFamilyHeader(out, "source_state", "1 for the state a source is in.", "gauge");
  static const SourceState kStates[] = {SourceState::kDisconnected, SourceState::kConnecting,
                                        SourceState::kSubscribed, SourceState::kReceiving,
                                        SourceState::kStalled};
  for (const auto& s : snaps) {
    for (SourceState st : kStates) {
      *out += "livehub_source_state{" + label(s) + ",state=\"" + SourceStateName(st) + "\"} " +
              (s.state == st ? "1" : "0") + "\n";
    }
  }
  AppendFamilyHeader(out, "source_dropped_total",
                     "Messages or records a source did not publish, by reason.", "counter");
  for (const auto& s : snaps) {
    for (const auto& [reason, n] : s.dropped) {
      *out += "livehub_source_dropped_total{" + label(s) + ",reason=\"" + PromLabelValue(reason) +
              "\"} " + std::to_string(n) + "\n";
    }
  }
}

}  // namespace livehub
