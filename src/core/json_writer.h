// JsonWriter appends compact JSON text to a caller-owned std::string.
// Thread safety: not thread-safe; one writer per string.
// The caller is responsible for well-formed nesting; commas are inserted
// automatically between members and array elements.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace livehub {

// Appends `s` as a JSON string literal (with quotes), escaping control
// characters, quotes and backslashes. Valid UTF-8 is passed through; each
// byte that does not start a valid UTF-8 sequence (RFC 3629: no overlongs,
// surrogates or code points past U+10FFFF) becomes \ufffd, so the output is
// always valid JSON and a valid WebSocket text payload, whatever bytes a
// connector or a client sent.
void AppendJsonString(std::string* out, std::string_view s);

// Appends the decimal digits of `v` (no allocation, unlike std::to_string).
void AppendJsonInt(std::string* out, int64_t v);
void AppendJsonUint(std::string* out, uint64_t v);

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject() {
    Sep();
    out_->push_back('{');
    first_ = true;
    return *this;
  }
  JsonWriter& EndObject() {
    out_->push_back('}');
    first_ = false;
    return *this;
  }
  JsonWriter& BeginArray() {
    Sep();
    out_->push_back('[');
    first_ = true;
    return *this;
  }
  JsonWriter& EndArray() {
    out_->push_back(']');
    first_ = false;
    return *this;
  }

  // Object key; the next value call writes its value.
  JsonWriter& Key(std::string_view k) {
    Sep();
    AppendJsonString(out_, k);
    out_->push_back(':');
    first_ = true;  // suppress the comma before the value
    return *this;
  }
  JsonWriter& String(std::string_view v) {
    Sep();
    AppendJsonString(out_, v);
    return *this;
  }
  JsonWriter& Int(int64_t v) {
    Sep();
    AppendJsonInt(out_, v);
    return *this;
  }
  JsonWriter& Uint(uint64_t v) {
    Sep();
    AppendJsonUint(out_, v);
    return *this;
  }
  JsonWriter& Double(double v);
  JsonWriter& Bool(bool v) {
    Sep();
    out_->append(v ? "true" : "false");
    return *this;
  }
  JsonWriter& Null() {
    Sep();
    out_->append("null");
    return *this;
  }
  // Already-serialised JSON (e.g. an event's data), inserted verbatim.
  JsonWriter& Raw(std::string_view json) {
    Sep();
    out_->append(json);
    return *this;
  }

  // Shorthands for "key": value.
  JsonWriter& Field(std::string_view k, std::string_view v) { return Key(k).String(v); }
  JsonWriter& Field(std::string_view k, const char* v) { return Key(k).String(v); }
  JsonWriter& Field(std::string_view k, int64_t v) { return Key(k).Int(v); }
  JsonWriter& Field(std::string_view k, uint64_t v) { return Key(k).Uint(v); }
  JsonWriter& Field(std::string_view k, int v) { return Key(k).Int(v); }
  JsonWriter& Field(std::string_view k, bool v) { return Key(k).Bool(v); }
  JsonWriter& Field(std::string_view k, double v) { return Key(k).Double(v); }

 private:
  void Sep() {
    if (!first_) out_->push_back(',');
    first_ = false;
  }
  std::string* out_;
  bool first_ = true;
};

// JsonFields: the extra members of a structured log line or a lifecycle
// event ($sys/events), each escaped by JsonWriter, never concatenated by
// hand: `JsonFields().Add("session", id).Add("reason", why)`.
// text() is empty or a run of members each starting with ','.
// Thread safety: not thread-safe; a value type.
class JsonFields {
 public:
  // `v`: anything JsonWriter::Field takes (strings, integers, bool, double).
  template <typename T>
  JsonFields& Add(std::string_view key, const T& v) {
    text_.push_back(',');
    JsonWriter(&text_).Field(key, v);
    return *this;
  }
  // An already-serialised JSON value (e.g. an object built elsewhere).
  JsonFields& AddRaw(std::string_view key, std::string_view json) {
    text_.push_back(',');
    JsonWriter(&text_).Key(key).Raw(json);
    return *this;
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

}  // namespace livehub
