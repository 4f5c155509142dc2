#include "source/template.h"

#include <simdjson.h>

#include <charconv>

#include "stream/pattern.h"

namespace livehub {
namespace {

bool SegmentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

void AppendSegment(std::string* out, std::string_view v) {
  for (char c : v) out->push_back(SegmentChar(c) ? c : '_');
}

// The `n`th (1-based) '/'-separated segment of `topic`, or nullopt.
std::optional<std::string_view> Segment(std::string_view topic, int n) {
  int i = 1;
  size_t start = 0;
  while (true) {
    size_t slash = topic.find('/', start);
    if (i == n) return topic.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (slash == std::string_view::npos) return std::nullopt;
    start = slash + 1;
    ++i;
  }
}

Status FieldValue(std::string_view json, std::string_view path, std::string* out) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element el;
  if (parser.parse(padded).get(el) != simdjson::SUCCESS) {
    return Status::InvalidArgument("bad_stream", "record is not JSON");
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string_view name =
        path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    simdjson::dom::object obj;
    if (el.get(obj) != simdjson::SUCCESS || obj.at_key(name).get(el) != simdjson::SUCCESS) {
      return Status::InvalidArgument("bad_stream",
                                     "record has no field '" + std::string(path) + "'");
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  out->clear();
  switch (el.type()) {
    case simdjson::dom::element_type::STRING: {
      std::string_view sv;
      if (el.get(sv) != simdjson::SUCCESS)
        return Status::InvalidArgument("bad_stream", "bad string");
      out->assign(sv);
      break;
    }
    case simdjson::dom::element_type::INT64:
      *out = std::to_string(int64_t(el));
      break;
    case simdjson::dom::element_type::UINT64:
      *out = std::to_string(uint64_t(el));
      break;
    case simdjson::dom::element_type::DOUBLE: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, double(el));
      out->assign(buf, r.ptr);
      break;
    }
    case simdjson::dom::element_type::BOOL:
      *out = bool(el) ? "true" : "false";
      break;
    default:
      return Status::InvalidArgument(
          "bad_stream", "field '" + std::string(path) + "' is not a string, number or bool");
  }
  return Status::Ok();
}

}  // namespace

Result<StreamTemplate> StreamTemplate::Parse(std::string_view text) {
  StreamTemplate t;
  t.text_ = text;
  if (text.empty()) return Status::InvalidArgument("bad_config", "stream template is empty");
  size_t i = 0;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) t.parts_.push_back({Kind::kLiteral, std::move(literal), 0});
    literal.clear();
  };
  while (i < text.size()) {
    char c = text[i];
    if (c == '}') {
      return Status::InvalidArgument("bad_config", "stream template '" + std::string(text) +
                                                       "': unmatched '}' at offset " +
                                                       std::to_string(i));
    }
    if (c != '{') {
      literal.push_back(c);
      ++i;
      continue;
    }
    size_t close = text.find('}', i);
    if (close == std::string_view::npos) {
      return Status::InvalidArgument("bad_config", "stream template '" + std::string(text) +
                                                       "': unclosed '{' at offset " +
                                                       std::to_string(i));
    }
    std::string_view name = text.substr(i + 1, close - i - 1);
    flush();
    Part p{Kind::kLiteral, "", 0};
    if (name == "id") {
      p.kind = Kind::kId;
    } else if (name == "topic") {
      p.kind = Kind::kTopic;
    } else if (name == "event") {
      p.kind = Kind::kEvent;
    } else if (name == "key") {
      p.kind = Kind::kKey;
    } else if (name.size() == 1 && name[0] >= '1' && name[0] <= '9') {
      p.kind = Kind::kSegment;
      p.segment = name[0] - '0';
    } else if (name.starts_with("field:") && name.size() > 6) {
      p.kind = Kind::kField;
      p.text = std::string(name.substr(6));
      for (char fc : p.text) {
        if (fc == '{' || fc == '}') {
          return Status::InvalidArgument("bad_config", "stream template: bad field name");
        }
      }
      t.uses_fields_ = true;
    } else {
      return Status::InvalidArgument(
          "bad_config", "stream template '" + std::string(text) + "': unknown placeholder {" +
                            std::string(name) +
                            "} (known: {id} {topic} {1}..{9} {event} {key} {field:name})");
    }
    if (p.kind != Kind::kId) t.constant_ = false;
    t.parts_.push_back(std::move(p));
    i = close + 1;
  }
  flush();
  if (t.constant_) {
    // A fixed stream must be valid as written ({id} is checked at render).
    std::string probe;
    for (const Part& p : t.parts_) probe += p.kind == Kind::kId ? "x" : p.text;
    if (Status st = ValidateStreamName(probe); !st.ok()) {
      return Status::InvalidArgument(
          "bad_config", "stream template '" + std::string(text) + "': " + st.message());
    }
  }
  return t;
}

Result<std::string> StreamTemplate::Render(std::string_view source_id, const TemplateVars& vars,
                                           std::string_view record_json) const {
  std::string out;
  std::string field;
  for (const Part& p : parts_) {
    switch (p.kind) {
      case Kind::kLiteral:
        out += p.text;
        break;
      case Kind::kId:
        AppendSegment(&out, source_id);
        break;
      case Kind::kTopic:
        out += vars.topic;
        break;
      case Kind::kEvent:
        if (vars.event.empty()) {
          return Status::InvalidArgument("bad_stream", "message has no event type for {event}");
        }
        AppendSegment(&out, vars.event);
        break;
      case Kind::kKey:
        if (vars.key.empty()) {
          return Status::InvalidArgument("bad_stream", "message has no key for {key}");
        }
        AppendSegment(&out, vars.key);
        break;
      case Kind::kSegment: {
        auto seg = Segment(vars.topic, p.segment);
        if (!seg || seg->empty()) {
          return Status::InvalidArgument("bad_stream", "topic '" + std::string(vars.topic) +
                                                           "' has no segment {" +
                                                           std::to_string(p.segment) + "}");
        }
        AppendSegment(&out, *seg);
        break;
      }
      case Kind::kField: {
        if (Status st = FieldValue(record_json, p.text, &field); !st.ok()) return st;
        if (field.empty()) {
          return Status::InvalidArgument("bad_stream", "field '" + p.text + "' is empty");
        }
        AppendSegment(&out, field);
        break;
      }
    }
  }
  if (Status st = ValidateStreamName(out); !st.ok()) {
    return Status::InvalidArgument("bad_stream", st.message());
  }
  return out;
}

}  // namespace livehub
