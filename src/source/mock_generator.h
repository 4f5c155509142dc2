// MockGenerator: the fault-injecting test feed shared by the `mock` source
// (inside the hub) and `livehub mock` (a standalone producer). Each tick it
// makes, per mock stream, one message: a JSON array of `batch_size` records
// {"mock_seq", "t", "value", ...}. `mock_seq` is the upstream sequence the
// mock numbers itself, so injected faults are visible to consumers:
//   skip N       the next record's mock_seq jumps by N (a hole upstream)
//   drop_pct P   each record is lost upstream with probability P %
//   jitter_ms J  each tick is late by a random 0..J ms
//   burst        every `burst_every` ticks, `burst_size` extra records
//   stall_s T    no messages for T seconds (the source must turn stalled)
//   disconnect   the connection drops (the mock source reconnects)
// Thread safety: not thread-safe; one owner.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json_writer.h"
#include "core/status.h"

namespace livehub {

struct MockOptions {
  int streams = 1;               // mock streams, keys "m1".."mN"
  int64_t interval_ms = 100;     // one tick per interval
  int batch_size = 1;            // records per stream per tick
  std::string shape = "sensor";  // sensor | ticker | counter
  size_t payload_bytes = 0;      // pad each record to at least this size
  double drop_pct = 0;
  int64_t jitter_ms = 0;
  int burst_every = 0;  // ticks; 0: no bursts
  int burst_size = 0;
  bool running = true;
  uint64_t seed = 1;
};

// Parses/validates a control or options object (JSON) onto *o. Also
// returns the one-shot actions it asked for. Unknown keys are errors.
struct MockActions {
  uint64_t skip = 0;
  int64_t stall_ms = 0;
  bool disconnect = false;
};
Status ApplyMockControl(std::string_view json, MockOptions* o, MockActions* actions);
void DescribeMock(const MockOptions& o, JsonWriter* w);

class MockGenerator {
 public:
  explicit MockGenerator(MockOptions o);
  // One tick's messages: (key, JSON array payload) per stream that has any.
  std::vector<std::pair<std::string, std::string>> Tick(int64_t now_ms);
  // The delay before the next tick (interval plus jitter).
  int64_t NextDelayMs();
  void Skip(uint64_t n) { pending_skip_ += n; }
  MockOptions& options() { return o_; }
  uint64_t records_made() const { return made_; }
  uint64_t records_lost() const { return lost_; }

 private:
  void Record(size_t stream, int64_t now_ms, std::string* out);
  MockOptions o_;
  std::mt19937_64 rng_;
  std::vector<uint64_t> seq_;  // per stream: last mock_seq
  std::vector<double> value_;  // per stream: random walk
  uint64_t ticks_ = 0;
  uint64_t pending_skip_ = 0;
  uint64_t made_ = 0;
  uint64_t lost_ = 0;
};

}  // namespace livehub
