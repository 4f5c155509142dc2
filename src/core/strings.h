// Small string helpers shared across subsystems.
// Case folding here is ASCII only, on purpose: it is for protocol tokens
// (schemes, host names, header names, media types, auth schemes), which are
// ASCII and case-insensitive, never for user text; bytes >= 0x80 are kept.
// Thread safety: stateless functions.
#pragma once

#include <string>
#include <string_view>

namespace livehub {

// 'A'..'Z' -> 'a'..'z'; every other byte unchanged.
constexpr char AsciiLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// A copy of `s` with 'A'..'Z' folded to lower case.
inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

// Whether `a` and `b` are equal ignoring ASCII case.
constexpr bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

}  // namespace livehub
