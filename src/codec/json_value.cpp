#include "codec/json_value.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>

#include "core/json_writer.h"

namespace livehub {

struct JsonValueBuilder {
  static Status Build(simdjson::dom::element e, JsonValue* out, int depth) {
    namespace dom = simdjson::dom;
    if (depth > 1000) return Status::InvalidArgument("bad_json", "JSON nested too deeply");
    switch (e.type()) {
      case dom::element_type::NULL_VALUE:
        out->kind_ = JsonValue::Kind::kNull;
        break;
      case dom::element_type::BOOL:
        out->kind_ = JsonValue::Kind::kBool;
        out->bool_ = e.get_bool().value_unsafe();
        break;
      case dom::element_type::INT64:
        out->kind_ = JsonValue::Kind::kInt;
        out->int_ = e.get_int64().value_unsafe();
        break;
      case dom::element_type::UINT64:
        out->kind_ = JsonValue::Kind::kUint;
        out->uint_ = e.get_uint64().value_unsafe();
        break;
      case dom::element_type::DOUBLE:
        out->kind_ = JsonValue::Kind::kDouble;
        out->double_ = e.get_double().value_unsafe();
        break;
      case dom::element_type::STRING:
        out->kind_ = JsonValue::Kind::kString;
        out->string_ = std::string(e.get_string().value_unsafe());
        break;
      case dom::element_type::ARRAY: {
        out->kind_ = JsonValue::Kind::kArray;
        // value_unsafe() returns a reference into the temporary result: copy.
        const dom::array array = e.get_array().value_unsafe();
        for (dom::element child : array) {
          out->array_.emplace_back();
          if (Status s = Build(child, &out->array_.back(), depth + 1); !s.ok()) return s;
        }
        break;
      }
      case dom::element_type::OBJECT: {
        out->kind_ = JsonValue::Kind::kObject;
        const dom::object object = e.get_object().value_unsafe();
        for (dom::key_value_pair kv : object) {
          JsonValue& v = out->members_[std::string(kv.key)];
          v = JsonValue();  // a duplicate key: the last one wins
          if (Status s = Build(kv.value, &v, depth + 1); !s.ok()) return s;
        }
        break;
      }
    }
    return Status::Ok();
  }
};

Result<JsonValue> JsonValue::Parse(std::string_view json) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(json.data(), json.size());
  simdjson::dom::element root;
  if (auto err = parser.parse(padded).get(root)) {
    return Status::InvalidArgument("bad_json",
                                   std::string("invalid JSON: ") + simdjson::error_message(err));
  }
  JsonValue v;
  if (Status s = JsonValueBuilder::Build(root, &v, 0); !s.ok()) return s;
  return v;
}

double JsonValue::double_value() const {
  switch (kind_) {
    case Kind::kInt:
      return static_cast<double>(int_);
    case Kind::kUint:
      return static_cast<double>(uint_);
    case Kind::kDouble:
      return double_;
    default:
      return 0;
  }
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  if (kind_ != Kind::kObject) return nullptr;
  auto it = members_.find(key);
  return it == members_.end() ? nullptr : &it->second;
}

void JsonValue::Write(std::string* out) const {
  switch (kind_) {
    case Kind::kNull:
      out->append("null");
      break;
    case Kind::kBool:
      out->append(bool_ ? "true" : "false");
      break;
    case Kind::kInt:
      out->append(std::to_string(int_));
      break;
    case Kind::kUint:
      out->append(std::to_string(uint_));
      break;
    case Kind::kDouble: {
      if (!std::isfinite(double_)) {
        out->append("null");
        break;
      }
      char buf[32];
      auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), double_);
      std::string_view s(buf, static_cast<size_t>(p - buf));
      out->append(s);
      // Keep it a float on the way back in ("2" would read as an integer).
      if (s.find_first_of(".eE") == std::string_view::npos) out->append(".0");
      break;
    }
    case Kind::kString:
      AppendJsonString(out, string_);
      break;
    case Kind::kArray: {
      out->push_back('[');
      bool first = true;
      for (const JsonValue& v : array_) {
        if (!first) out->push_back(',');
        first = false;
        v.Write(out);
      }
      out->push_back(']');
      break;
    }
    case Kind::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& [k, v] : members_) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(out, k);
        out->push_back(':');
        v.Write(out);
      }
      out->push_back('}');
      break;
    }
  }
}

bool JsonValue::operator==(const JsonValue& o) const {
  if (is_number() && o.is_number()) {
    if (is_integer() && o.is_integer()) {
      if (kind_ == o.kind_) return kind_ == Kind::kInt ? int_ == o.int_ : uint_ == o.uint_;
      return false;  // int64 vs uint64 only overlap when both fit int64: simdjson picks int64
    }
    return double_value() == o.double_value();
  }
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return bool_ == o.bool_;
    case Kind::kString:
      return string_ == o.string_;
    case Kind::kArray:
      return array_ == o.array_;
    case Kind::kObject:
      return members_ == o.members_;
    default:
      return false;
  }
}

void ApplyMergePatch(JsonValue* target, const JsonValue& patch) {
  if (!patch.is_object()) {
    *target = patch;
    return;
  }
  if (!target->is_object()) *target = JsonValue::Object();
  auto& members = target->members();
  for (const auto& [key, value] : patch.members()) {
    if (value.is_null()) {
      members.erase(key);
    } else {
      ApplyMergePatch(&members[key], value);
    }
  }
}

namespace {

bool CanCompose(const JsonValue& first, const JsonValue& second) {
  if (!second.is_object()) return true;  // replaces whatever `first` made
  if (!first.is_object()) return false;  // `first` replaced the target: merging is not replacing
  for (const auto& [key, value] : second.members()) {
    if (!value.is_object()) continue;
    const JsonValue* prev = first.Find(key);
    if (prev && !CanCompose(*prev, value)) return false;
  }
  return true;
}

void Compose(JsonValue* first, const JsonValue& second) {
  if (!second.is_object()) {
    *first = second;
    return;
  }
  auto& members = first->members();
  for (const auto& [key, value] : second.members()) {
    auto it = members.find(key);
    if (it == members.end() || !value.is_object()) {
      members[key] = value;
    } else {
      Compose(&it->second, value);
    }
  }
}

}  // namespace

bool ComposeMergePatches(JsonValue* first, const JsonValue& second) {
  if (!CanCompose(*first, second)) return false;
  Compose(first, second);
  return true;
}

}  // namespace livehub
