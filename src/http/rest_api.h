// The REST half of the v1 HTTP API: publish, streams, status, history,
// metrics, health and the dashboard's embedded files. Pure request -> response functions;
// the connection handling lives in server.cpp.
// Thread safety: thread-safe (the Hub is).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "codec/body_decoder.h"
#include "core/status.h"
#include "fanout/access.h"
#include "fanout/admission.h"
#include "fanout/publisher.h"
#include "schema/schema.h"
#include "source/source_manager.h"
#include "stream/hub.h"

namespace livehub {

struct HttpRequestView {
  std::string_view method;
  std::string path;                                       // percent-decoded, without the query
  std::map<std::string, std::string, std::less<>> query;  // decoded
  std::string_view content_type;
  std::string_view body;
  std::string_view if_none_match;  // for the dashboard's files (ETag)
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct RestContext {
  Hub* hub = nullptr;
  const Admission* admission = nullptr;  // never null
  const Publisher* publisher = nullptr;  // never null
  PeerTicket* ticket = nullptr;          // the connection's per-IP slot (may be null)
  // For replies that come later (a publish to a `sync` stream answers after
  // the commit): called once, from another thread.
  std::function<void(HttpResponse)> reply_later;
  SourceManager* sources = nullptr;  // null: no sources configured
  // GET /v1/alerts/{stream}: the recent-list length of an alert stream, or
  // nullopt if it is not one (unset: no alert streams).
  std::function<std::optional<size_t>(std::string_view)> alert_recent;
  SchemaRegistry* schemas = nullptr;  // null: no /v1/schema
  // What the request may do; null: everything (an open hub).
  std::shared_ptr<const Access> access;
};

// Splits a request target into a decoded path and query map. Errors on bad
// percent-encoding.
Status ParseTarget(std::string_view target, std::string* path,
                   std::map<std::string, std::string, std::less<>>* query);

// {"error":{"code":..,"message":..[,"line":N]}} with the status's HTTP code
// (HttpStatusFor), Retry-After when RetryAfterMsFor has one, and
// WWW-Authenticate on a 401.
HttpResponse ErrorResponse(const Status& st);

// The response, or nullopt when it will come through ctx.reply_later.
std::optional<HttpResponse> HandleRest(const RestContext& ctx, const HttpRequestView& req);

}  // namespace livehub
