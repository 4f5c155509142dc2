#include "stream/pattern.h"

#include <algorithm>

namespace livehub {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

// Matches the stream's segments against the pattern's. Dynamic
// programming over (pattern segment, stream segment): O(P x S) segment
// tests whatever the number of `**` (a backtracking matcher is exponential
// in them; found by pattern_fuzz).
bool MatchSegments(const std::vector<std::string>& pat, const std::vector<std::string_view>& segs) {
  const size_t n = segs.size();
  // reach[s]: pattern segments so far can consume exactly segs[0..s).
  std::vector<char> reach(n + 1, 0), next(n + 1, 0);
  reach[0] = 1;
  for (const std::string& p : pat) {
    std::fill(next.begin(), next.end(), 0);
    if (p == "**") {
      char any = 0;  // ** takes zero or more segments: a prefix OR
      for (size_t s = 0; s <= n; ++s) next[s] = any = static_cast<char>(any | reach[s]);
    } else {
      for (size_t s = 0; s < n; ++s) {
        if (reach[s] && GlobSegmentMatches(p, segs[s])) next[s + 1] = 1;
      }
    }
    reach.swap(next);
  }
  return reach[n] != 0;
}

}  // namespace

Status ValidateStreamName(std::string_view name, bool allow_system) {
  std::string_view body = name;
  if (allow_system && name.starts_with(kSysPrefix)) body = name.substr(kSysPrefix.size());
  if (name.empty()) return Status::InvalidArgument("bad_stream_name", "stream name is empty");
  if (name.size() > kMaxStreamNameBytes) {
    return Status::InvalidArgument(
        "bad_stream_name", "stream name is " + std::to_string(name.size()) +
                               " bytes, the limit is " + std::to_string(kMaxStreamNameBytes));
  }
  if (body.empty()) return Status::InvalidArgument("bad_stream_name", "stream name is empty");
  size_t seg_len = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '/') {
      if (seg_len == 0) {
        return Status::InvalidArgument("bad_stream_name",
                                       "stream name '" + std::string(name) +
                                           "' has an empty segment (names are segments of "
                                           "[A-Za-z0-9._-] joined by '/')");
      }
      seg_len = 0;
      continue;
    }
    if (!IsNameChar(c)) {
      std::string shown(1, c);
      if (c < 0x20 || c >= 0x7f) {
        static constexpr char kHex[] = "0123456789abcdef";
        const auto byte = static_cast<unsigned char>(c);
        shown = {'\\', 'x', kHex[byte >> 4], kHex[byte & 0xf]};
      }
      return Status::InvalidArgument(
          "bad_stream_name", "stream name has an invalid character '" + shown + "' at offset " +
                                 std::to_string(i) + " (allowed: [A-Za-z0-9._-] and '/')");
    }
    ++seg_len;
  }
  if (seg_len == 0) {
    return Status::InvalidArgument("bad_stream_name",
                                   "stream name '" + std::string(name) + "' ends with '/'");
  }
  return Status::Ok();
}

Result<Pattern> Pattern::Parse(std::string_view text) {
  Pattern p;
  p.text_ = std::string(text);
  if (text.empty()) return Status::InvalidArgument("bad_pattern", "pattern is empty");
  if (text.size() > kMaxStreamNameBytes) {
    return Status::InvalidArgument(
        "bad_pattern", "pattern is longer than " + std::to_string(kMaxStreamNameBytes) + " bytes");
  }
  std::string_view body = text;
  std::string prefix;
  if (text.starts_with(kSysPrefix)) {
    body = text.substr(kSysPrefix.size());
    prefix = "$sys";
  }
  auto segs = Split(body);
  if (!prefix.empty()) p.segments_.push_back(prefix);
  for (auto seg : segs) {
    if (seg.empty()) {
      return Status::InvalidArgument("bad_pattern",
                                     "pattern '" + std::string(text) + "' has an empty segment");
    }
    if (seg == "**") {
      p.exact_ = false;
    } else {
      for (char c : seg) {
        if (c == '*') {
          p.exact_ = false;
        } else if (!IsNameChar(c)) {
          return Status::InvalidArgument("bad_pattern", "pattern '" + std::string(text) +
                                                            "' has an invalid character '" +
                                                            std::string(1, c) + "'");
        }
      }
      if (seg.find("**") != std::string_view::npos) {
        return Status::InvalidArgument(
            "bad_pattern", "pattern '" + std::string(text) + "': '**' must be a whole segment");
      }
    }
    p.segments_.emplace_back(seg);
  }
  return p;
}

size_t Pattern::wildcard_count() const {
  size_t n = 0;
  for (const std::string& seg : segments_) n += seg.find('*') != std::string::npos;
  return n;
}

bool Pattern::Matches(std::string_view stream) const {
  if (exact_) return stream == text_;
  // System streams are matched only by patterns that name "$sys/" themselves,
  // so `**` does not pull hub-internal events into a data subscription.
  if (stream.starts_with(kSysPrefix) != text_.starts_with(kSysPrefix)) return false;
  std::vector<std::string_view> segs;
  if (stream.starts_with(kSysPrefix)) {
    segs = Split(stream.substr(kSysPrefix.size()));
    segs.insert(segs.begin(), "$sys");
  } else {
    segs = Split(stream);
  }
  return MatchSegments(segments_, segs);
}

bool GlobSegmentMatches(std::string_view glob, std::string_view seg) {
  // Classic iterative wildcard match with backtracking to the last '*'.
  size_t g = 0, s = 0, star = std::string_view::npos, mark = 0;
  while (s < seg.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = s;
    } else if (g < glob.size() && glob[g] == seg[s]) {
      ++g;
      ++s;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      s = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

}  // namespace livehub
