#include "schema/schema_config.h"

#include <utility>

namespace livehub {

void ParseSchemasSection(ConfigWalker& w, const YAML::Node& node, const std::string& path,
                         std::vector<Schema>* out) {
  if (!node.IsSequence()) {
    return w.Fail(path, "must be a list of {pattern, fields, required, time_index, policy}");
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string ip = path + "[" + std::to_string(i) + "]";
    Schema schema;
    std::vector<std::pair<std::string, std::string>> fields;
    std::vector<std::string> required;
    std::string policy;
    w.Map(node[i], ip,
          {{"pattern", w.Scalar<std::string>(&schema.pattern)},
           {"fields", w.StringMap(&fields)},
           {"required", w.StringList(&required)},
           {"time_index", w.Scalar<std::string>(&schema.time_index)},
           {"policy", w.Scalar<std::string>(&policy)}});
    if (!w.status().ok()) return;
    if (schema.pattern.empty()) return w.Fail(ip + ".pattern", "is required");
    if (auto p = Pattern::Parse(schema.pattern); !p.ok()) {
      return w.Fail(ip + ".pattern", p.status().message());
    }
    for (const auto& [name, type] : fields) {
      auto t = ParseFieldType(type);
      if (!t.ok()) return w.Fail(ip + ".fields." + name, t.status().message());
      schema.fields[name] = SchemaField{*t, false, false};
    }
    for (const std::string& name : required) {
      auto it = schema.fields.find(name);
      if (it == schema.fields.end()) {
        return w.Fail(ip + ".required", "field '" + name + "' is not declared in fields");
      }
      it->second.required = true;
    }
    if (!policy.empty()) {
      auto pol = ParseDiscoveryPolicy(policy);
      if (!pol.ok()) return w.Fail(ip + ".policy", pol.status().message());
      schema.policy = *pol;
    }
    if (!schema.time_index.empty()) {
      auto it = schema.fields.find(schema.time_index);
      if (it == schema.fields.end() ||
          (it->second.type != FieldType::kTimestamp && it->second.type != FieldType::kInt &&
           it->second.type != FieldType::kFloat)) {
        return w.Fail(ip + ".time_index", "'" + schema.time_index +
                                              "' must be a field declared as timestamp "
                                              "(or int/float milliseconds)");
      }
    }
    out->push_back(std::move(schema));
  }
}

}  // namespace livehub
