// Parsing of the `limits:` and `tls:` sections of the config file (the keys
// and defaults are in docs/configuration.md and docs/operations.md, "Limits").
#pragma once

#include <string>

#include "core/config_walker.h"

namespace livehub {

struct Config;

void ParseLimitsSection(ConfigWalker& w, const YAML::Node& node, const std::string& path,
                        Config* config);
void ParseTlsSection(ConfigWalker& w, const YAML::Node& node, const std::string& path,
                     Config* config);

}  // namespace livehub
