#include "schema/schema.h"

#include <simdjson.h>

#include <algorithm>
#include <set>

#include "core/json_writer.h"

namespace livehub {
namespace {

namespace dom = simdjson::dom;

// RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM); 't'/' '
// separators and 'z' accepted as RFC 3339 allows.
bool IsRfc3339(std::string_view s) {
  auto digits = [&](size_t at, size_t n) {
    if (at + n > s.size()) return false;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
    }
    return true;
  };
  if (!digits(0, 4) || s.size() < 20 || s[4] != '-' || !digits(5, 2) || s[7] != '-' ||
      !digits(8, 2) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(11, 2) ||
      s[13] != ':' || !digits(14, 2) || s[16] != ':' || !digits(17, 2)) {
    return false;
  }
  size_t i = 19;
  if (s[i] == '.') {
    ++i;
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return false;
  }
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) return i + 1 == s.size();
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    return i + 6 == s.size() && digits(i + 1, 2) && s[i + 3] == ':' && digits(i + 4, 2);
  }
  return false;
}

const char* ActualTypeName(dom::element v) {
  switch (v.type()) {
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
      return "int";
    case dom::element_type::DOUBLE:
      return "float";
    case dom::element_type::BOOL:
      return "bool";
    case dom::element_type::STRING:
      return "string";
    case dom::element_type::ARRAY:
      return "array";
    case dom::element_type::OBJECT:
      return "object";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

FieldType InferType(dom::element v) {
  switch (v.type()) {
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
      return FieldType::kInt;
    case dom::element_type::DOUBLE:
      return FieldType::kFloat;
    case dom::element_type::BOOL:
      return FieldType::kBool;
    case dom::element_type::STRING:
      return FieldType::kString;
    default:
      return FieldType::kJson;
  }
}

bool Matches(FieldType t, dom::element v) {
  switch (t) {
    case FieldType::kInt:
      return v.is_int64() || v.is_uint64();
    case FieldType::kFloat:
      return v.is_number();
    case FieldType::kBool:
      return v.is_bool();
    case FieldType::kString:
      return v.is_string();
    case FieldType::kTimestamp:
      if (v.is_int64() || v.is_uint64()) return true;
      if (v.is_string()) return IsRfc3339(v.get_string().value_unsafe());
      return false;
    case FieldType::kJson:
      return true;
  }
  return false;
}

std::string Q(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s.substr(0, 200));
  return out;
}

// A refusal naming the event (index, 0-based) and the field.
Status Refuse(const char* reason, size_t index, std::string_view stream, std::string message,
              std::string_view field, const char* expected, const char* actual) {
  JsonFields fields;
  fields.Add("stream", stream.substr(0, 200)).Add("index", index);
  if (!field.empty()) fields.Add("field", field.substr(0, 200));
  if (expected) fields.Add("expected", expected);
  if (actual) fields.Add("actual", actual);
  return Status::InvalidArgument(reason, "event " + std::to_string(index + 1) + " (index " +
                                             std::to_string(index) +
                                             ") of the batch: " + std::move(message))
      .WithFields(fields.text());
}

}  // namespace

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

const char* FieldTypeName(FieldType t) {
  switch (t) {
    case FieldType::kInt:
      return "int";
    case FieldType::kFloat:
      return "float";
    case FieldType::kBool:
      return "bool";
    case FieldType::kString:
      return "string";
    case FieldType::kTimestamp:
      return "timestamp";
    case FieldType::kJson:
      return "json";
  }
  return "json";
}

Result<FieldType> ParseFieldType(std::string_view text) {
  for (FieldType t : {FieldType::kInt, FieldType::kFloat, FieldType::kBool, FieldType::kString,
                      FieldType::kTimestamp, FieldType::kJson}) {
    if (text == FieldTypeName(t)) return t;
  }
  return Status::InvalidArgument("bad_schema", "unknown field type " + Q(text) +
                                                   " (use int, float, bool, string, timestamp "
                                                   "or json)");
}

const char* DiscoveryPolicyName(DiscoveryPolicy p) {
  switch (p) {
    case DiscoveryPolicy::kAllow:
      return "allow";
    case DiscoveryPolicy::kWarn:
      return "warn";
    case DiscoveryPolicy::kReject:
      return "reject";
  }
  return "warn";
}

Result<DiscoveryPolicy> ParseDiscoveryPolicy(std::string_view text) {
  if (text == "allow") return DiscoveryPolicy::kAllow;
  if (text == "warn") return DiscoveryPolicy::kWarn;
  if (text == "reject") return DiscoveryPolicy::kReject;
  return Status::InvalidArgument("bad_schema",
                                 "policy must be allow, warn or reject, got " + Q(text));
}

CsvType ToCsvType(FieldType t) {
  switch (t) {
    case FieldType::kInt:
      return CsvType::kInt;
    case FieldType::kFloat:
      return CsvType::kFloat;
    case FieldType::kBool:
      return CsvType::kBool;
    case FieldType::kString:
      return CsvType::kString;
    case FieldType::kTimestamp:
      return CsvType::kTimestamp;
    case FieldType::kJson:
      return CsvType::kJson;
  }
  return CsvType::kInfer;
}

// ---------------------------------------------------------------------------
// Schema <-> JSON
// ---------------------------------------------------------------------------

std::string Schema::ToJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Field("pattern", pattern).Field("policy", DiscoveryPolicyName(policy));
  if (time_index.empty()) {
    w.Key("time_index").Null();
  } else {
    w.Field("time_index", time_index);
  }
  w.Key("fields").BeginObject();
  for (const auto& [name, f] : fields) {
    w.Key(name).BeginObject().Field("type", FieldTypeName(f.type));
    w.Field("required", f.required).Field("discovered", f.discovered).EndObject();
  }
  w.EndObject().Key("required").BeginArray();
  for (const auto& [name, f] : fields) {
    if (f.required) w.String(name);
  }
  w.EndArray().EndObject();
  return out;
}

Result<Schema> ParseSchemaJson(std::string_view pattern, std::string_view json) {
  auto bad = [](std::string m) { return Status::InvalidArgument("bad_schema", std::move(m)); };
  dom::parser parser;
  simdjson::padded_string padded(json.data(), json.size());
  dom::element root;
  if (auto e = parser.parse(padded).get(root)) {
    return bad(std::string("schema is not valid JSON: ") + simdjson::error_message(e));
  }
  dom::object obj;
  if (root.get(obj))
    return bad("schema must be a JSON object {fields, required, time_index, policy}");
  Schema schema;
  schema.pattern = std::string(pattern);
  for (auto kv : obj) {
    const std::string_view key = kv.key;
    if (key == "pattern") continue;  // as in GET output; the path's pattern wins
    if (key == "fields") {
      dom::object fields;
      if (kv.value.get(fields)) return bad("\"fields\" must be an object {name: type}");
      for (auto f : fields) {
        SchemaField field;
        std::string_view type;
        if (dom::object spec; !f.value.get(spec)) {
          for (auto m : spec) {
            if (m.key == "type") {
              if (m.value.get(type))
                return bad("fields." + std::string(f.key) + ".type must be a string");
            } else if (m.key == "required") {
              if (m.value.get(field.required)) {
                return bad("fields." + std::string(f.key) + ".required must be true or false");
              }
            } else if (m.key == "discovered") {
              if (m.value.get(field.discovered)) {
                return bad("fields." + std::string(f.key) + ".discovered must be true or false");
              }
            } else {
              return bad("fields." + std::string(f.key) + ": unknown member " + Q(m.key) +
                         " (known: type, required)");
            }
          }
        } else if (f.value.get(type)) {
          return bad("fields." + std::string(f.key) +
                     " must be a type name or {\"type\":..., \"required\":bool}");
        }
        auto t = ParseFieldType(type);
        if (!t.ok()) return bad("fields." + std::string(f.key) + ": " + t.status().message());
        field.type = *t;
        if (f.key.empty()) return bad("a field name must not be empty");
        // "required" may come first: keep what it said.
        if (auto prev = schema.fields.find(std::string(f.key)); prev != schema.fields.end()) {
          field.required |= prev->second.required;
        }
        schema.fields[std::string(f.key)] = field;
      }
    } else if (key == "required") {
      dom::array req;
      if (kv.value.get(req)) return bad("\"required\" must be an array of field names");
      for (dom::element r : req) {
        std::string_view name;
        if (r.get(name)) return bad("\"required\" must be an array of field names");
        auto it = schema.fields.find(std::string(name));
        if (it == schema.fields.end()) {
          // Order in the object is not significant: declare it later if needed.
          schema.fields[std::string(name)] = SchemaField{FieldType::kJson, true, false};
          schema.fields[std::string(name)].discovered = true;  // marker: type not declared yet
        } else {
          it->second.required = true;
        }
      }
    } else if (key == "time_index") {
      if (kv.value.is_null()) continue;
      std::string_view ti;
      if (kv.value.get(ti)) return bad("\"time_index\" must be a field name");
      schema.time_index = std::string(ti);
    } else if (key == "policy") {
      std::string_view p;
      if (kv.value.get(p)) return bad("\"policy\" must be allow, warn or reject");
      auto pol = ParseDiscoveryPolicy(p);
      if (!pol.ok()) return pol.status();
      schema.policy = *pol;
    } else {
      return bad("unknown member " + Q(key) + " (known: fields, required, time_index, policy)");
    }
  }
  // "required" named before "fields" were declared: a required name that
  // "fields" declared later got its real type there; required-only names
  // keep type json (any value) and count as declared.
  for (auto& [name, f] : schema.fields) {
    if (f.required && f.discovered && f.type == FieldType::kJson) f.discovered = false;
  }
  return schema;
}

// ---------------------------------------------------------------------------
// SchemaRegistry
// ---------------------------------------------------------------------------

SchemaRegistry::SchemaRegistry(MetricsRegistry* metrics) : metrics_(metrics) {
  warnings_ = metrics_->GetCounter("schema_warnings_total",
                                   "schema_warning events: fields discovered under policy warn.");
  discovered_ = metrics_->GetCounter("schema_fields_discovered_total",
                                     "Fields added to schemas by discovery (allow and warn).");
}

void SchemaRegistry::SetPersist(std::function<void(const std::string&)> persist) {
  std::lock_guard lock(mu_);
  persist_ = std::move(persist);
}

Status SchemaRegistry::PutLocked(Schema schema) {
  auto pattern = Pattern::Parse(schema.pattern);
  if (!pattern.ok()) return Status::InvalidArgument("bad_schema", pattern.status().message());
  if (schema.fields.size() > kMaxFieldsPerSchema) {
    return Status::InvalidArgument(
        "bad_schema", "schema has " + std::to_string(schema.fields.size()) +
                          " fields, the limit is " + std::to_string(kMaxFieldsPerSchema));
  }
  if (!schema.time_index.empty()) {
    auto it = schema.fields.find(schema.time_index);
    if (it == schema.fields.end() ||
        (it->second.type != FieldType::kTimestamp && it->second.type != FieldType::kInt &&
         it->second.type != FieldType::kFloat)) {
      return Status::InvalidArgument(
          "bad_schema", "time_index " + Q(schema.time_index) +
                            " must be a declared field of type timestamp (or int/float ms)");
    }
  }
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.schema->pattern == schema.pattern; });
  if (it != entries_.end()) {
    // Keep what discovery learnt unless the new schema declares it.
    for (const auto& [name, f] : it->schema->fields) {
      if (f.discovered && schema.fields.size() < kMaxFieldsPerSchema)
        schema.fields.emplace(name, f);
    }
    entries_.erase(it);
  } else if (entries_.size() >= kMaxSchemas) {
    return Status::ResourceExhausted("too_many_schemas",
                                     "the registry holds " + std::to_string(entries_.size()) +
                                         " schemas, the limit is " + std::to_string(kMaxSchemas));
  }
  entries_.insert(entries_.begin(),
                  Entry{std::move(*pattern), std::make_shared<const Schema>(std::move(schema))});
  return Status::Ok();
}

Status SchemaRegistry::Put(Schema schema) {
  std::function<void(const std::string&)> persist;
  std::string text;
  {
    std::lock_guard lock(mu_);
    if (Status st = PutLocked(std::move(schema)); !st.ok()) return st;
    persist = persist_;
    if (persist) text = SerializeLocked();
  }
  if (persist) persist(text);
  return Status::Ok();
}

std::vector<Schema> SchemaRegistry::List() const {
  std::lock_guard lock(mu_);
  std::vector<Schema> out;
  for (const Entry& e : entries_) out.push_back(*e.schema);
  return out;
}

std::shared_ptr<const Schema> SchemaRegistry::FindLocked(std::string_view stream) const {
  if (stream.starts_with(kSysPrefix)) return nullptr;
  for (const Entry& e : entries_) {
    if (e.pattern.Matches(stream)) return e.schema;
  }
  return nullptr;
}

std::optional<Schema> SchemaRegistry::Effective(std::string_view stream) const {
  std::lock_guard lock(mu_);
  auto s = FindLocked(stream);
  if (!s) return std::nullopt;
  return *s;
}

std::optional<std::string> SchemaRegistry::TimeIndex(std::string_view stream) const {
  std::lock_guard lock(mu_);
  auto s = FindLocked(stream);
  if (!s || s->time_index.empty()) return std::nullopt;
  return s->time_index;
}

CsvColumnTypes SchemaRegistry::CsvTypes(std::string_view stream) const {
  CsvColumnTypes types;
  std::lock_guard lock(mu_);
  auto s = FindLocked(stream);
  if (!s) return types;
  for (const auto& [name, f] : s->fields) types.emplace(name, ToCsvType(f.type));
  return types;
}

std::map<std::string, FieldType> SchemaRegistry::SeenFields(std::string_view stream) const {
  std::lock_guard lock(mu_);
  auto it = seen_.find(stream);
  return it == seen_.end() ? std::map<std::string, FieldType>{} : it->second;
}

size_t SchemaRegistry::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

Result<std::vector<SchemaWarning>> SchemaRegistry::Validate(std::string_view stream,
                                                            const std::vector<std::string>& datas) {
  std::shared_ptr<const Schema> schema;
  {
    std::lock_guard lock(mu_);
    schema = FindLocked(stream);
  }
  std::vector<SchemaWarning> warnings;
  if (!schema) return warnings;
  // Fields this batch discovers or widens, and every field seen with its type.
  std::map<std::string, FieldType> batch_new;
  std::map<std::string, FieldType> seen;
  thread_local dom::parser parser;
  for (size_t i = 0; i < datas.size(); ++i) {
    simdjson::padded_string padded(datas[i].data(), datas[i].size());
    dom::element root;
    if (parser.parse(padded).get(root)) {
      return Refuse("bad_json", i, stream, "not valid JSON", "", nullptr, nullptr);
    }
    dom::object obj;
    if (root.get(obj)) {
      return Refuse("schema_not_object", i, stream,
                    std::string("stream has a schema (pattern ") + Q(schema->pattern) +
                        ") so each event must be a JSON object, got " + ActualTypeName(root),
                    "", "object", ActualTypeName(root));
    }
    for (auto kv : obj) {
      if (kv.value.is_null()) continue;  // null is absence
      const std::string key(kv.key);
      FieldType type;
      bool discovered;
      if (auto f = schema->fields.find(key); f != schema->fields.end()) {
        type = f->second.type;
        discovered = f->second.discovered;
      } else if (auto b = batch_new.find(key); b != batch_new.end()) {
        type = b->second;
        discovered = true;
      } else {
        const FieldType inferred = InferType(kv.value);
        if (schema->policy == DiscoveryPolicy::kReject) {
          return Refuse("schema_unknown_field", i, stream,
                        "field " + Q(key) + " is not in the schema of " + Q(schema->pattern) +
                            " (policy reject); inferred type " + FieldTypeName(inferred),
                        key, nullptr, FieldTypeName(inferred));
        }
        if (schema->fields.size() + batch_new.size() >= kMaxFieldsPerSchema) {
          return Refuse("schema_too_many_fields", i, stream,
                        "field " + Q(key) + " would make the schema of " + Q(schema->pattern) +
                            " exceed " + std::to_string(kMaxFieldsPerSchema) + " fields",
                        key, nullptr, FieldTypeName(inferred));
        }
        batch_new.emplace(key, inferred);
        if (schema->policy == DiscoveryPolicy::kWarn) {
          warnings.push_back(SchemaWarning{std::string(stream), schema->pattern, key, inferred, i});
        }
        seen[key] = inferred;
        continue;
      }
      if (!Matches(type, kv.value)) {
        if (discovered && type == FieldType::kInt && kv.value.is_double()) {
          batch_new[key] = FieldType::kFloat;  // a discovered int widens to float
          seen[key] = FieldType::kFloat;
          continue;
        }
        std::string actual = ActualTypeName(kv.value);
        if (type == FieldType::kTimestamp && kv.value.is_string()) actual = "string (not RFC 3339)";
        return Refuse("schema_type_mismatch", i, stream,
                      "field " + Q(key) + " expected " + FieldTypeName(type) + ", got " + actual,
                      key, FieldTypeName(type), ActualTypeName(kv.value));
      }
      auto [it, fresh] = seen.emplace(key, type);
      (void)it;
      (void)fresh;
    }
    for (const auto& [name, f] : schema->fields) {
      if (!f.required) continue;
      dom::element v;
      if (obj[name].get(v) || v.is_null()) {
        return Refuse("schema_missing_field", i, stream,
                      "required field " + Q(name) + " (" + FieldTypeName(f.type) + ") is missing",
                      name, FieldTypeName(f.type), "missing");
      }
    }
  }
  // Accepted: record discoveries (copy on write) and what this stream saw.
  std::function<void(const std::string&)> persist;
  std::string text;
  {
    std::lock_guard lock(mu_);
    if (!batch_new.empty()) {
      auto it = std::find_if(entries_.begin(), entries_.end(),
                             [&](const Entry& e) { return e.schema->pattern == schema->pattern; });
      if (it != entries_.end()) {
        auto updated = std::make_shared<Schema>(*it->schema);
        for (const auto& [name, type] : batch_new) {
          auto [f, inserted] = updated->fields.emplace(name, SchemaField{type, false, true});
          if (!inserted && f->second.discovered) f->second.type = type;  // widened
          if (inserted) discovered_->Add();
        }
        it->schema = std::move(updated);
        persist = persist_;
        if (persist) text = SerializeLocked();
      }
    }
    auto s = seen_.find(stream);
    if (s == seen_.end() && seen_.size() < kMaxSeenStreams) {
      s = seen_.emplace(std::string(stream), std::map<std::string, FieldType>{}).first;
    }
    if (s != seen_.end()) {
      for (const auto& [name, type] : seen) {
        auto [f, inserted] = s->second.emplace(name, type);
        if (!inserted && type == FieldType::kFloat && f->second == FieldType::kInt)
          f->second = type;
      }
    }
  }
  if (persist) persist(text);
  return warnings;
}

Status SchemaRegistry::Check(Hub* hub, std::string_view stream,
                             const std::vector<std::string>& datas) {
  auto r = Validate(stream, datas);
  if (!r.ok()) {
    metrics_
        ->GetCounter("schema_rejected_total", "Publishes refused by a schema, by reason.",
                     "reason=\"" + r.status().reason() + "\"")
        ->Add();
    return r.status();
  }
  for (const SchemaWarning& w : *r) {
    warnings_->Add();
    hub->SysEvent("schema_warning", JsonFields()
                                        .Add("stream", w.stream)
                                        .Add("pattern", w.pattern)
                                        .Add("field", w.field)
                                        .Add("inferred_type", FieldTypeName(w.type))
                                        .Add("index", w.index));
  }
  return Status::Ok();
}

std::string SchemaRegistry::SerializeLocked() const {
  std::string out = "{\"schemas\":[";
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (i) out.push_back(',');
    out += entries_[i].schema->ToJson();
  }
  out += "]}";
  return out;
}

std::string SchemaRegistry::SerializeAll() const {
  std::lock_guard lock(mu_);
  return SerializeLocked();
}

Status SchemaRegistry::Load(std::string_view json) {
  dom::parser parser;
  simdjson::padded_string padded(json.data(), json.size());
  dom::element root;
  dom::array list;
  if (parser.parse(padded).get(root) || root["schemas"].get(list)) {
    return Status::InvalidArgument("bad_schema", "stored schemas are not {\"schemas\":[...]}");
  }
  std::vector<Schema> schemas;
  for (dom::element e : list) {
    std::string_view pattern;
    if (e["pattern"].get(pattern))
      return Status::InvalidArgument("bad_schema", "stored schema without pattern");
    auto s = ParseSchemaJson(pattern, simdjson::minify(e));
    if (!s.ok()) return s.status();
    schemas.push_back(std::move(*s));
  }
  std::lock_guard lock(mu_);
  // Stored most recent first: register oldest first.
  for (auto it = schemas.rbegin(); it != schemas.rend(); ++it) {
    if (Status st = PutLocked(std::move(*it)); !st.ok()) return st;
  }
  return Status::Ok();
}

}  // namespace livehub
