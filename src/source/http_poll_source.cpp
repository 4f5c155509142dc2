// The `http_poll` source: see http_poll_source.h and poll_source.h.
// Decoding: with format json (the default) the body is parsed here, so a
// records_pointer can pick the array out of an envelope, and an empty array
// is "nothing new" rather than an error; ndjson (by format or by the
// response's Content-Type) goes through the shared body decoder; csv and
// text through Source::Ingest. Streams come from the source's template with
// {topic} = the URL path without its leading '/'.
#include "source/http_poll_source.h"

#include <simdjson.h>

#include "source/template.h"

namespace livehub {

// ---------------------------------------------------------------------------
// Pure parts
// ---------------------------------------------------------------------------

Status ValidateJsonPointer(std::string_view p) {
  if (p.empty()) return Status::Ok();
  if (p[0] != '/') {
    return Status::InvalidArgument("bad_config", "a JSON Pointer is empty or starts with '/'");
  }
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '~' && (i + 1 == p.size() || (p[i + 1] != '0' && p[i + 1] != '1'))) {
      return Status::InvalidArgument("bad_config",
                                     "'~' in a JSON Pointer must be followed by 0 or 1");
    }
  }
  return Status::Ok();
}

Status ExtractRecords(std::string_view body, std::string_view pointer, const DecodeLimits& limits,
                      std::vector<std::string>* out) {
  out->clear();
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) {
    // The body decoder's validation names the line and what is wrong.
    std::string ignored;
    Status st = CompactJson(body, &ignored);
    if (st.ok()) st = Status::InvalidArgument("bad_json", "the body is not valid JSON");
    return st;
  }
  simdjson::dom::element target = doc;
  if (!pointer.empty()) {
    if (doc.at_pointer(pointer).get(target) != simdjson::SUCCESS) {
      return Status::InvalidArgument(
          "no_records", "records_pointer '" + std::string(pointer) + "' names nothing in the body");
    }
  }
  auto add = [&](simdjson::dom::element e) -> Status {
    std::string s = simdjson::minify(e);
    if (s.size() > limits.max_event_bytes) {
      return Status::InvalidArgument("event_too_large",
                                     "record " + std::to_string(out->size() + 1) + " is " +
                                         std::to_string(s.size()) + " bytes, limit " +
                                         std::to_string(limits.max_event_bytes));
    }
    if (out->size() >= limits.max_batch_events) {
      return Status::InvalidArgument(
          "batch_too_large",
          "more than " + std::to_string(limits.max_batch_events) + " records in one body");
    }
    out->push_back(std::move(s));
    return Status::Ok();
  };
  if (target.is_array()) {
    for (simdjson::dom::element e : target.get_array()) {
      if (Status st = add(e); !st.ok()) {
        out->clear();
        return st;
      }
    }
    return Status::Ok();
  }
  Status st = add(target);
  if (!st.ok()) out->clear();
  return st;
}

// ---------------------------------------------------------------------------
// The source
// ---------------------------------------------------------------------------

namespace {

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

class HttpPollSource : public PollingSource {
 public:
  HttpPollSource(SourceContext* ctx, SourceOptions options, HttpPollSettings s)
      : PollingSource(ctx, std::move(options), s.poll), pointer_(std::move(s.records_pointer)) {
    auto t = StreamTemplate::Parse(this->options().stream);  // validated at config load
    if (t.ok()) template_ = std::move(*t);
    const std::string& target = poll().parsed.target;
    topic_ = target.substr(
        1, target.find('?') == std::string::npos ? std::string::npos : target.find('?') - 1);
  }

 protected:
  void Describe(JsonWriter* w) const override {
    DescribePoll(w);
    w->Field("records_pointer", pointer_);
  }

  bool OnBody(const FetchResult& r) override {
    TemplateVars vars;
    vars.topic = topic_;
    const PayloadFormat f = options().format;
    if (f == PayloadFormat::kCsv || f == PayloadFormat::kText) return Ingest(r.body, vars);
    bool ndjson = f == PayloadFormat::kNdjson;
    if (!ndjson && pointer_.empty() && !r.content_type.empty()) {
      auto ct = FormatFromContentType(r.content_type);
      ndjson = ct.ok() && *ct == BodyFormat::kNdjson;
    }
    if (IsBlank(r.body)) return true;  // nothing new
    DecodeLimits limits;
    limits.max_event_bytes = options().max_message_bytes;
    std::vector<std::string> records;
    Status st = ndjson ? DecodeBody(BodyFormat::kNdjson, r.body, limits, &records)
                       : ExtractRecords(r.body, pointer_, limits, &records);
    if (!st.ok()) {
      CountDrop(st.reason(), 1, st.message());
      return true;
    }
    if (records.empty()) return true;  // [] : nothing new
    std::vector<std::pair<std::string, std::string>> out;
    out.reserve(records.size());
    for (std::string& rec : records) {
      auto stream = template_.Render(id(), vars, rec);
      if (!stream.ok()) {
        CountDrop("bad_stream", 1, stream.status().message());
        continue;
      }
      out.emplace_back(std::move(*stream), std::move(rec));
    }
    return IngestRecords(std::move(out), r.body.size());
  }

 private:
  std::string pointer_;
  std::string topic_;
  StreamTemplate template_;
};

std::any ParseHttpPoll(ConfigWalker& w, const YAML::Node& n, const std::string& path,
                       SourceOptions* common) {
  HttpPollSettings s;
  std::string method = "GET";
  std::map<std::string, ConfigWalker::Handler> handlers = {
      {"records_pointer", w.Scalar<std::string>(&s.records_pointer)},
      {"method", w.Scalar<std::string>(&method)},
  };
  AddPollConfigKeys(w, &s.poll, &handlers);
  if (n.IsNull()) return w.Fail(path, "is required (at least url)"), std::any(s);
  w.Map(n, path, handlers);
  FinishPollConfig(w, path, &s.poll, common);
  if (!w.status().ok()) return s;
  if (method != "GET" && method != "get") w.Fail(path + ".method", "only GET is supported");
  if (Status st = ValidateJsonPointer(s.records_pointer); !st.ok()) {
    w.Fail(path + ".records_pointer", st.message());
  }
  if (!s.records_pointer.empty() && common->format != PayloadFormat::kJson) {
    w.Fail(path + ".records_pointer", "needs format json (the default)");
  }
  return s;
}

}  // namespace

SourceType HttpPollSourceType() {
  return {"http_poll", ParseHttpPoll,
          [](SourceContext* ctx, SourceOptions o) -> std::unique_ptr<Source> {
            auto s = std::any_cast<HttpPollSettings>(o.settings);
            return std::make_unique<HttpPollSource>(ctx, std::move(o), std::move(s));
          }};
}

}  // namespace livehub
