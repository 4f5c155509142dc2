// The registry of source types. A new connector adds its factory function
// here (declared next to the others) and nothing else changes.
#include "source/source.h"

namespace livehub {

SourceType MockSourceType();
SourceType MqttSourceType();
SourceType HttpPollSourceType();
SourceType GtfsRtSourceType();
SourceType WebSocketSourceType();
SourceType SseSourceType();

const std::vector<SourceType>& SourceTypes() {
  static const std::vector<SourceType> types = {
      MockSourceType(),   MqttSourceType(),      HttpPollSourceType(),
      GtfsRtSourceType(), WebSocketSourceType(), SseSourceType(),
  };
  return types;
}

const SourceType* FindSourceType(std::string_view name) {
  for (const SourceType& t : SourceTypes()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace livehub
