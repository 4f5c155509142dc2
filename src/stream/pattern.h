// Stream names and subscription patterns.
// Thread safety: free functions and immutable values; thread-safe.
//
// Name: 1-200 chars, segments of [A-Za-z0-9._-] joined by '/'. System
// streams start with "$sys/" and are written only by the hub itself.
// Pattern: segments as in a name, or `*` (exactly one segment, any text, or a
// segment with `*` inside as a glob, e.g. `E13-*`), or `**` (zero or more
// segments).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace livehub {

inline constexpr size_t kMaxStreamNameBytes = 200;
inline constexpr std::string_view kSysPrefix = "$sys/";

// OK if `name` is a valid stream name. With allow_system, "$sys/..." names
// (whose rest is valid) are accepted too.
Status ValidateStreamName(std::string_view name, bool allow_system = false);

class Pattern {
 public:
  // Parses and validates a pattern; "bad_pattern" on error.
  static Result<Pattern> Parse(std::string_view text);

  bool Matches(std::string_view stream) const;
  // True if the pattern has no wildcard, i.e. names exactly one stream.
  bool exact() const { return exact_; }
  const std::string& text() const { return text_; }
  size_t segment_count() const { return segments_.size(); }
  // Segments containing '*' (including '**').
  size_t wildcard_count() const;

 private:
  std::string text_;
  std::vector<std::string> segments_;
  bool exact_ = true;
};

// Matches one segment against a glob segment where '*' matches any run.
bool GlobSegmentMatches(std::string_view glob, std::string_view segment);

}  // namespace livehub
