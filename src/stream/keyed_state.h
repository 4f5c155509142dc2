// KeyedState: the merged state of a keyed stream (design §2 "Keyed state").
//
// A keyed stream's events are envelopes:
//   {"type":"full","generation":7,"state":{...}}   a new baseline; generation
//                                                  optional (default: current + 1)
//   {"type":"diff","generation":7,"patch":{...}}   an RFC 7386 merge patch for
//                                                  generation 7
// Admission (when events are sequenced) checks the generation: a diff for
// another generation is dropped (never appended), counted, and marks the
// stream need_full until the next full. Application (when events are
// appended to history and delivered, i.e. after the commit for `sync`
// streams) merges them into the state, so the state always equals "history
// up to seq()" and a snapshot plus the events after its seq is exact.
//
// Bound: the state's JSON size is kept under max_state_bytes. A full larger
// than that is refused at admission (state_too_large); a diff that grows the
// state past it clears the state and marks need_full (reason
// state_too_large): subscribers get no snapshot until the next full.
//
// Thread safety: not thread-safe; owned by its Stream, under the stream mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "codec/json_value.h"
#include "core/status.h"

namespace livehub {

enum class KeyedMode {
  kInfer,  // keyed if the stream's first event is a `full` envelope (default)
  kOn,     // keyed: every event must be an envelope
  kOff,    // never keyed
};

struct KeyedOptions {
  KeyedMode mode = KeyedMode::kInfer;
  size_t max_state_bytes = 16u << 20;
};

struct KeyedStats {
  bool keyed = false;
  uint64_t generation = 0;  // 0: no full yet
  uint64_t state_seq = 0;   // seq of the last applied event
  bool need_full = false;
  std::string need_full_reason;  // "generation" | "state_too_large" | "no_full"
  size_t state_bytes = 0;
  uint64_t fulls = 0;
  uint64_t diffs = 0;
  uint64_t diffs_dropped = 0;
};

class KeyedState {
 public:
  enum class Kind { kFull, kDiff };
  struct Envelope {
    Kind kind = Kind::kFull;
    uint64_t generation = 0;  // 0 in a full: "next"
    size_t body_bytes = 0;    // size of `state` / `patch` text
  };

  explicit KeyedState(size_t max_state_bytes) : max_state_bytes_(max_state_bytes) {}

  // Parses an envelope; keyed_bad_event naming what is wrong otherwise.
  static Result<Envelope> ParseEnvelope(std::string_view data);
  // True if `data` is a `full` envelope (cheap pre-check, then a parse).
  static bool LooksLikeFull(std::string_view data);

  // Admission of one event, in seq order. Returns false if the event must
  // be dropped (a diff for another generation: counted, need_full set).
  // A full's missing generation is filled in *env.
  bool Admit(Envelope* env);
  // Fails (state_too_large) for a full over the bound; call before Admit.
  Status CheckSize(const Envelope& env) const;

  // Applies a sequenced, admitted event.
  void Apply(uint64_t seq, std::string_view data);

  // {"type":"snapshot","stream","epoch","seq","generation","state"[,"need_full":true]}
  // Empty if there is no state (no full yet, or cleared).
  std::string SnapshotJson(std::string_view stream, std::string_view epoch) const;
  // {"type":"need_full","stream","epoch","generation","reason"[,"rejected_generation"]}
  std::string NeedFullJson(std::string_view stream, std::string_view epoch,
                           uint64_t rejected_generation) const;

  const JsonValue& state() const { return state_; }
  bool has_state() const { return applied_generation_ != 0; }
  uint64_t generation() const { return applied_generation_; }
  uint64_t state_seq() const { return state_seq_; }
  bool need_full() const { return need_full_; }
  KeyedStats Stats() const;

 private:
  void MarkNeedFull(const char* reason);

  const size_t max_state_bytes_;
  // Admission side (sequenced events).
  uint64_t admitted_generation_ = 0;
  bool need_full_ = false;
  std::string need_full_reason_;
  uint64_t diffs_dropped_ = 0;
  // Application side (appended events).
  JsonValue state_;
  uint64_t applied_generation_ = 0;  // 0: no state
  uint64_t state_seq_ = 0;
  size_t state_bytes_ = 0;
  uint64_t fulls_ = 0;
  uint64_t diffs_ = 0;
};

// JSON size of `v` as JsonValue::Write would print it (for the state bound).
size_t JsonSize(const JsonValue& v);

}  // namespace livehub
