// PollingSource: see poll_source.h.
#include "source/poll_source.h"

#include <algorithm>
#include <chrono>

namespace livehub {
namespace {

int64_t SteadyMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

void AddPollConfigKeys(ConfigWalker& w, PollSettings* s,
                       std::map<std::string, ConfigWalker::Handler>* handlers) {
  (*handlers)["url"] = w.Scalar<std::string>(&s->url);
  (*handlers)["interval_s"] = w.Seconds(&s->interval_ms);
  (*handlers)["max_requests_per_min"] = w.Scalar<int>(&s->max_requests_per_min, 1);
  (*handlers)["timeout_s"] = w.Seconds(&s->timeout_ms);
}

void FinishPollConfig(ConfigWalker& w, const std::string& path, PollSettings* s,
                      SourceOptions* common) {
  if (!w.status().ok()) return;
  if (s->url.empty()) return w.Fail(path + ".url", "is required");
  auto u = ParseHttpUrl(s->url);
  if (!u.ok()) return w.Fail(path + ".url", u.status().message());
  s->parsed = *u;
  if (s->interval_ms < 1) return w.Fail(path + ".interval_s", "must be at least 0.001");
  if (s->max_requests_per_min > 60'000) {
    return w.Fail(path + ".max_requests_per_min", "must be at most 60000");
  }
  if (s->timeout_ms < 1) return w.Fail(path + ".timeout_s", "must be at least 0.001");
  // Data can come no faster than the polls: stall after 3 missed ones.
  if (common->expected_interval_ms == 0) {
    common->expected_interval_ms =
        std::max<int64_t>(s->interval_ms, 60'000 / s->max_requests_per_min);
  }
}

PollingSource::PollingSource(SourceContext* ctx, SourceOptions options, PollSettings poll)
    : Source(ctx, std::move(options)), poll_(std::move(poll)), timer_(ioc()) {}

void PollingSource::DoStart() {
  if (poll_.parsed.tls) {
    auto c = MakeTlsClientContext(options().tls);
    if (c.ok())
      tls_ctx_ = *c;
    else
      SetError(c.status().message());
  }
  SetState(SourceState::kConnecting);
  ScheduleNext(0, false);
}

void PollingSource::DoStop() {
  stopped_ = true;
  timer_.cancel();
  if (fetch_) fetch_->Cancel();
  fetch_.reset();
}

void PollingSource::OnResume() {
  if (stopped_ || !paused_) return;
  paused_ = false;
  ScheduleNext(poll_.interval_ms, false);
}

void PollingSource::DescribePoll(JsonWriter* w) const {
  w->Field("url", RedactUrl(poll_.url));
  w->Field("interval_ms", poll_.interval_ms);
  w->Field("max_requests_per_min", poll_.max_requests_per_min);
  w->Field("timeout_ms", poll_.timeout_ms);
  w->Field("polls", polls_).Field("not_modified", not_modified_).Field("errors", errors_);
  w->Key("last_status");
  if (last_status_)
    w->Int(last_status_);
  else
    w->Null();
}

// The next request starts after `delay_ms`, and never sooner than
// 60 s / max_requests_per_min after the previous one started.
void PollingSource::ScheduleNext(int64_t delay_ms, bool reconnect) {
  if (stopped_) return;
  const int64_t now = SteadyMs();
  const int64_t spacing = (60'000 + poll_.max_requests_per_min - 1) / poll_.max_requests_per_min;
  int64_t at = now + std::max<int64_t>(delay_ms, 0);
  if (last_request_ms_ > 0) at = std::max(at, last_request_ms_ + spacing);
  timer_.expires_after(std::chrono::milliseconds(at - now));
  timer_.async_wait([this, reconnect](boost::system::error_code ec) {
    if (ec || stopped_) return;
    if (reconnect) {
      NoteReconnect();
      SetState(SourceState::kConnecting);
    }
    Poll();
  });
}

void PollingSource::Poll() {
  if (poll_.parsed.tls && !tls_ctx_) {
    // The TLS settings are unusable (e.g. an unreadable CA file).
    return Fail("TLS setup failed for " + poll_.parsed.HostHeader() + " (see tls.ca_file)");
  }
  last_request_ms_ = SteadyMs();
  ++polls_;
  FetchOptions fo;
  fo.connect_timeout_ms = options().connect_timeout_ms;
  fo.timeout_ms = poll_.timeout_ms;
  fo.max_body_bytes = options().max_message_bytes;
  fo.headers = HeadersFor(poll_.parsed.host);
  if (!etag_.empty()) fo.headers.emplace_back("If-None-Match", etag_);
  if (!last_modified_.empty()) fo.headers.emplace_back("If-Modified-Since", last_modified_);
  fetch_ = HttpFetch::Start(ioc(), poll_.parsed, std::move(fo), tls_ctx_, options().tls.verify,
                            [this](FetchResult r) { OnFetched(std::move(r)); });
}

void PollingSource::OnFetched(FetchResult r) {
  fetch_.reset();
  if (stopped_) return;
  last_status_ = r.status;
  if (r.oversize) {
    // The upstream answered: the connection is fine, this body is not.
    MarkConnected();
    CountDrop("oversize", 1, r.error);
    SetError(r.error);
    return ScheduleNext(poll_.interval_ms, false);
  }
  if (!r.ok()) return Fail(r.error);
  const std::string where =
      poll_.parsed.HostHeader() + poll_.parsed.target.substr(0, poll_.parsed.target.find('?'));
  if (r.status == 304) {
    ++not_modified_;
    MarkConnected();
    return ScheduleNext(poll_.interval_ms, false);
  }
  if (r.status < 200 || r.status >= 300) {
    return Fail("HTTP " + std::to_string(r.status) + " " + r.reason + " from " + where);
  }
  MarkConnected();
  // Validators only from a body we processed: a later 304 means "as before".
  etag_ = r.etag;
  last_modified_ = r.last_modified;
  if (!OnBody(r)) {
    paused_ = true;  // OnResume() polls again
    return;
  }
  ScheduleNext(poll_.interval_ms, false);
}

void PollingSource::Fail(const std::string& error) {
  ++errors_;
  SetError(error);
  SetState(SourceState::kDisconnected);
  ScheduleNext(backoff_.Next(), true);
}

void PollingSource::MarkConnected() {
  SourceState s = state();
  if (s == SourceState::kConnecting || s == SourceState::kDisconnected) {
    SetState(SourceState::kSubscribed);
  }
}

}  // namespace livehub
