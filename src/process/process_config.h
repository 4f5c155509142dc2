// The `processors:` section of the config: windows and alert rules, parsed
// and validated at config load (docs/configuration.md, docs/processing.md).
// Errors name the key path and the problem ("file: processors.windows[0].
// size_s: ..."), so `livehub check-config` reports them.
// Thread safety: value types; built at start-up.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "core/config_walker.h"
#include "process/alert.h"
#include "process/window.h"

namespace livehub {

struct ProcessConfig {
  size_t queue_events = 100'000;  // events waiting for the processors; past it: dropped, counted
  std::vector<WindowSpec> windows;
  std::vector<AlertSpec> alerts;
  bool empty() const { return windows.empty() && alerts.empty(); }
};

void ParseProcessorsSection(ConfigWalker& w, const YAML::Node& node, const std::string& path,
                            ProcessConfig* out);

}  // namespace livehub
