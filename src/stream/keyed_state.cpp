#include "stream/keyed_state.h"

#include <simdjson.h>

#include <algorithm>

#include "core/json_writer.h"

namespace livehub {
namespace {

Status BadEvent(const std::string& what) {
  return Status::InvalidArgument(
      "keyed_bad_event",
      "keyed stream events are {\"type\":\"full\",\"generation\":N,\"state\":...} or "
      "{\"type\":\"diff\",\"generation\":N,\"patch\":{...}}: " +
          what);
}

int64_t MemberSize(std::string_view key, const JsonValue& v) {
  std::string k;
  AppendJsonString(&k, key);
  return static_cast<int64_t>(k.size() + 2 + JsonSize(v));  // key, ':', ','
}

// ApplyMergePatch, keeping *bytes equal to JsonSize(*target) (approximately:
// separators are counted per member).
void ApplyTracked(JsonValue* target, const JsonValue& patch, int64_t* bytes) {
  if (!patch.is_object()) {
    *bytes += static_cast<int64_t>(JsonSize(patch)) - static_cast<int64_t>(JsonSize(*target));
    *target = patch;
    return;
  }
  if (!target->is_object()) {
    *bytes += 2 - static_cast<int64_t>(JsonSize(*target));
    *target = JsonValue::Object();
  }
  auto& members = target->members();
  for (const auto& [key, value] : patch.members()) {
    auto it = members.find(key);
    if (value.is_null()) {
      if (it != members.end()) {
        *bytes -= MemberSize(key, it->second);
        members.erase(it);
      }
      continue;
    }
    if (it == members.end()) {
      it = members.emplace(key, JsonValue()).first;
      *bytes += MemberSize(key, it->second);
    }
    ApplyTracked(&it->second, value, bytes);
  }
}

}  // namespace

size_t JsonSize(const JsonValue& v) {
  switch (v.kind()) {
    case JsonValue::Kind::kArray: {
      size_t n = 2;
      for (const JsonValue& e : v.array()) n += JsonSize(e) + 1;
      return n;
    }
    case JsonValue::Kind::kObject: {
      size_t n = 2;
      for (const auto& [k, e] : v.members()) n += static_cast<size_t>(MemberSize(k, e));
      return n;
    }
    default: {
      std::string s;
      v.Write(&s);
      return s.size();
    }
  }
}

Result<KeyedState::Envelope> KeyedState::ParseEnvelope(std::string_view data) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(data.data(), data.size());
  simdjson::dom::element root;
  if (parser.parse(padded).get(root)) return BadEvent("not valid JSON");
  simdjson::dom::object obj;
  if (root.get(obj)) return BadEvent("the event is not an object");
  std::string_view type;
  if (obj["type"].get(type) || (type != "full" && type != "diff")) {
    return BadEvent("\"type\" must be \"full\" or \"diff\"");
  }
  Envelope env;
  env.kind = type == "full" ? Kind::kFull : Kind::kDiff;
  if (simdjson::dom::element g; !obj["generation"].get(g)) {
    uint64_t gen = 0;
    if (g.get(gen) || gen == 0) return BadEvent("\"generation\" must be a positive integer");
    env.generation = gen;
  } else if (env.kind == Kind::kDiff) {
    return BadEvent("a diff needs \"generation\" (the generation it applies to)");
  }
  const char* body = env.kind == Kind::kFull ? "state" : "patch";
  simdjson::dom::element b;
  if (obj[body].get(b)) {
    return BadEvent(std::string("a ") + std::string(type) + " needs \"" + body + "\"");
  }
  env.body_bytes = simdjson::minify(b).size();
  for (auto kv : obj) {
    if (kv.key != "type" && kv.key != "generation" && kv.key != body) {
      return BadEvent("unexpected member \"" + std::string(kv.key.substr(0, 64)) + "\"");
    }
  }
  return env;
}

bool KeyedState::LooksLikeFull(std::string_view data) {
  if (data.empty() || data.front() != '{' || data.find("\"full\"") == std::string_view::npos) {
    return false;
  }
  auto env = ParseEnvelope(data);
  return env.ok() && env->kind == Kind::kFull;
}

Status KeyedState::CheckSize(const Envelope& env) const {
  if (env.kind != Kind::kFull || env.body_bytes <= max_state_bytes_) return Status::Ok();
  return Status::TooLarge("state_too_large", "full state is " + std::to_string(env.body_bytes) +
                                                 " bytes, keyed.max_state_bytes is " +
                                                 std::to_string(max_state_bytes_));
}

void KeyedState::MarkNeedFull(const char* reason) {
  need_full_ = true;
  need_full_reason_ = reason;
}

bool KeyedState::Admit(Envelope* env) {
  if (env->kind == Kind::kFull) {
    if (env->generation == 0) env->generation = admitted_generation_ + 1;
    admitted_generation_ = env->generation;
    need_full_ = false;
    need_full_reason_.clear();
    return true;
  }
  if (admitted_generation_ != 0 && env->generation == admitted_generation_) return true;
  ++diffs_dropped_;
  if (admitted_generation_ != 0) {
    MarkNeedFull("generation");
  } else if (need_full_reason_ != "state_too_large") {
    MarkNeedFull("no_full");
  }
  return false;
}

void KeyedState::Apply(uint64_t seq, std::string_view data) {
  auto parsed = JsonValue::Parse(data);
  if (!parsed.ok()) return;  // admitted events are valid envelopes
  JsonValue& ev = *parsed;
  const JsonValue* type = ev.Find("type");
  const JsonValue* gen = ev.Find("generation");
  if (!type) return;
  if (type->string_value() == "full") {
    auto& m = ev.members();
    auto it = m.find("state");
    if (it == m.end()) return;
    state_ = std::move(it->second);
    // A full without a generation was given one at admission, in order.
    applied_generation_ = gen && gen->is_integer() ? static_cast<uint64_t>(gen->int_value())
                                                   : applied_generation_ + 1;
    state_bytes_ = JsonSize(state_);
    ++fulls_;
  } else {
    if (!gen || applied_generation_ == 0 ||
        static_cast<uint64_t>(gen->int_value()) != applied_generation_) {
      state_seq_ = seq;
      return;  // the state was cleared (bound) after this diff was admitted
    }
    const JsonValue* patch = ev.Find("patch");
    if (!patch) return;
    int64_t bytes = static_cast<int64_t>(state_bytes_);
    ApplyTracked(&state_, *patch, &bytes);
    state_bytes_ = static_cast<size_t>(std::max<int64_t>(bytes, 0));
    ++diffs_;
    if (state_bytes_ > max_state_bytes_) {
      state_ = JsonValue();
      state_bytes_ = 0;
      applied_generation_ = 0;
      admitted_generation_ = 0;  // later diffs of this generation are dropped
      MarkNeedFull("state_too_large");
    }
  }
  state_seq_ = seq;
}

std::string KeyedState::SnapshotJson(std::string_view stream, std::string_view epoch) const {
  std::string json;
  if (!has_state()) return json;
  JsonWriter w(&json);
  w.BeginObject().Field("type", "snapshot").Field("stream", stream).Field("epoch", epoch);
  w.Field("seq", state_seq_).Field("generation", applied_generation_);
  w.Key("state").Raw(state_.ToString());
  if (need_full_) w.Field("need_full", true);
  w.EndObject();
  return json;
}

std::string KeyedState::NeedFullJson(std::string_view stream, std::string_view epoch,
                                     uint64_t rejected_generation) const {
  std::string json;
  JsonWriter w(&json);
  w.BeginObject().Field("type", "need_full").Field("stream", stream).Field("epoch", epoch);
  w.Field("generation", admitted_generation_).Field("reason", need_full_reason_);
  if (rejected_generation) w.Field("rejected_generation", rejected_generation);
  w.EndObject();
  return json;
}

KeyedStats KeyedState::Stats() const {
  KeyedStats s;
  s.keyed = true;
  s.generation = applied_generation_;
  s.state_seq = state_seq_;
  s.need_full = need_full_;
  s.need_full_reason = need_full_reason_;
  s.state_bytes = state_bytes_;
  s.fulls = fulls_;
  s.diffs = diffs_;
  s.diffs_dropped = diffs_dropped_;
  return s;
}

}  // namespace livehub
