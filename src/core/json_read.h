// Helpers for reading JSON parsed by simdjson (DOM), shared by the
// subsystems that read JSON from the network (WebSocket client ops, token
// claims), so each member type is checked the same way everywhere.
// Thread safety: stateless functions.
#pragma once

#include <simdjson.h>

#include <string>
#include <vector>

namespace livehub {

// Appends the strings of an optional array-of-strings member to `*out`,
// given the result of its lookup (e.g. `doc["streams"]`). Returns true if
// the member is absent (or the lookup failed: `doc` is not an object),
// appending nothing, or if it is an array of strings; false if it is present
// but anything else. The caller names the member in its error message.
bool AppendStringArray(simdjson::simdjson_result<simdjson::dom::element> member,
                       std::vector<std::string>* out);

}  // namespace livehub
