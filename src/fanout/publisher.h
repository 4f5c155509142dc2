// Publisher: the one publish path of the hub's clients — HTTP
// POST /v1/publish, the WebSocket `publish` op and every transport to come:
// access -> rate limit -> decode -> Hub::Publish -> ack. Connectors and
// processors publish through Hub::Publish directly (no credential, no rate).
//
// Counting: refusals by access or rate are counted by Admission; a body
// that does not decode is counted in livehub_publish_rejected_total{reason}
// (and in refusals_total when a limit bit: too_deep, too large). The caller
// counts its per-transport error metric.
// Thread safety: thread-safe (immutable; Hub and Admission are).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codec/body_decoder.h"
#include "core/json_writer.h"
#include "fanout/admission.h"
#include "stream/hub.h"

namespace livehub {

// What to publish: a body to decode by its Content-Type (a JSON value, a
// JSON array with one event per element, NDJSON or CSV), or events that are
// already one compact JSON value each (a WebSocket op's `data`).
struct PublishInput {
  std::string_view stream;
  std::string_view content_type;  // body: "" reads as JSON
  std::string_view body;
  const std::vector<std::string>* events = nullptr;  // set: no decoding
};

class Publisher {
 public:
  Publisher(Hub* hub, const Admission* admission, DecodeLimits decode)
      : hub_(hub), admission_(admission), decode_(decode) {}

  // The ack (or the refusal) now, or nullopt for a `sync` stream: `done`
  // then gets it from the store's writer thread once committed. A refused
  // publish appends nothing.
  std::optional<Result<PublishAck>> Publish(const Access& access, PeerTicket* ticket,
                                            const PublishInput& in, PublishDone done) const;

 private:
  Hub* hub_;
  const Admission* admission_;
  DecodeLimits decode_;
};

// The ack's members: "stream", "epoch", "first_seq", "last_seq" (and
// "dropped", "need_full" when a keyed batch dropped diffs).
void WritePublishAckMembers(JsonWriter& w, const PublishAck& ack);

}  // namespace livehub
