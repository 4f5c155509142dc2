#include "core/json_read.h"

namespace livehub {

bool AppendStringArray(simdjson::simdjson_result<simdjson::dom::element> member,
                       std::vector<std::string>* out) {
  simdjson::dom::element v;
  if (member.get(v)) return true;  // absent
  simdjson::dom::array arr;
  if (v.get(arr)) return false;
  for (simdjson::dom::element e : arr) {
    std::string_view s;
    if (e.get(s)) return false;
    out->emplace_back(s);
  }
  return true;
}

}  // namespace livehub
