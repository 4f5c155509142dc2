// JSON renderings of stream state shared by the REST API and the WebSocket
// `status` / `history` ops, so both say exactly the same thing.
// Thread safety: free functions over values; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "core/json_writer.h"
#include "stream/stream.h"

namespace livehub {

// Members (no braces) of a stream's status: stream, epoch, latest_seq,
// latest_ts_ms, server_time_ms, first_seq, history_events, history_bytes,
// subscribers, events_in, bytes_in, evicted, rate_per_s, created_ms, freshness,
// and for keyed streams "keyed": {generation, state_seq, need_full,
// [need_full_reason], state_bytes, fulls, diffs, diffs_dropped}.
void WriteStreamStatusMembers(JsonWriter& w, const StreamStats& s, int64_t warn_after_ms,
                              int64_t stale_after_ms);

// "init" | "ok" | "warn" | "stale" from the age of the latest event.
const char* Freshness(const StreamStats& s, int64_t warn_after_ms, int64_t stale_after_ms);

// Members of a history page: stream, epoch, events [{seq,ts,data}], has_more,
// next_seq.
void WriteHistoryMembers(JsonWriter& w, const Stream& stream, const std::vector<EventPtr>& events,
                         bool has_more, uint64_t next_seq);

}  // namespace livehub
