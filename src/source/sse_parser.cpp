#include "source/sse_parser.h"

namespace livehub {
namespace {
constexpr char kBom[] = "\xEF\xBB\xBF";
}  // namespace

void SseParser::Reset() {
  line_.clear();
  line_too_long_ = false;
  after_cr_ = false;
  bom_seen_ = 0;
  bom_done_ = false;
  data_.clear();
  type_.clear();
  oversize_ = false;
}

void SseParser::Feed(std::string_view bytes, const std::function<void(SseEvent&)>& on_event) {
  size_t i = 0;
  // The BOM may arrive split over chunks: match it byte by byte.
  while (!bom_done_ && i < bytes.size()) {
    if (bytes[i] == kBom[bom_seen_]) {
      ++i;
      if (++bom_seen_ == 3) bom_done_ = true;
    } else {
      // Not a BOM after all: the bytes matched so far are text.
      line_.append(kBom, bom_seen_);
      bom_done_ = true;
    }
  }
  while (i < bytes.size()) {
    char c = bytes[i];
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') {
        ++i;
        continue;
      }
    }
    // Take the run of plain bytes up to the next line end at once.
    size_t end = bytes.find_first_of("\r\n", i);
    std::string_view run = bytes.substr(i, end == std::string_view::npos ? bytes.npos : end - i);
    if (!line_too_long_) {
      if (line_.size() + run.size() > max_event_bytes_ + 16) {
        line_too_long_ = true;
        oversize_ = true;
        line_.clear();
      } else {
        line_.append(run);
      }
    }
    if (end == std::string_view::npos) return;
    i = end + 1;
    if (bytes[end] == '\r') after_cr_ = true;
    if (line_too_long_) {
      line_too_long_ = false;  // the rest of that line is gone; go on
      line_.clear();
      continue;
    }
    std::string line;
    line.swap(line_);
    Line(line, on_event);
  }
}

void SseParser::Line(std::string_view line, const std::function<void(SseEvent&)>& on_event) {
  if (line.empty()) return Dispatch(on_event);
  if (line[0] == ':') {
    ++comments_;
    return;
  }
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (oversize_ || data_.size() + value.size() + 1 > max_event_bytes_) {
      oversize_ = true;
      data_.clear();
      return;
    }
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "event") {
    type_ = std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_ = std::string(value);
  } else if (field == "retry") {
    if (value.empty() || value.size() > 12) return;
    int64_t ms = 0;
    for (char c : value) {
      if (c < '0' || c > '9') return;
      ms = ms * 10 + (c - '0');
    }
    retry_ms_ = ms;
  }
  // Any other field is ignored.
}

void SseParser::Dispatch(const std::function<void(SseEvent&)>& on_event) {
  if (data_.empty() && !oversize_) {
    type_.clear();
    return;
  }
  SseEvent ev;
  ev.oversize = oversize_;
  if (!oversize_) {
    data_.pop_back();  // the last '\n'
    ev.data.swap(data_);
  }
  ev.type = type_.empty() ? "message" : type_;
  ev.id = last_id_;
  data_.clear();
  type_.clear();
  oversize_ = false;
  on_event(ev);
}

}  // namespace livehub
