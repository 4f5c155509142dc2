// StreamTemplate: maps a record a source received to the stream it is
// published to. Text with placeholders:
//   {id}          the source's id
//   {topic}       the whole upstream topic / path (may contain '/')
//   {1} .. {9}    one '/'-separated segment of the topic (1-based)
//   {event}       the upstream message type (SSE `event:`)
//   {key}         a connector-defined key (e.g. a GTFS-RT entity id)
//   {field:a.b}   a field of the record (string, number or bool), dotted
//                 path into nested objects
// Placeholder values other than {topic} are made into one valid segment:
// characters outside [A-Za-z0-9._-] (including '/') become '_'.
// e.g. MQTT topic `sensors/+/air` -> "sensors/{2}/air"... see docs.
// Thread safety: immutable after Parse; Render is thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace livehub {

struct TemplateVars {
  std::string_view topic;
  std::string_view event;
  std::string_view key;
};

class StreamTemplate {
 public:
  StreamTemplate() = default;
  // Errors (bad_config) name the bad placeholder.
  static Result<StreamTemplate> Parse(std::string_view text);

  // The stream for one record (compact JSON, needed only for {field:..}).
  // Errors (reason bad_stream): a missing/non-scalar field, an empty
  // segment, or a result that is not a valid stream name.
  Result<std::string> Render(std::string_view source_id, const TemplateVars& vars,
                             std::string_view record_json) const;

  bool uses_fields() const { return uses_fields_; }
  // True when the result never depends on the message (a fixed stream).
  bool is_constant() const { return constant_; }
  const std::string& text() const { return text_; }

 private:
  enum class Kind { kLiteral, kId, kTopic, kSegment, kEvent, kKey, kField };
  struct Part {
    Kind kind;
    std::string text;  // literal text, or the field path
    int segment = 0;
  };
  std::string text_;
  std::vector<Part> parts_;
  bool uses_fields_ = false;
  bool constant_ = true;
};

}  // namespace livehub
