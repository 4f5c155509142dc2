// Processor: what every derived-stream operator (window, alert rule)
// implements. The ProcessManager feeds it the events of its input streams,
// in seq order per stream, and ticks it with the wall clock; the Outputs it
// returns are published with Hub::Publish like any other event.
// A processor's outputs depend only on the records it was given (in that
// order) and on the `now_ms` values of OnTick: feeding the same records to a
// fresh processor gives the same outputs.
// Thread safety: not thread-safe; driven by one thread.
#pragma once

#include <string>
#include <vector>

#include "process/record.h"
#include "stream/pattern.h"

namespace livehub {

class Processor {
 public:
  virtual ~Processor() = default;
  virtual const std::string& name() const = 0;
  // The streams it reads.
  virtual const Pattern& input() const = 0;
  // Every stream it may write (for loop checks and the alerts endpoint).
  virtual std::vector<std::string> outputs() const = 0;
  virtual bool is_alert() const { return false; }

  virtual void OnRecord(const InputRecord& r, std::vector<Output>* out) = 0;
  // Periodic (every ~100 ms): processing time, idleness, early results.
  virtual void OnTick(int64_t now_ms, std::vector<Output>* out) = 0;
};

}  // namespace livehub
