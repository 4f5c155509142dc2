#include "http/rest_api.h"

#include <charconv>

#include "core/json_writer.h"
#include "http/static_assets.h"
#include "stream/stream_json.h"

namespace livehub {
namespace {

constexpr uint64_t kDefaultHistoryLimit = 1'000;
constexpr uint64_t kMaxHistoryLimit = 10'000;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status Decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      int hi = i + 2 < in.size() + 0 ? HexValue(in[i + 1]) : -1;
      int lo = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
      if (i + 2 >= in.size() || hi < 0 || lo < 0) {
        return Status::InvalidArgument("bad_request",
                                       "bad percent-encoding at offset " + std::to_string(i));
      }
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return Status::Ok();
}

HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Result<uint64_t> QueryUint(const HttpRequestView& req, std::string_view key, uint64_t def) {
  auto it = req.query.find(key);
  if (it == req.query.end() || it->second.empty()) return def;
  uint64_t v = 0;
  const std::string& s = it->second;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return Status::InvalidArgument("bad_request", "query parameter '" + std::string(key) +
                                                      "' must be a non-negative integer, got '" +
                                                      s + "'");
  }
  return v;
}

HttpResponse PublishReply(const Result<PublishAck>& ack) {
  if (!ack.ok()) return ErrorResponse(ack.status());
  std::string body;
  JsonWriter w(&body);
  w.BeginObject();
  WritePublishAckMembers(w, *ack);
  w.EndObject();
  return Json(200, std::move(body));
}

// PUT /v1/schema/{pattern}: registers a schema; GET /v1/schema/{stream}: the
// effective schema of a stream and the fields seen on it; GET /v1/schema:
// every registered schema.
HttpResponse SchemaRoute(const RestContext& ctx, const HttpRequestView& req,
                         std::string_view target) {
  SchemaRegistry* reg = ctx.schemas;
  if (!reg) return ErrorResponse(Status::NotFound("no schema registry"));
  if (target.empty()) {
    std::string body = "{\"schemas\":[";
    bool first = true;
    for (const Schema& s : reg->List()) {
      if (!first) body.push_back(',');
      first = false;
      body += s.ToJson();
    }
    body += "]}";
    return Json(200, std::move(body));
  }
  if (req.method == "PUT") {
    auto schema = ParseSchemaJson(target, req.body);
    if (!schema.ok()) return ErrorResponse(schema.status());
    if (Status st = reg->Put(std::move(*schema)); !st.ok()) return ErrorResponse(st);
    for (const Schema& s : reg->List()) {
      if (s.pattern == target) return Json(200, s.ToJson());
    }
    return ErrorResponse(Status::Internal("schema registered but not listed"));
  }
  std::string body;
  JsonWriter w(&body);
  w.BeginObject().Field("stream", target);
  auto schema = reg->Effective(target);
  if (schema) {
    w.Key("schema").Raw(schema->ToJson());
  } else {
    w.Key("schema").Null();
  }
  w.Key("fields_seen").BeginObject();
  for (const auto& [name, type] : reg->SeenFields(target)) w.Field(name, FieldTypeName(type));
  w.EndObject().EndObject();
  return Json(200, std::move(body));
}

std::optional<HttpResponse> Publish(const RestContext& ctx, const HttpRequestView& req,
                                    const Access& access, std::string_view name) {
  PublishInput in;
  in.stream = name;
  in.content_type = req.content_type;
  in.body = req.body;
  auto ack = ctx.publisher->Publish(
      access, ctx.ticket, in,
      [reply = ctx.reply_later](Result<PublishAck> committed) { reply(PublishReply(committed)); });
  if (!ack) return std::nullopt;  // sync: the reply follows the commit
  return PublishReply(*ack);
}

HttpResponse Streams(const RestContext& ctx, const Access& access) {
  std::string body;
  JsonWriter w(&body);
  const HubOptions& o = ctx.hub->options();
  w.BeginObject().Key("streams").BeginArray();
  for (Stream* s : ctx.hub->List()) {
    if (!access.CanRead(s->name())) continue;  // the list shows only what may be read
    w.BeginObject();
    WriteStreamStatusMembers(w, s->GetStats(), o.warn_after_ms, o.stale_after_ms);
    w.EndObject();
  }
  w.EndArray().Field("server_time_ms", ctx.hub->clock()->NowMs()).EndObject();
  return Json(200, std::move(body));
}

HttpResponse StreamStatus(const RestContext& ctx, Stream* s) {
  std::string body;
  JsonWriter w(&body);
  const HubOptions& o = ctx.hub->options();
  w.BeginObject();
  WriteStreamStatusMembers(w, s->GetStats(), o.warn_after_ms, o.stale_after_ms);
  w.EndObject();
  return Json(200, std::move(body));
}

HttpResponse History(const HttpRequestView& req, Stream* s) {
  auto from = QueryUint(req, "from_seq", 1);
  if (!from.ok()) return ErrorResponse(from.status());
  auto limit = QueryUint(req, "limit", kDefaultHistoryLimit);
  if (!limit.ok()) return ErrorResponse(limit.status());
  if (*limit == 0) {
    return ErrorResponse(Status::InvalidArgument("bad_request", "limit must be at least 1"));
  }
  std::vector<EventPtr> events;
  bool has_more = false;
  uint64_t next = 0;
  Status st = s->Read(*from, std::min(*limit, kMaxHistoryLimit), &events, &has_more, &next);
  if (!st.ok()) return ErrorResponse(st);
  std::string body;
  JsonWriter w(&body);
  w.BeginObject();
  WriteHistoryMembers(w, *s, events, has_more, next);
  w.EndObject();
  return Json(200, std::move(body));
}

// The dashboard's files: ETag + Cache-Control, 304 when the client has them.
HttpResponse Asset(const StaticAsset& a, const HttpRequestView& req) {
  HttpResponse r;
  r.content_type = std::string(a.content_type);
  r.headers.emplace_back("ETag", std::string(a.etag));
  r.headers.emplace_back("Cache-Control", std::string(a.cache_control));
  if (EtagMatches(req.if_none_match, a.etag)) {
    r.status = 304;
    return r;
  }
  r.body = std::string(a.body);
  return r;
}

}  // namespace

Status ParseTarget(std::string_view target, std::string* path,
                   std::map<std::string, std::string, std::less<>>* query) {
  size_t q = target.find('?');
  if (Status st = Decode(target.substr(0, q), false, path); !st.ok()) return st;
  if (q == std::string_view::npos) return Status::Ok();
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string k, v;
    if (Status st = Decode(kv.substr(0, eq), true, &k); !st.ok()) return st;
    if (eq != std::string_view::npos) {
      if (Status st = Decode(kv.substr(eq + 1), true, &v); !st.ok()) return st;
    }
    (*query)[k] = v;
  }
  return Status::Ok();
}

HttpResponse ErrorResponse(const Status& st) {
  std::string body;
  JsonWriter w(&body);
  w.BeginObject().Key("error").BeginObject();
  w.Field("code", st.reason()).Field("message", st.message());
  if (st.line()) w.Field("line", *st.line());
  body += st.fields();
  if (st.code() == StatusCode::kEvicted && st.detail()) w.Field("oldest_seq", *st.detail());
  if (st.retry_after_ms()) w.Field("retry_after_ms", *st.retry_after_ms());
  w.EndObject().EndObject();
  HttpResponse r = Json(HttpStatusFor(st), std::move(body));
  if (auto ms = RetryAfterMsFor(st)) {
    r.headers.emplace_back("Retry-After", std::to_string((*ms + 999) / 1000));
  }
  if (r.status == 401) {
    r.headers.emplace_back("WWW-Authenticate",
                           st.reason() == "unauthorized"
                               ? "Bearer realm=\"livehub\""
                               : "Bearer realm=\"livehub\", error=\"invalid_token\"");
  }
  return r;
}

// GET /v1/sources, GET /v1/sources/{id}, POST /v1/sources/{id}/control.
// Answered from the sources thread through ctx.reply_later.
std::optional<HttpResponse> Sources(const RestContext& ctx, const HttpRequestView& req) {
  const std::string& p = req.path;
  auto fail = [](const Status& st) { return ErrorResponse(st); };
  auto reply = [later = ctx.reply_later](Result<std::string> r) {
    later(r.ok() ? Json(200, std::move(*r)) : ErrorResponse(r.status()));
  };
  if (p == "/v1/sources") {
    if (req.method != "GET") {
      return fail(Status::InvalidArgument("method_not_allowed", "use GET on /v1/sources"));
    }
    if (!ctx.sources) return Json(200, "{\"sources\":[]}");
    ctx.sources->List(reply);
    return std::nullopt;
  }
  std::string_view rest = std::string_view(p).substr(std::string_view("/v1/sources/").size());
  bool control = false;
  if (rest.ends_with("/control")) {
    control = true;
    rest.remove_suffix(std::string_view("/control").size());
  }
  if (!ctx.sources) return fail(Status::NotFound("no source '" + std::string(rest) + "'"));
  if (control) {
    if (req.method != "POST") {
      return fail(Status::InvalidArgument("method_not_allowed", "use POST on " + p));
    }
    ctx.sources->Control(rest, req.body, reply);
    return std::nullopt;
  }
  if (req.method != "GET") {
    return fail(Status::InvalidArgument("method_not_allowed", "use GET on " + p));
  }
  ctx.sources->Get(rest, reply);
  return std::nullopt;
}

// GET /v1/alerts/{stream}?limit=N: the newest alerts of an alert stream,
// newest first (at most its `recent` setting), read from its history.
HttpResponse Alerts(const RestContext& ctx, const HttpRequestView& req, std::string_view name) {
  std::optional<size_t> recent = ctx.alert_recent ? ctx.alert_recent(name) : std::nullopt;
  if (!recent) {
    return ErrorResponse(Status::NotFound("'" + std::string(name) +
                                          "' is not an alert stream (processors.alerts[].output)"));
  }
  auto limit = QueryUint(req, "limit", *recent);
  if (!limit.ok()) return ErrorResponse(limit.status());
  const uint64_t n = std::min<uint64_t>(*limit, *recent);
  std::vector<EventPtr> events;
  std::string epoch;
  if (Stream* s = ctx.hub->Find(name); s && n > 0) {
    epoch = s->epoch();
    const uint64_t latest = s->latest_seq();
    uint64_t from = latest >= n ? latest - n + 1 : 1;
    bool has_more = false;
    uint64_t next = 0;
    Status st = s->Read(from, n, &events, &has_more, &next);
    if (!st.ok() && st.detail()) {
      events.clear();
      (void)s->Read(*st.detail(), n, &events, &has_more, &next);
    }
  }
  std::string body;
  JsonWriter w(&body);
  w.BeginObject().Field("stream", name).Field("epoch", epoch).Field("order", "newest_first");
  w.Key("alerts").BeginArray();
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    w.BeginObject().Field("seq", (*it)->seq).Field("ts", (*it)->ts_ms);
    w.Key("data").Raw((*it)->data());
    w.EndObject();
  }
  w.EndArray().EndObject();
  return Json(200, std::move(body));
}

std::optional<HttpResponse> HandleRest(const RestContext& ctx, const HttpRequestView& req) {
  const std::string& p = req.path;
  auto method_is = [&](std::string_view m) { return req.method == m; };
  auto not_allowed = [&](const char* allowed) {
    HttpResponse r = ErrorResponse(Status::MethodNotAllowed(
        std::string(req.method) + " is not allowed on " + p + " (allowed: " + allowed + ")"));
    r.headers.emplace_back("Allow", allowed);
    return r;
  };
  auto stream_of = [&](std::string_view prefix) {
    return std::string_view(p).substr(prefix.size());
  };
  const std::shared_ptr<const Access> access_ptr = ctx.access ? ctx.access : Access::Everything();
  const Access& access = *access_ptr;
  auto refuse = [&](const std::string& what) {
    return ErrorResponse(ctx.admission->Refuse(access, what));
  };

  if (p.starts_with("/v1/publish/")) {
    if (!method_is("POST")) return not_allowed("POST");
    return Publish(ctx, req, access, stream_of("/v1/publish/"));
  }
  if (p == "/v1/streams") {
    if (!method_is("GET")) return not_allowed("GET");
    if (access.anonymous() && !access.everything() && access.principal().subscribe.empty()) {
      return refuse("listing streams needs a credential");
    }
    return Streams(ctx, access);
  }
  if (p.starts_with("/v1/status/") || p.starts_with("/v1/history/")) {
    if (!method_is("GET")) return not_allowed("GET");
    bool status = p.starts_with("/v1/status/");
    std::string_view name = stream_of(status ? "/v1/status/" : "/v1/history/");
    // Checked before the lookup: a refusal must not reveal whether it exists.
    if (!access.CanRead(name)) return refuse("not allowed to read '" + std::string(name) + "'");
    Stream* s = ctx.hub->Find(name);
    if (!s) {
      return ErrorResponse(Status::NotFound("no stream named '" + std::string(name) + "'"));
    }
    return status ? StreamStatus(ctx, s) : History(req, s);
  }
  if (p == "/v1/sources" || p.starts_with("/v1/sources/")) {
    if (!access.HasScope(kAdminScope)) return refuse("/v1/sources needs the 'admin' scope");
    return Sources(ctx, req);
  }
  if (p.starts_with("/v1/alerts/")) {
    if (!method_is("GET")) return not_allowed("GET");
    std::string_view name = stream_of("/v1/alerts/");
    if (!access.CanRead(name)) return refuse("not allowed to read '" + std::string(name) + "'");
    return Alerts(ctx, req, name);
  }
  if (p == "/v1/schema" || p == "/v1/schemas") {
    if (!method_is("GET")) return not_allowed("GET");
    // Every registered pattern: an overview for operators.
    if (!access.HasScope(kAdminScope)) return refuse("listing schemas needs the 'admin' scope");
    return SchemaRoute(ctx, req, "");
  }
  if (p.starts_with("/v1/schema/")) {
    if (!method_is("GET") && !method_is("PUT")) return not_allowed("GET, PUT");
    std::string_view name = stream_of("/v1/schema/");
    // Reading a stream's schema needs its read grant; registering one changes
    // what every publisher may send, so it is an operator's (admin) act.
    if (method_is("PUT") ? !access.HasScope(kAdminScope) : !access.CanRead(name)) {
      return refuse(method_is("PUT") ? "PUT /v1/schema needs the 'admin' scope"
                                     : "not allowed to read '" + std::string(name) + "'");
    }
    return SchemaRoute(ctx, req, name);
  }
  if (p == "/metrics") {
    if (!access.HasScope(kMetricsScope) && !access.HasScope(kAdminScope)) {
      return refuse("/metrics needs the 'metrics' or 'admin' scope");
    }
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = ctx.hub->metrics()->Render();
    return r;
  }
  if (p == "/healthz") return Json(200, "{\"status\":\"ok\"}");
  if (p == "/readyz") {
    // Not ready while the store cannot commit: publishes would get 503.
    if (Store* store = ctx.hub->store()) {
      if (Status st = store->Writable(); !st.ok()) {
        std::string body;
        JsonWriter w(&body);
        w.BeginObject().Field("status", "not_ready").Field("store", st.message()).EndObject();
        return Json(503, std::move(body));
      }
    }
    return Json(200, "{\"status\":\"ready\"}");
  }
  if (const StaticAsset* a = FindDashboardAsset(p)) {
    if (!method_is("GET")) return not_allowed("GET");
    return Asset(*a, req);
  }
  return ErrorResponse(Status::NotFound("no route for " + std::string(req.method) + " " + p));
}

}  // namespace livehub
