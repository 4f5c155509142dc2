// The `mqtt` source's pure helpers, kept apart from the connector so unit
// tests can reach them: the broker URL parser and the parsed settings.
// The connector itself (MqttSource, libmosquitto driven by Asio) lives in
// mqtt_source.cpp and is reached only through MqttSourceType().
// Thread safety: plain functions and values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace livehub {

// mqtt://[user[:password]@]host[:port]  (port 1883)
// mqtts://[user[:password]@]host[:port] (port 8883, TLS)
// host may be an IPv6 literal in brackets. No path, query or fragment.
struct MqttUrl {
  std::string host;  // without brackets
  int port = 1883;
  bool tls = false;
  std::string username, password;  // from the userinfo, if any (secrets)

  // scheme://host:port, never the userinfo: safe to show and log.
  std::string Redacted() const;
};

// Errors (bad_config) name what is wrong, never the userinfo.
Result<MqttUrl> ParseMqttUrl(std::string_view url);

// The `mqtt:` section of a source entry, parsed.
struct MqttSettings {
  MqttUrl url;
  std::vector<std::string> topics;  // filters, checked with + and # rules
  int qos = 1;                      // 0 or 1
  std::string client_id;            // default livehub-<source id>
  bool clean_session = false;       // false: persistent session
  int keepalive_s = 30;
};

// True when `filter` is a valid MQTT subscription filter: not empty, '+'
// alone in its level, '#' alone in the last level, no NUL, at most 65535
// bytes. `why` gets the reason when false.
bool ValidMqttTopicFilter(std::string_view filter, std::string* why);

}  // namespace livehub
