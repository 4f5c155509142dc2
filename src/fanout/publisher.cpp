#include "fanout/publisher.h"

#include "limits/limits.h"
#include "stream/pattern.h"

namespace livehub {

std::optional<Result<PublishAck>> Publisher::Publish(const Access& access, PeerTicket* ticket,
                                                     const PublishInput& in,
                                                     PublishDone done) const {
  if (!access.CanWrite(in.stream)) {
    return Result<PublishAck>(
        admission_->Refuse(access, "not allowed to publish to '" + std::string(in.stream) + "'"));
  }
  if (Status st = admission_->TakePublish(ticket); !st.ok()) return Result<PublishAck>(st);
  if (in.events) return hub_->Publish(in.stream, *in.events, false, std::move(done));

  // curl -d sends application/x-www-form-urlencoded by default; a publish
  // body is never a form, so read it as JSON.
  std::string_view ct = in.content_type;
  if (ct.starts_with("application/x-www-form-urlencoded")) ct = "application/json";
  auto format = FormatFromContentType(ct);
  if (!format.ok()) return Result<PublishAck>(format.status());
  // Validate the name before decoding so a bad name is reported as such.
  if (!in.stream.starts_with(kSysPrefix)) {
    if (Status st = ValidateStreamName(in.stream); !st.ok()) return Result<PublishAck>(st);
  }
  std::vector<std::string> events;
  // CSV columns take the types of the stream's schema (if any).
  CsvColumnTypes csv_types;
  if (*format == BodyFormat::kCsv && hub_->publish_check()) {
    csv_types = hub_->publish_check()->CsvTypes(in.stream);
  }
  if (Status st = DecodeBody(*format, in.body, decode_, &events, &csv_types); !st.ok()) {
    hub_->metrics()
        ->GetCounter("publish_rejected_total", "Publishes rejected, by reason.",
                     "reason=\"" + st.reason() + "\"")
        ->Add();
    if (st.reason() == "too_deep" || st.code() == StatusCode::kTooLarge) {
      CountRefusal(hub_->metrics(), st.reason());  // a limit, not a malformed body
    }
    return Result<PublishAck>(st);
  }
  return hub_->Publish(in.stream, events, false, std::move(done));
}

void WritePublishAckMembers(JsonWriter& w, const PublishAck& ack) {
  w.Field("stream", ack.stream).Field("epoch", ack.epoch);
  w.Field("first_seq", ack.first_seq).Field("last_seq", ack.last_seq);
  if (ack.dropped) w.Field("dropped", ack.dropped).Field("need_full", true);
}

}  // namespace livehub
