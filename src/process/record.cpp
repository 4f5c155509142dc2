#include "process/record.h"

#include <cmath>
#include <ctime>

#include "core/json_writer.h"

namespace livehub {

Result<std::vector<std::string>> ParseFieldPath(std::string_view path) {
  std::vector<std::string> out;
  if (path.empty()) return Status::InvalidArgument("bad_config", "field name is empty");
  size_t start = 0;
  for (;;) {
    size_t dot = path.find('.', start);
    std::string_view seg =
        path.substr(start, dot == std::string_view::npos ? path.npos : dot - start);
    if (seg.empty()) {
      return Status::InvalidArgument("bad_config",
                                     "field '" + std::string(path) + "' has an empty segment");
    }
    out.emplace_back(seg);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

std::optional<int64_t> ParseIso8601Ms(std::string_view s) {
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!Digits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  size_t p = 10;
  int64_t ms = 0;
  int64_t offset_min = 0;
  if (p < s.size()) {
    if (s[p] != 'T' && s[p] != 't' && s[p] != ' ') return std::nullopt;
    if (!Digits(s, p + 1, 2, &h) || s.size() < p + 9 || s[p + 3] != ':' ||
        !Digits(s, p + 4, 2, &mi) || s[p + 6] != ':' || !Digits(s, p + 7, 2, &sec)) {
      return std::nullopt;
    }
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
    p += 9;
    if (p < s.size() && s[p] == '.') {
      ++p;
      int64_t scale = 100;
      size_t digits = 0;
      while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
        ms += (s[p] - '0') * scale;
        scale /= 10;
        ++p;
        ++digits;
      }
      if (digits == 0) return std::nullopt;
    }
    if (p < s.size()) {
      if (s[p] == 'Z' || s[p] == 'z') {
        ++p;
      } else if (s[p] == '+' || s[p] == '-') {
        int oh, om;
        if (!Digits(s, p + 1, 2, &oh) || s.size() < p + 6 || s[p + 3] != ':' ||
            !Digits(s, p + 4, 2, &om)) {
          return std::nullopt;
        }
        offset_min = (s[p] == '-' ? -1 : 1) * (oh * 60 + om);
        p += 6;
      } else {
        return std::nullopt;
      }
    }
    if (p != s.size()) return std::nullopt;
  }
  const int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 24 + h) * 60 + mi - offset_min) * 60'000 + sec * 1000LL + ms;
}

bool RecordReader::Parse(std::string_view data) {
  scratch_.assign(data);
  scratch_.append(simdjson::SIMDJSON_PADDING, '\0');
  auto r = parser_.parse(scratch_.data(), data.size(), false);
  if (r.error()) return false;
  root_ = r.value_unsafe();
  return root_.is_object();
}

std::optional<simdjson::dom::element> RecordReader::Get(
    const std::vector<std::string>& path) const {
  simdjson::dom::element e = root_;
  for (const std::string& seg : path) {
    if (!e.is_object()) return std::nullopt;
    auto child = e.get_object().value_unsafe().at_key(seg);
    if (child.error()) return std::nullopt;
    e = child.value_unsafe();
  }
  return e;
}

std::optional<double> RecordReader::Number(const std::vector<std::string>& path) const {
  auto e = Get(path);
  if (!e) return std::nullopt;
  switch (e->type()) {
    case simdjson::dom::element_type::DOUBLE:
      return e->get_double().value_unsafe();
    case simdjson::dom::element_type::INT64:
      return static_cast<double>(e->get_int64().value_unsafe());
    case simdjson::dom::element_type::UINT64:
      return static_cast<double>(e->get_uint64().value_unsafe());
    case simdjson::dom::element_type::BOOL:
      return e->get_bool().value_unsafe() ? 1.0 : 0.0;
    default:
      return std::nullopt;
  }
}

void RecordReader::AppendJson(const std::vector<std::string>& path, std::string* out) const {
  auto e = Get(path);
  if (!e) {
    out->append("null");
    return;
  }
  out->append(simdjson::minify(*e));
}

std::string GroupKeyJson(const RecordReader& reader, const std::vector<std::string>& names,
                         const std::vector<std::vector<std::string>>& paths) {
  std::string key;
  JsonWriter w(&key);
  w.BeginObject();
  std::string value;
  for (size_t i = 0; i < paths.size(); ++i) {
    value.clear();
    reader.AppendJson(paths[i], &value);
    w.Key(names[i]).Raw(value);  // through the writer, which places the commas
  }
  w.EndObject();
  return key;
}

std::optional<int64_t> EventTimeOf(const InputRecord& r, const RecordReader& reader,
                                   const TimeSpec& spec, const std::vector<std::string>& path) {
  if (spec.processing_time) return r.ts_ms;
  const std::vector<std::string>* field = &path;
  std::vector<std::string> schema_path;
  if (spec.from_schema) {
    std::optional<std::string> index =
        spec.schema_index ? spec.schema_index(r.stream) : std::nullopt;
    if (!index) return std::nullopt;
    auto fp = ParseFieldPath(*index);
    if (!fp.ok()) return std::nullopt;
    schema_path = std::move(*fp);
    field = &schema_path;
  }
  auto e = reader.Get(*field);
  if (!e) return std::nullopt;
  if (e->is_string()) return ParseIso8601Ms(e->get_string().value_unsafe());
  auto n = reader.Number(*field);
  if (!n || e->is_bool() || !std::isfinite(*n)) return std::nullopt;
  const double ms = spec.unit == TimeUnit::kS ? *n * 1000.0 : *n;
  if (std::fabs(ms) > 1e15) return std::nullopt;  // ~31,000 years: not a time
  return static_cast<int64_t>(std::floor(ms));
}

}  // namespace livehub
