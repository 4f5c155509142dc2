// Implementation notes.
// - Validation is simdjson's DOM parser (full validation: structure, UTF-8,
//   strings, numbers, depth). The compact text is simdjson::minify() over the
//   validated source text rather than a re-serialisation of the DOM, so that
//   numbers keep the publisher's spelling ("1.0e+5" stays "1.0e+5", "-0" stays
//   "-0"); the DOM would rewrite them.
// - simdjson reads up to SIMDJSON_PADDING bytes past the end of its input, so
//   every parse goes through a padded copy.
// - The error path re-walks a bad document with simdjson's On-Demand API,
//   which can say where it stopped; the DOM parser cannot.
#include "codec/body_decoder.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <iterator>
#include <unordered_map>
#include <utility>

#include "core/json_writer.h"
#include "core/strings.h"

namespace livehub {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
// A thread's parser and scratch buffer keep the size of the largest body seen;
// above this they are freed after the call so one huge body does not pin memory.
constexpr size_t kMaxRetainedCapacity = 4 << 20;
// Client text echoed back in error messages is cut to this many bytes.
constexpr size_t kMaxEchoedBytes = 120;
// Nesting limit of the error-locating walk; On-Demand asserts (and does not
// check in release builds) past its own limit, 1024.
constexpr int kMaxLocateDepth = 1000;

// ---------------------------------------------------------------------------
// Small text helpers
// ---------------------------------------------------------------------------

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsBlank(std::string_view s) { return std::all_of(s.begin(), s.end(), IsJsonSpace); }

// 1-based line of text[offset].
int64_t LineAt(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + std::count(text.begin(), text.begin() + static_cast<ptrdiff_t>(offset), '\n');
}

std::string LinePrefix(int64_t line) { return "line " + std::to_string(line) + ": "; }

// `s` as a JSON string literal, cut to kMaxEchoedBytes (safe to log).
std::string Quoted(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s.substr(0, kMaxEchoedBytes));
  if (s.size() > kMaxEchoedBytes) out += "...";
  return out;
}

// 1-based line of the first invalid UTF-8 sequence, or 0 if `text` is valid.
// A multi-byte sequence never contains '\n', so checking per line is exact.
int64_t FirstInvalidUtf8Line(std::string_view text) {
  if (simdjson::validate_utf8(text.data(), text.size())) return 0;
  int64_t line = 1;
  for (size_t pos = 0; pos <= text.size(); ++line) {
    size_t nl = std::min(text.find('\n', pos), text.size());
    if (!simdjson::validate_utf8(text.data() + pos, nl - pos)) return line;
    pos = nl + 1;
  }
  return 1;  // unreachable for invalid input
}

// ---------------------------------------------------------------------------
// simdjson plumbing
// ---------------------------------------------------------------------------

// The nesting limit of the decode under way on this thread (set by
// DecodeBody / CompactJson from their DecodeLimits).
thread_local size_t t_max_depth = DecodeLimits{}.max_depth;

simdjson::dom::parser& Parser() {
  thread_local simdjson::dom::parser parser;
  if (parser.max_depth() != t_max_depth) {
    auto err = parser.allocate(std::max<size_t>(parser.capacity(), 4096), t_max_depth);
    (void)err;  // a failed allocation fails the parse that follows
  }
  return parser;
}

// Copies `s` into the thread's scratch buffer followed by SIMDJSON_PADDING
// zero bytes (for NDJSON lines and CSV numbers); valid until the next call.
std::string& Scratch() {
  thread_local std::string scratch;
  return scratch;
}
std::string_view PaddedCopy(std::string_view s) {
  Scratch().assign(s).append(simdjson::SIMDJSON_PADDING, '\0');
  return std::string_view(Scratch().data(), s.size());
}

void ReleaseHugeBuffers() {
  if (Parser().capacity() > kMaxRetainedCapacity) Parser() = simdjson::dom::parser();
  if (Scratch().capacity() > kMaxRetainedCapacity) std::string().swap(Scratch());
}

// `text` must be followed by SIMDJSON_PADDING readable bytes.
simdjson::error_code ValidateJson(std::string_view text) {
  return Parser().parse(text.data(), text.size(), false).error();
}

// simdjson has messages but no names for its error codes.
// clang-format off
constexpr const char* kErrorNames[] = {
    "SUCCESS", "CAPACITY", "MEMALLOC", "TAPE_ERROR", "DEPTH_ERROR", "STRING_ERROR",
    "T_ATOM_ERROR", "F_ATOM_ERROR", "N_ATOM_ERROR", "NUMBER_ERROR", "UTF8_ERROR", "UNINITIALIZED",
    "EMPTY", "UNESCAPED_CHARS", "UNCLOSED_STRING", "UNSUPPORTED_ARCHITECTURE", "INCORRECT_TYPE",
    "NUMBER_OUT_OF_RANGE", "INDEX_OUT_OF_BOUNDS", "NO_SUCH_FIELD", "IO_ERROR",
    "INVALID_JSON_POINTER", "INVALID_URI_FRAGMENT", "UNEXPECTED_ERROR", "PARSER_IN_USE",
    "OUT_OF_ORDER_ITERATION", "INSUFFICIENT_PADDING", "INCOMPLETE_ARRAY_OR_OBJECT",
    "SCALAR_DOCUMENT_AS_VALUE", "OUT_OF_BOUNDS", "TRAILING_CONTENT"};
// clang-format on
static_assert(std::size(kErrorNames) == simdjson::NUM_ERROR_CODES, "simdjson error codes changed");

const char* ErrorName(simdjson::error_code e) {
  return e >= 0 && e < simdjson::NUM_ERROR_CODES ? kErrorNames[e] : "UNKNOWN_ERROR";
}

// Walks `v` depth-first so that On-Demand meets the first error. When a
// scalar is what failed, *at is set to its start; for structural errors *at
// stays null and the iterator's position is the best location.
template <typename V>
simdjson::error_code WalkJson(V& v, int depth, const char** at) {
  namespace od = simdjson::ondemand;
  const char* start = nullptr;
  if (v.current_location().get(start) != simdjson::SUCCESS) start = nullptr;
  auto scalar_error = [&](simdjson::error_code e) {
    if (e) *at = start;
    return e;
  };
  od::json_type type;
  if (auto e = v.type().get(type)) return scalar_error(e);
  switch (type) {
    case od::json_type::array: {
      if (depth >= kMaxLocateDepth) return scalar_error(simdjson::DEPTH_ERROR);
      od::array array;
      if (auto e = v.get_array().get(array)) return e;
      for (auto element : array) {
        od::value child;
        if (auto e = std::move(element).get(child)) return e;
        if (auto e = WalkJson(child, depth + 1, at)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::object: {
      if (depth >= kMaxLocateDepth) return scalar_error(simdjson::DEPTH_ERROR);
      od::object object;
      if (auto e = v.get_object().get(object)) return e;
      for (auto member : object) {
        od::field field;
        if (auto e = std::move(member).get(field)) return e;
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return e;
        if (auto e = WalkJson(field.value(), depth + 1, at)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::number: {
      od::number number;
      return scalar_error(v.get_number().get(number));
    }
    case od::json_type::string: {
      std::string_view s;
      return scalar_error(v.get_string().get(s));
    }
    case od::json_type::boolean: {
      bool b;
      return scalar_error(v.get_bool().get(b));
    }
    case od::json_type::null: {
      bool is_null = false;
      if (auto e = v.is_null().get(is_null)) return scalar_error(e);
      return scalar_error(is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR);
    }
  }
  return simdjson::SUCCESS;
}

// Best-effort 1-based line of the error in `text` (padded), which the DOM
// parser rejected with `error`; 1 when no position is known.
int64_t LocateJsonError(std::string_view text, simdjson::error_code error) {
  if (error == simdjson::UTF8_ERROR) return std::max<int64_t>(1, FirstInvalidUtf8Line(text));
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::padded_string_view padded(text.data(), text.size(),
                                      text.size() + simdjson::SIMDJSON_PADDING);
  if (parser.iterate(padded).get(doc)) return 1;  // stage 1 failed: no position
  // A container root goes through get_value(): the document's own
  // get_array()/get_object() reject a bad end before any element is visited.
  const char* at = nullptr;
  simdjson::ondemand::value root;
  if (doc.get_value().get(root) == simdjson::SUCCESS) {
    WalkJson(root, 0, &at);
  } else {
    WalkJson(doc, 0, &at);
  }
  // After a clean walk, the iterator's position is the trailing content.
  if (at == nullptr && doc.current_location().get(at) != simdjson::SUCCESS) return 1;
  if (at < text.data() || at > text.data() + text.size()) return 1;
  return LineAt(text, static_cast<size_t>(at - text.data()));
}

Status InvalidJson(const char* reason, int64_t line, simdjson::error_code error) {
  if (error == simdjson::DEPTH_ERROR) {
    return Status::InvalidArgument(
               "too_deep", LinePrefix(line) + "JSON nests deeper than limits.max_json_depth (" +
                               std::to_string(t_max_depth) + ")")
        .WithLine(line);
  }
  return Status::InvalidArgument(reason, LinePrefix(line) + "invalid JSON (" + ErrorName(error) +
                                             ": " + simdjson::error_message(error) + ")")
      .WithLine(line);
}

// Replaces *out with the compact form of valid JSON `text` (padded).
Status Minify(std::string_view text, std::string* out) {
  out->resize(text.size() + simdjson::SIMDJSON_PADDING);
  size_t n = 0;
  if (auto e = simdjson::minify(text.data(), text.size(), out->data(), n)) {
    return Status::Internal(std::string("minify failed on validated JSON: ") + ErrorName(e));
  }
  out->resize(n);
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

Status CheckRoomForEvent(const DecodeLimits& limits, size_t events, int64_t line) {
  if (events < limits.max_batch_events) return Status::Ok();
  return Status::TooLarge("batch_too_large", LinePrefix(line) + "body has more than " +
                                                 std::to_string(limits.max_batch_events) +
                                                 " events, limit is " +
                                                 std::to_string(limits.max_batch_events))
      .WithLine(line);
}

Status AddEvent(std::string event, int64_t line, const DecodeLimits& limits,
                std::vector<std::string>* out) {
  if (event.size() > limits.max_event_bytes) {
    return Status::TooLarge("event_too_large",
                            LinePrefix(line) + "event is " + std::to_string(event.size()) +
                                " bytes, limit is " + std::to_string(limits.max_event_bytes))
        .WithLine(line);
  }
  out->push_back(std::move(event));
  return Status::Ok();
}

// Minifies valid JSON `text` (padded) and appends it as one event.
Status AddJsonEvent(std::string_view text, int64_t line, const DecodeLimits& limits,
                    std::vector<std::string>* out) {
  if (Status s = CheckRoomForEvent(limits, out->size(), line); !s.ok()) return s;
  std::string event;
  if (Status s = Minify(text, &event); !s.ok()) return s;
  return AddEvent(std::move(event), line, limits, out);
}

Status EmptyBatch(std::string message) {
  return Status::InvalidArgument("empty_batch", std::move(message));
}

// ---------------------------------------------------------------------------
// JSON and NDJSON
// ---------------------------------------------------------------------------

// Adds one event per element of the top-level array that opens at
// text[open]. `text` must be valid JSON (so strings hold no raw newline and
// every bracket is balanced).
Status AddArrayElements(std::string_view text, size_t open, const DecodeLimits& limits,
                        std::vector<std::string>* out) {
  int64_t line = LineAt(text, open);
  size_t depth = 0;
  size_t element_start = std::string_view::npos;
  int64_t element_line = line;
  bool in_string = false;
  for (size_t i = open + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '\n') ++line;
    if (IsJsonSpace(c)) continue;
    if ((c == ',' || c == ']' || c == '}') && depth == 0) {
      if (element_start != std::string_view::npos) {
        Status s =
            AddJsonEvent(text.substr(element_start, i - element_start), element_line, limits, out);
        if (!s.ok()) return s;
      }
      if (c != ',') return Status::Ok();
      element_start = std::string_view::npos;
      continue;
    }
    if (c == '[' || c == '{') ++depth;
    if (c == ']' || c == '}') --depth;
    if (c == '"') in_string = true;
    if (element_start == std::string_view::npos) {
      element_start = i;
      element_line = line;
    }
  }
  return Status::Internal("unbalanced array in validated JSON");
}

Status DecodeJson(std::string_view body, const DecodeLimits& limits,
                  std::vector<std::string>* out) {
  if (IsBlank(body)) return EmptyBatch("body is empty: nothing to publish");
  simdjson::padded_string padded(body.data(), body.size());
  std::string_view text(padded.data(), padded.size());
  if (auto e = ValidateJson(text)) return InvalidJson("bad_json", LocateJsonError(text, e), e);
  const size_t first =
      static_cast<size_t>(std::find_if_not(text.begin(), text.end(), IsJsonSpace) - text.begin());
  if (text[first] != '[') return AddJsonEvent(text, LineAt(text, first), limits, out);
  if (Status s = AddArrayElements(text, first, limits, out); !s.ok()) return s;
  if (out->empty()) return EmptyBatch("the JSON array is empty: nothing to publish");
  return Status::Ok();
}

Status DecodeNdjson(std::string_view body, const DecodeLimits& limits,
                    std::vector<std::string>* out) {
  int64_t line = 1;
  for (size_t pos = 0; pos < body.size(); ++line) {
    const size_t nl = std::min(body.find('\n', pos), body.size());
    const std::string_view raw = body.substr(pos, nl - pos);
    pos = nl + 1;
    if (IsBlank(raw)) continue;
    if (Status s = CheckRoomForEvent(limits, out->size(), line); !s.ok()) return s;
    const std::string_view text = PaddedCopy(raw);
    if (auto e = ValidateJson(text)) return InvalidJson("bad_ndjson", line, e);
    if (Status s = AddJsonEvent(text, line, limits, out); !s.ok()) return s;
  }
  if (out->empty()) return EmptyBatch("body has no JSON lines: nothing to publish");
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

Status BadCsv(int64_t line, const std::string& what) {
  return Status::InvalidArgument("bad_csv", LinePrefix(line) + what).WithLine(line);
}

struct CsvField {
  std::string text;  // unescaped
  bool quoted = false;
};

// CsvReader splits RFC 4180 text into records. Blank lines are skipped.
// Errors are bad_csv statuses naming the line.
class CsvReader {
 public:
  explicit CsvReader(std::string_view text) : text_(text) {}

  // Reads the next record into (*fields)[0, *count); *count == 0 at the end.
  // `fields` is reused between calls to keep its strings' capacity.
  Status Next(std::vector<CsvField>* fields, size_t* count) {
    *count = 0;
    while (ConsumeNewline()) {
    }
    if (AtEnd()) return Status::Ok();
    record_line_ = line_;
    for (;;) {
      if (*count == fields->size()) fields->emplace_back();
      CsvField& field = (*fields)[(*count)++];
      const bool quoted = !AtEnd() && text_[pos_] == '"';
      Status s = quoted ? ReadQuoted(*count, &field) : ReadUnquoted(*count, &field);
      if (!s.ok()) return s;
      if (AtEnd() || ConsumeNewline()) return Status::Ok();
      ++pos_;  // the ',' that the field stopped at
    }
  }

  // 1-based line where the last record returned by Next() starts.
  int64_t record_line() const { return record_line_; }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  bool AtNewline() const {
    return !AtEnd() && (text_[pos_] == '\n' || (text_[pos_] == '\r' && pos_ + 1 < text_.size() &&
                                                text_[pos_ + 1] == '\n'));
  }
  // Consumes "\n" or "\r\n" at pos_, if there is one.
  bool ConsumeNewline() {
    if (!AtNewline()) return false;
    pos_ += text_[pos_] == '\r' ? 2 : 1;
    ++line_;
    return true;
  }

  // Reads up to the next ',' or line ending; a lone '\r' is data.
  Status ReadUnquoted(size_t column, CsvField* field) {
    const size_t start = pos_;
    while (!AtEnd() && text_[pos_] != ',' && !AtNewline()) {
      if (text_[pos_] == '"') {
        return BadCsv(line_, "quote inside unquoted field in column " + std::to_string(column) +
                                 " (quote the whole field and double the quote)");
      }
      ++pos_;
    }
    field->text.assign(text_.substr(start, pos_ - start));
    field->quoted = false;
    return Status::Ok();
  }

  // pos_ is at the opening quote.
  Status ReadQuoted(size_t column, CsvField* field) {
    const int64_t open_line = line_;
    field->text.clear();
    field->quoted = true;
    ++pos_;
    for (;;) {
      const size_t quote = text_.find('"', pos_);
      if (quote == std::string_view::npos) {
        return BadCsv(open_line, "unterminated quoted field in column " + std::to_string(column));
      }
      const std::string_view chunk = text_.substr(pos_, quote - pos_);
      line_ += std::count(chunk.begin(), chunk.end(), '\n');
      field->text.append(chunk);
      pos_ = quote + 1;
      if (AtEnd() || text_[pos_] != '"') break;
      field->text.push_back('"');  // "" is an escaped quote
      ++pos_;
    }
    if (!AtEnd() && text_[pos_] != ',' && !AtNewline()) {
      return BadCsv(line_, "unexpected character after the closing quote in column " +
                               std::to_string(column));
    }
    return Status::Ok();
  }

  std::string_view text_;
  size_t pos_ = 0;
  int64_t line_ = 1;  // line of text_[pos_]
  int64_t record_line_ = 1;
};

// True if `s` is a JSON number that simdjson accepts (it rejects integers
// beyond 64 bits and doubles that overflow), so the event stays parseable.
bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i - start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i == s.size()) return false;
  const bool leading_zero = s[i] == '0';
  const size_t int_digits = digits();
  if (int_digits == 0 || (leading_zero && int_digits > 1)) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  }
  bool has_exponent = false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    has_exponent = true;
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  if (i != s.size()) return false;
  if (!has_exponent && int_digits <= 18) return true;  // always in range
  return ValidateJson(PaddedCopy(s)) == simdjson::SUCCESS;
}

void AppendCsvValue(const CsvField& field, std::string* out) {
  const std::string& t = field.text;
  if (field.quoted) {
    AppendJsonString(out, t);
  } else if (t.empty()) {
    out->append("null");
  } else if (t == "true" || t == "false" || IsJsonNumber(t)) {
    out->append(t);
  } else {
    AppendJsonString(out, t);
  }
}

const char* CsvTypeName(CsvType t) {
  switch (t) {
    case CsvType::kInt:
      return "int";
    case CsvType::kFloat:
      return "float";
    case CsvType::kBool:
      return "bool";
    case CsvType::kString:
      return "string";
    case CsvType::kTimestamp:
      return "timestamp";
    case CsvType::kJson:
      return "json";
    case CsvType::kInfer:
      break;
  }
  return "inferred";
}

bool IsInteger(std::string_view t) {
  size_t i = t.starts_with('-') ? 1 : 0;
  if (i == t.size()) return false;
  for (; i < t.size(); ++i) {
    if (t[i] < '0' || t[i] > '9') return false;
  }
  return true;
}

// Appends a CSV cell converted to `type`, or fails naming line and column.
Status AppendTypedCsvValue(const CsvField& field, CsvType type, std::string_view column,
                           int64_t line, std::string* out) {
  const std::string& t = field.text;
  if (type == CsvType::kInfer) {
    AppendCsvValue(field, out);
    return Status::Ok();
  }
  if (t.empty() && !field.quoted) {
    out->append("null");
    return Status::Ok();
  }
  auto mismatch = [&](const char* actual) {
    return Status::InvalidArgument("schema_type_mismatch",
                                   LinePrefix(line) + "column " + Quoted(column) + " expects " +
                                       CsvTypeName(type) + ", got " + actual + " " + Quoted(t))
        .WithLine(line);
  };
  switch (type) {
    case CsvType::kString:
      AppendJsonString(out, t);
      return Status::Ok();
    case CsvType::kInt: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (!IsInteger(t) || ec != std::errc() || p != t.data() + t.size()) {
        return mismatch(IsJsonNumber(t) ? "a non-integer number" : "text");
      }
      out->append(std::to_string(v));
      return Status::Ok();
    }
    case CsvType::kFloat: {
      if (IsJsonNumber(t)) {
        out->append(t);
        return Status::Ok();
      }
      double v = 0;
      std::string_view sv = t;
      if (sv.starts_with('+')) sv.remove_prefix(1);
      auto [p, ec] = std::from_chars(sv.data(), sv.data() + sv.size(), v);
      if (ec != std::errc() || p != sv.data() + sv.size() || !std::isfinite(v)) {
        return mismatch("text");
      }
      char buf[32];
      auto [q, ec2] = std::to_chars(buf, buf + sizeof(buf), v);
      (void)ec2;
      out->append(buf, static_cast<size_t>(q - buf));
      return Status::Ok();
    }
    case CsvType::kBool: {
      const std::string lower = AsciiLower(t);
      if (lower == "true" || lower == "1") {
        out->append("true");
      } else if (lower == "false" || lower == "0") {
        out->append("false");
      } else {
        return mismatch("text");
      }
      return Status::Ok();
    }
    case CsvType::kTimestamp:
      if (!field.quoted && IsInteger(t) && IsJsonNumber(t)) {
        out->append(t);
      } else {
        AppendJsonString(out, t);
      }
      return Status::Ok();
    case CsvType::kJson: {
      const std::string_view padded = PaddedCopy(t);
      if (!field.quoted || !t.empty()) {
        if (ValidateJson(padded) == simdjson::SUCCESS) {
          std::string compact;
          if (Minify(padded, &compact).ok()) {
            out->append(compact);
            return Status::Ok();
          }
        }
      }
      AppendJsonString(out, t);
      return Status::Ok();
    }
    case CsvType::kInfer:
      break;
  }
  AppendCsvValue(field, out);
  return Status::Ok();
}

// Returns the JSON keys (each followed by ':') for a header record.
Status ParseCsvHeader(const std::vector<CsvField>& fields, size_t count, int64_t line,
                      std::vector<std::string>* keys, std::string* header_list) {
  std::unordered_map<std::string_view, size_t> seen;
  for (size_t i = 0; i < count; ++i) {
    const std::string& name = fields[i].text;
    const std::string column = std::to_string(i + 1);
    if (name.empty()) {
      return BadCsv(line, "header column " + column + " has no name");
    }
    auto [it, inserted] = seen.emplace(name, i + 1);
    if (!inserted) {
      return BadCsv(line, "duplicate column name " + Quoted(name) + " (columns " +
                              std::to_string(it->second) + " and " + column + ")");
    }
    std::string key;
    AppendJsonString(&key, name);
    key.push_back(':');
    keys->push_back(std::move(key));
    if (i > 0) header_list->push_back(',');
    header_list->append(name);
  }
  if (header_list->size() > kMaxEchoedBytes) {
    header_list->resize(kMaxEchoedBytes);
    header_list->append("...");
  }
  return Status::Ok();
}

Status DecodeCsv(std::string_view body, const DecodeLimits& limits, std::vector<std::string>* out,
                 const CsvColumnTypes* csv_types) {
  if (int64_t line = FirstInvalidUtf8Line(body); line != 0) {
    return BadCsv(line, "invalid UTF-8");
  }
  CsvReader reader(body);
  std::vector<CsvField> fields;
  size_t count = 0;
  if (Status s = reader.Next(&fields, &count); !s.ok()) return s;
  if (count == 0) return EmptyBatch("CSV body is empty: nothing to publish");
  std::vector<std::string> keys;
  std::string header_list;
  Status s = ParseCsvHeader(fields, count, reader.record_line(), &keys, &header_list);
  if (!s.ok()) return s;
  std::vector<CsvType> types(count, CsvType::kInfer);
  std::vector<std::string> names(count);
  for (size_t i = 0; i < count; ++i) {
    names[i] = fields[i].text;
    if (!csv_types) continue;
    if (auto it = csv_types->find(names[i]); it != csv_types->end()) types[i] = it->second;
  }
  for (;;) {
    if (s = reader.Next(&fields, &count); !s.ok()) return s;
    if (count == 0) break;
    const int64_t line = reader.record_line();
    if (count != keys.size()) {
      return BadCsv(line, "expected " + std::to_string(keys.size()) + " columns (header: " +
                              header_list + ") but found " + std::to_string(count));
    }
    if (s = CheckRoomForEvent(limits, out->size(), line); !s.ok()) return s;
    std::string event = "{";
    for (size_t i = 0; i < count; ++i) {
      if (i > 0) event.push_back(',');
      event.append(keys[i]);
      if (s = AppendTypedCsvValue(fields[i], types[i], names[i], line, &event); !s.ok()) return s;
    }
    event.push_back('}');
    if (s = AddEvent(std::move(event), line, limits, out); !s.ok()) return s;
  }
  if (out->empty()) return EmptyBatch("CSV has a header but no rows: nothing to publish");
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

Result<BodyFormat> FormatFromContentType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  const std::string lower = AsciiLower(media);
  if (lower.empty() || lower == "application/json") return BodyFormat::kJson;
  if (lower == "application/x-ndjson" || lower == "application/ndjson" ||
      lower == "application/jsonl") {
    return BodyFormat::kNdjson;
  }
  if (lower == "text/csv") return BodyFormat::kCsv;
  return Status::UnsupportedFormat("unsupported_media_type",
                                   "unsupported Content-Type " + Quoted(content_type) +
                                       "; use application/json, application/x-ndjson or text/csv");
}

Status DecodeBody(BodyFormat format, std::string_view body, const DecodeLimits& limits,
                  std::vector<std::string>* out, const CsvColumnTypes* csv_types) {
  out->clear();
  t_max_depth = limits.max_depth;
  // Spreadsheets often start CSV exports with a byte order mark.
  if (body.substr(0, kUtf8Bom.size()) == kUtf8Bom) body.remove_prefix(kUtf8Bom.size());
  Status s;
  switch (format) {
    case BodyFormat::kJson:
      s = DecodeJson(body, limits, out);
      break;
    case BodyFormat::kNdjson:
      s = DecodeNdjson(body, limits, out);
      break;
    case BodyFormat::kCsv:
      s = DecodeCsv(body, limits, out, csv_types);
      break;
  }
  if (!s.ok()) out->clear();
  ReleaseHugeBuffers();
  return s;
}

Status CompactJson(std::string_view json, std::string* out) {
  out->clear();
  simdjson::padded_string padded(json.data(), json.size());
  std::string_view text(padded.data(), padded.size());
  Status s;
  if (auto e = ValidateJson(text)) {
    s = InvalidJson("bad_json", LocateJsonError(text, e), e);
  } else {
    s = Minify(text, out);
  }
  if (!s.ok()) out->clear();
  ReleaseHugeBuffers();
  return s;
}

}  // namespace livehub
