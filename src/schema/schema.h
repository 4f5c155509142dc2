// SchemaRegistry: per stream-pattern schemas (typed fields, required fields,
// the time-index field, a discovery policy) and the check every publish goes
// through: the Hub calls it (as its PublishCheck) before anything is
// sequenced, so HTTP, WebSocket and connector publishes are all checked.
//
// Rules. A stream's effective schema is the one registered for the first
// (most recently registered first) pattern that matches its name; `$sys/`
// streams never have one. For each event of a batch (which must be a JSON
// object when a schema applies):
//   - a declared field must have its type (null counts as absent);
//     `int` accepts integers, `float` any number, `timestamp` an integer
//     (ms since the Unix epoch) or an RFC 3339 string, `json` anything;
//   - a required field must be present and not null;
//   - an undeclared field is discovered with its inferred type: `allow`
//     adds it silently, `warn` adds it and reports a schema_warning,
//     `reject` refuses the publish. A discovered field is then checked like
//     a declared one (an `int` widens to `float` when a fraction arrives).
// A refused event refuses the whole batch (nothing is appended), naming the
// field, expected and actual types, and the event's index (and line for
// decoded bodies, where the caller knows it).
//
// Thread safety: thread-safe (one mutex; Validate holds it only to look up
// and to record discoveries, never while parsing).
// Bounds: at most kMaxSchemas patterns, kMaxFieldsPerSchema fields per
// schema (declared + discovered); past the latter new fields are refused
// (reason schema_too_many_fields) whatever the policy.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codec/body_decoder.h"
#include "core/status.h"
#include "metrics/metrics.h"
#include "stream/hub.h"
#include "stream/pattern.h"

namespace livehub {

// Where schemas persist: one connector-cursor row of the store (written in
// the store's transactions like any cursor), holding SerializeAll().
inline constexpr const char* kSchemaCursorSource = "$schema";
inline constexpr const char* kSchemaCursorKey = "registry";

enum class FieldType { kInt, kFloat, kBool, kString, kTimestamp, kJson };
const char* FieldTypeName(FieldType t);
Result<FieldType> ParseFieldType(std::string_view text);

enum class DiscoveryPolicy { kAllow, kWarn, kReject };
const char* DiscoveryPolicyName(DiscoveryPolicy p);
Result<DiscoveryPolicy> ParseDiscoveryPolicy(std::string_view text);

struct SchemaField {
  FieldType type = FieldType::kJson;
  bool required = false;
  bool discovered = false;  // added by discovery, not declared
};

struct Schema {
  std::string pattern;
  std::map<std::string, SchemaField> fields;
  std::string time_index;  // empty: none (processing time)
  DiscoveryPolicy policy = DiscoveryPolicy::kWarn;

  // {"pattern","fields":{name:{"type","required","discovered"}},"required":[...],
  //  "time_index","policy"}
  std::string ToJson() const;
};

// Parses a schema body (PUT /v1/schema/{pattern}):
// {"fields":{"name":"type", ...}, "required":["name",...], "time_index":"name",
//  "policy":"allow|warn|reject"}. Errors name the member.
Result<Schema> ParseSchemaJson(std::string_view pattern, std::string_view json);

// A discovered field reported as a warning (policy `warn`).
struct SchemaWarning {
  std::string stream;
  std::string pattern;
  std::string field;
  FieldType type;
  size_t index;  // event index in the batch
};

class SchemaRegistry : public PublishCheck {
 public:
  static constexpr size_t kMaxSchemas = 1000;
  static constexpr size_t kMaxFieldsPerSchema = 1000;

  explicit SchemaRegistry(MetricsRegistry* metrics);

  // Registers (or replaces, keeping fields discovered so far unless
  // redeclared) the schema of its pattern. Fails on a bad pattern, a
  // time_index or required field that is not declared with a usable type,
  // or too many schemas.
  Status Put(Schema schema);
  // Every registered schema, most recent first.
  std::vector<Schema> List() const;
  // The schema that applies to `stream`, if any.
  std::optional<Schema> Effective(std::string_view stream) const;
  // The time-index field of `stream`'s schema (event time for windows), if any.
  std::optional<std::string> TimeIndex(std::string_view stream) const;
  // CSV column types for `stream` (empty: infer; see DecodeBody).
  CsvColumnTypes CsvTypes(std::string_view stream) const override;

  // Checks a batch (compact JSON per event) for `stream`. On success,
  // records discovered fields and returns the warnings to report; on
  // failure nothing is recorded and the status names field, types, index.
  Result<std::vector<SchemaWarning>> Validate(std::string_view stream,
                                              const std::vector<std::string>& datas);
  // PublishCheck: Validate, counting refusals, and reporting each warning
  // as a `schema_warning` event on $sys/events (through `hub`).
  Status Check(Hub* hub, std::string_view stream, const std::vector<std::string>& datas) override;
  // The fields seen on `stream` (declared ones that appeared, and
  // discovered ones) with their types; empty if it has no schema.
  std::map<std::string, FieldType> SeenFields(std::string_view stream) const;

  // Persistence hook: called (outside the lock) with the JSON of every
  // registered schema after each Put; Load() restores from that text.
  void SetPersist(std::function<void(const std::string&)> persist);
  Status Load(std::string_view json);
  std::string SerializeAll() const;

  size_t size() const;

 private:
  struct Entry {
    Pattern pattern;
    std::shared_ptr<const Schema> schema;  // replaced, never mutated (copy on write)
  };
  std::shared_ptr<const Schema> FindLocked(std::string_view stream) const;
  Status PutLocked(Schema schema);
  std::string SerializeLocked() const;

  static constexpr size_t kMaxSeenStreams = 100'000;
  MetricsRegistry* metrics_;
  Counter* warnings_;
  Counter* discovered_;
  mutable std::mutex mu_;
  std::vector<Entry> entries_;  // most recent first; guarded by mu_
  // stream -> field -> type seen on it (streams with a schema only, bounded
  // by kMaxSeenStreams: past it new streams are not tracked); guarded by mu_.
  std::map<std::string, std::map<std::string, FieldType>, std::less<>> seen_;
  std::function<void(const std::string&)> persist_;
};

}  // namespace livehub
