// JsonValue: a small mutable JSON tree, for the few places that must change
// JSON rather than pass it through (keyed state: RFC 7386 merge patches).
// Objects are kept sorted by key (std::map): member order is not significant
// in JSON, and lookups stay O(log n) for large states.
// Thread safety: a value type; not thread-safe to mutate concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace livehub {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kInt, kUint, kDouble, kString, kArray, kObject };

  JsonValue() = default;  // null
  static JsonValue Object() {
    JsonValue v;
    v.kind_ = Kind::kObject;
    return v;
  }
  static JsonValue String(std::string s) {
    JsonValue v;
    v.kind_ = Kind::kString;
    v.string_ = std::move(s);
    return v;
  }
  static JsonValue Int(int64_t i) {
    JsonValue v;
    v.kind_ = Kind::kInt;
    v.int_ = i;
    return v;
  }
  static JsonValue Bool(bool b) {
    JsonValue v;
    v.kind_ = Kind::kBool;
    v.bool_ = b;
    return v;
  }

  // Parses one JSON document (bad_json with the simdjson error on failure).
  static Result<JsonValue> Parse(std::string_view json);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_number() const {
    return kind_ == Kind::kInt || kind_ == Kind::kUint || kind_ == Kind::kDouble;
  }
  bool is_integer() const { return kind_ == Kind::kInt || kind_ == Kind::kUint; }

  bool bool_value() const { return bool_; }
  int64_t int_value() const { return kind_ == Kind::kUint ? static_cast<int64_t>(uint_) : int_; }
  double double_value() const;
  const std::string& string_value() const { return string_; }
  const std::vector<JsonValue>& array() const { return array_; }
  std::vector<JsonValue>& array() { return array_; }
  const std::map<std::string, JsonValue, std::less<>>& members() const { return members_; }
  std::map<std::string, JsonValue, std::less<>>& members() { return members_; }
  // Member `key` of an object, or null if absent (or not an object).
  const JsonValue* Find(std::string_view key) const;

  // Compact JSON.
  void Write(std::string* out) const;
  std::string ToString() const {
    std::string s;
    Write(&s);
    return s;
  }

  bool operator==(const JsonValue& o) const;

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  uint64_t uint_ = 0;
  double double_ = 0;
  std::string string_;
  std::vector<JsonValue> array_;
  std::map<std::string, JsonValue, std::less<>> members_;

  friend struct JsonValueBuilder;
};

// RFC 7386 MergePatch(target, patch): a non-object patch replaces the
// target; an object patch merges key by key, null deleting a key, objects
// merging recursively, everything else (arrays included) replacing.
void ApplyMergePatch(JsonValue* target, const JsonValue& patch);

// Folds `second` into `first` so that applying the result equals applying
// `first` then `second`, to any target. Returns false (and leaves `first`
// unchanged) when one merge patch cannot express that: `second` merges an
// object into a key that `first` set to a non-object (the result would have
// to replace a possibly existing object, which a patch cannot say).
bool ComposeMergePatches(JsonValue* first, const JsonValue& second);

}  // namespace livehub
