// Fuzz target for stream names and subscription patterns. Input: a pattern,
// '\n', a stream name (no '\n': the whole input is tried as both).
// Checked properties, besides "never crashes":
//  - a pattern without wildcards matches exactly the name equal to it;
//  - "**" matches every valid non-system name, and "<p>/**" matches
//    every name that "<p>/*" matches;
//  - a valid name is a valid pattern that matches itself;
//  - matching stays fast (no exponential backtracking): the
//    libFuzzer timeout catches slow inputs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fanout/fanout_options.h"
#include "fanout/session.h"
#include "stream/pattern.h"

using namespace livehub;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  const std::string_view ptext = nl == std::string_view::npos ? in : in.substr(0, nl);
  const std::string_view name = nl == std::string_view::npos ? in : in.substr(nl + 1);

  const bool name_ok = ValidateStreamName(name).ok();
  auto pattern = Pattern::Parse(ptext);
  (void)ParseSubscriptionPattern(ptext, FanoutOptions{});
  if (name_ok) {
    auto self = Pattern::Parse(name);
    if (!self.ok() || !self->exact() || !self->Matches(name)) std::abort();
    if (!name.starts_with(kSysPrefix) && !Pattern::Parse("**")->Matches(name)) std::abort();
  }
  if (!pattern.ok()) return 0;
  const bool m = pattern->Matches(name);
  if (pattern->exact() && m != (name == ptext)) std::abort();
  if (ptext.size() >= 2 && ptext.ends_with("/*")) {
    std::string deep(ptext.substr(0, ptext.size() - 1));
    deep += "*";
    auto d = Pattern::Parse(deep);
    if (d.ok() && m && !d->Matches(name)) std::abort();
  }
  return 0;
}
