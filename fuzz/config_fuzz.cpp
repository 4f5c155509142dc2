// Fuzz target for the config file: YAML parsing (yaml-cpp) and livehub's
// walk over it (every section, including sources and limits).
// Checked properties, besides "never crashes":
//  - an accepted config is within its documented ranges (a few spot checks);
//  - a refused config always says why (non-empty message naming the file).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "app/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64u << 10)) return 0;
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  auto config = livehub::ParseConfig(yaml, "fuzz.yaml");
  if (!config.ok()) {
    if (config.status().message().find("fuzz.yaml") == std::string::npos) std::abort();
    return 0;
  }
  if (config->http.max_header_bytes < 1024 || config->fanout.max_subscriptions < 1 ||
      config->http.header_timeout_ms <= 0 || config->fanout.max_json_depth < 2) {
    std::abort();
  }
  return 0;
}
