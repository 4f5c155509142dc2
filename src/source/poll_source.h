// PollingSource: what the polled connectors (http_poll, gtfs_rt) share —
// a GET of one URL every interval through HttpFetch, never more often than
// the request-rate cap (also on retries), conditional requests (If-None-Match
// with the last ETag, If-Modified-Since with the last Last-Modified), health
// and backoff:
//   connecting  before the first response, and while retrying
//   subscribed  after a successful response (2xx or 304)
//   receiving   a response carried data (the subclass ingested records)
//   stalled     no data for the stall window: a 304 / unchanged feed is
//               "connected but no new data", so a feed that stops changing
//               shows stalled
//   disconnected  transport error, timeout or an HTTP error status: the
//               last error is set, the next attempt waits for the backoff
//               (and the rate cap)
// Throttle: when the subclass' ingest says stop, the next poll waits for
// OnResume().
// Threading: sources thread only (see Source). Stop() cancels the timer and
// the fetch in flight; no callback touches the source afterwards.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "source/http_fetch.h"
#include "source/source.h"

namespace livehub {

struct PollSettings {
  std::string url;  // as configured (may hold a secret query: shown redacted)
  HttpUrl parsed;
  int64_t interval_ms = 10'000;
  int max_requests_per_min = 60;
  int64_t timeout_ms = 10'000;  // write request + read response
};

// Parses the keys common to polled sources (`url`, `interval_s`,
// `max_requests_per_min`, `timeout_s`) into `handlers`, and after the walk
// validates them (Finish...). Sets common->expected_interval_ms unless set.
void AddPollConfigKeys(ConfigWalker& w, PollSettings* s,
                       std::map<std::string, ConfigWalker::Handler>* handlers);
void FinishPollConfig(ConfigWalker& w, const std::string& path, PollSettings* s,
                      SourceOptions* common);

class PollingSource : public Source {
 protected:
  PollingSource(SourceContext* ctx, SourceOptions options, PollSettings poll);

  void DoStart() override;
  void DoStop() override;
  void OnResume() override;
  // url (redacted), interval, rate cap, counters.
  void DescribePoll(JsonWriter* w) const;

  // A 2xx response. Returns false when ingest wants the source to stop
  // reading (throttle): the next poll then waits for OnResume().
  virtual bool OnBody(const FetchResult& r) = 0;

  const PollSettings& poll() const { return poll_; }

 private:
  void ScheduleNext(int64_t delay_ms, bool reconnect);
  void Poll();
  void OnFetched(FetchResult r);
  void Fail(const std::string& error);
  void MarkConnected();

  PollSettings poll_;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
  std::shared_ptr<HttpFetch> fetch_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
  bool paused_ = false;          // throttled: OnResume schedules the next poll
  int64_t last_request_ms_ = 0;  // steady clock, for the rate cap
  std::string etag_, last_modified_;
  uint64_t polls_ = 0, not_modified_ = 0, errors_ = 0;
  int last_status_ = 0;
};

}  // namespace livehub
