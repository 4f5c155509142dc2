#include "app/limits_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>

#include "app/config.h"

namespace livehub {

namespace {

ConfigWalker::Handler RateHandler(ConfigWalker& w, RateLimit* out) {
  // A section replaces the default whole; without `burst`, burst = rate.
  return [&w, out](const YAML::Node& n, const std::string& p) {
    RateLimit r{out->rate, 0};
    w.Map(n, p, {{"rate", w.Scalar<double>(&r.rate, 0)}, {"burst", w.Scalar<double>(&r.burst, 1)}});
    if (!w.status().ok()) return;
    if (r.burst == 0) r.burst = std::max(r.rate, 1.0);
    *out = r;
  };
}

}  // namespace

void ParseLimitsSection(ConfigWalker& w, const YAML::Node& n, const std::string& p, Config* c) {
  w.Map(n, p,
        {{"max_body_bytes", w.Scalar<size_t>(&c->http.max_body_bytes, 1)},
         {"max_header_bytes", w.Scalar<size_t>(&c->http.max_header_bytes, 1024)},
         {"max_url_bytes", w.Scalar<size_t>(&c->http.max_url_bytes, 64)},
         {"max_event_bytes", w.Scalar<size_t>(&c->http.decode.max_event_bytes, 16)},
         {"max_batch_events", w.Scalar<size_t>(&c->http.decode.max_batch_events, 1)},
         {"max_json_depth", w.Scalar<size_t>(&c->fanout.max_json_depth, 2)},
         {"max_ws_message_bytes", w.Scalar<size_t>(&c->fanout.max_ws_message_bytes, 125)},
         {"max_streams", w.Scalar<size_t>(&c->hub.max_streams, 1)},
         {"max_connections", w.Scalar<size_t>(&c->fanout.max_connections, 1)},
         {"max_http_connections", w.Scalar<size_t>(&c->http.max_http_connections, 1)},
         {"max_connections_per_ip", w.Scalar<size_t>(&c->peers.max_connections_per_ip)},
         {"max_subscriptions_per_connection", w.Scalar<size_t>(&c->fanout.max_subscriptions, 1)},
         {"max_pattern_segments", w.Scalar<size_t>(&c->fanout.max_pattern_segments, 1)},
         {"max_pattern_wildcards", w.Scalar<size_t>(&c->fanout.max_pattern_wildcards, 0)},
         {"publish_rate_per_connection", RateHandler(w, &c->peers.publish_per_connection)},
         {"publish_rate_per_ip", RateHandler(w, &c->peers.publish_per_ip)},
         {"exempt_ips",
          [&](const YAML::Node& list, const std::string& lp) {
            c->peers.exempt.clear();
            if (list.IsNull()) return;  // `exempt_ips:` or `[]`: nobody is exempt
            if (!list.IsSequence()) return w.Fail(lp, "must be a list of IP addresses");
            for (size_t i = 0; i < list.size(); ++i) {
              if (!list[i].IsScalar()) {
                return w.Fail(lp + "[" + std::to_string(i) + "]", "must be an IP address");
              }
              boost::system::error_code ec;
              auto addr = boost::asio::ip::make_address(list[i].Scalar(), ec);
              if (ec) {
                return w.Fail(lp + "[" + std::to_string(i) + "]",
                              "'" + list[i].Scalar() + "' is not an IP address");
              }
              c->peers.exempt.push_back(addr.to_string());
            }
          }},
         {"header_timeout_s", w.Seconds(&c->http.header_timeout_ms)},
         {"idle_timeout_s", w.Seconds(&c->http.idle_timeout_ms)}});
  if (!w.status().ok()) return;
  if (c->http.header_timeout_ms <= 0) return w.Fail(p + ".header_timeout_s", "must be > 0");
  if (c->http.idle_timeout_ms <= 0) return w.Fail(p + ".idle_timeout_s", "must be > 0");
  c->http.decode.max_depth = c->fanout.max_json_depth;
}

void ParseTlsSection(ConfigWalker& w, const YAML::Node& n, const std::string& p, Config* c) {
  w.Map(n, p,
        {{"cert_file", w.Scalar<std::string>(&c->http.tls.cert_file)},
         {"key_file", w.Scalar<std::string>(&c->http.tls.key_file)}});
  if (!w.status().ok()) return;
  if (c->http.tls.cert_file.empty() != c->http.tls.key_file.empty()) {
    w.Fail(p, "needs both cert_file and key_file");
  }
}

}  // namespace livehub
