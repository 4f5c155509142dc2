// The `schemas:` section of the config file (docs/configuration.md):
//   schemas:
//     - pattern: sensors/**
//       fields: {temp: float, station: string, ts: timestamp}
//       required: [station]
//       time_index: ts
//       policy: warn            # allow | warn | reject
// Errors name the key path ("file: schemas[0].fields.temp: ...").
// Thread safety: free function over a walker; one parse at a time.
#pragma once

#include <string>
#include <vector>

#include "core/config_walker.h"
#include "schema/schema.h"

namespace livehub {

void ParseSchemasSection(ConfigWalker& w, const YAML::Node& node, const std::string& path,
                         std::vector<Schema>* out);

}  // namespace livehub
