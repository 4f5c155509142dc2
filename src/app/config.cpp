#include "app/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "app/limits_config.h"
#include "core/config_walker.h"
#include "schema/schema_config.h"

namespace livehub {
namespace {

using Walker = ConfigWalker;

Result<SlowClientPolicy> ParsePolicy(const std::string& s) {
  if (s == "drop_oldest") return SlowClientPolicy::kDropOldest;
  if (s == "disconnect") return SlowClientPolicy::kDisconnect;
  return Status::InvalidArgument("bad_config",
                                 "slow_client must be drop_oldest or disconnect, got '" + s + "'");
}

}  // namespace

Status SetListen(Config* config, const std::string& host_port) {
  size_t colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status::InvalidArgument("bad_config",
                                   "listen address '" + host_port + "' must be HOST:PORT");
  }
  std::string host = host_port.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") host = "127.0.0.1";
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(host_port.substr(colon + 1), &used);
    if (used != host_port.size() - colon - 1) port = -1;
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return Status::InvalidArgument("bad_config",
                                   "listen port in '" + host_port + "' must be 0..65535");
  }
  config->http.listen_host = host;
  config->http.listen_port = static_cast<uint16_t>(port);
  return Status::Ok();
}

Result<Config> ParseConfig(const std::string& yaml, const std::string& source) {
  Config c;
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::ParserException& e) {
    return Status::InvalidArgument(
        "bad_config", source + ": line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  Walker w(source);
  std::string listen;
  std::string slow_client;
  auto history_handlers = [&](HistoryLimits* h) {
    return std::map<std::string, Walker::Handler>{
        {"max_events", w.Scalar<size_t>(&h->max_events)},
        {"max_bytes", w.Scalar<size_t>(&h->max_bytes)},
        {"max_age_s", w.Seconds(&h->max_age_ms)},
    };
  };
  auto retention_handlers = [&](RetentionLimits* r) {
    return std::map<std::string, Walker::Handler>{
        {"max_events", w.Scalar<uint64_t>(&r->max_events)},
        {"max_bytes", w.Scalar<uint64_t>(&r->max_bytes)},
        {"max_age_s", w.Seconds(&r->max_age_ms)},
    };
  };
  std::string durability;
  std::map<std::string, Walker::Handler> top = {
      {"listen", w.Scalar<std::string>(&listen)},
      {"threads", w.Scalar<size_t>(&c.http.threads)},
      {"data_dir", w.Scalar<std::string>(&c.data_dir)},
      {"log_level", w.Scalar<std::string>(&c.log_level)},
      {"demo",
       [&](const YAML::Node& n, const std::string& p) {
         w.Map(n, p,
               {{"enabled", w.Scalar<bool>(&c.demo)},
                {"interval_s", w.Seconds(&c.demo_interval_ms)}});
       }},
      {"limits",
       [&](const YAML::Node& n, const std::string& p) { ParseLimitsSection(w, n, p, &c); }},
      {"tls", [&](const YAML::Node& n, const std::string& p) { ParseTlsSection(w, n, p, &c); }},
      {"history", [&](const YAML::Node& n,
                      const std::string& p) { w.Map(n, p, history_handlers(&c.hub.history)); }},
      {"store",
       [&](const YAML::Node& n, const std::string& p) {
         w.Map(n, p,
               {{"enabled", w.Scalar<bool>(&c.store_enabled)},
                {"durability", w.Scalar<std::string>(&durability)},
                {"max_queue_events", w.Scalar<size_t>(&c.store.max_queue_events, 1000)},
                {"max_db_bytes", w.Scalar<uint64_t>(&c.store.max_db_bytes)},
                {"async_commit_delay_ms", w.Scalar<int64_t>(&c.store.async_commit_delay_ms)},
                {"retention", [&](const YAML::Node& rn, const std::string& rp) {
                   w.Map(rn, rp, retention_handlers(&c.hub.retention));
                 }}});
       }},
      {"sources", [&](const YAML::Node& n,
                      const std::string& p) { ParseSourcesSection(w, n, p, &c.sources); }},
      {"processors", [&](const YAML::Node& n,
                         const std::string& p) { ParseProcessorsSection(w, n, p, &c.processors); }},
      {"schemas", [&](const YAML::Node& n,
                      const std::string& p) { ParseSchemasSection(w, n, p, &c.schemas); }},
      {"network", [&](const YAML::Node& n,
                      const std::string& p) { ParseNetworkSection(w, n, p, &c.sources); }},
      {"auth",
       [&](const YAML::Node& n, const std::string& p) {
         ParseAuthSection(w, n, p, ResolveSecret, &c.auth);
         if (!w.status().ok()) return;
         std::vector<std::pair<std::string, const std::vector<std::string>*>> lists = {
             {p + ".anonymous.subscribe", &c.auth.anonymous_subscribe}};
         for (size_t i = 0; i < c.auth.api_keys.size(); ++i) {
           std::string kp = p + ".api_keys[" + std::to_string(i) + "]";
           lists.emplace_back(kp + ".subscribe", &c.auth.api_keys[i].subscribe);
           lists.emplace_back(kp + ".publish", &c.auth.api_keys[i].publish);
         }
         for (const auto& [where, list] : lists) {
           for (const std::string& t : *list) {
             if (auto pat = Pattern::Parse(t); !pat.ok())
               return w.Fail(where, pat.status().message());
           }
         }
       }},
      {"freshness",
       [&](const YAML::Node& n, const std::string& p) {
         w.Map(n, p,
               {{"warn_after_s", w.Seconds(&c.hub.warn_after_ms)},
                {"stale_after_s", w.Seconds(&c.hub.stale_after_ms)}});
       }},
      {"subscribers",
       [&](const YAML::Node& n, const std::string& p) {
         w.Map(n, p,
               {{"queue_bytes", w.Scalar<size_t>(&c.fanout.queue_bytes, 4096)},
                {"slow_client", w.Scalar<std::string>(&slow_client)},
                {"ws_ping_interval_s", w.Seconds(&c.fanout.ws_ping_interval_ms)},
                {"ws_pong_timeout_s", w.Seconds(&c.fanout.ws_pong_timeout_ms)},
                {"write_timeout_s", w.Seconds(&c.fanout.write_timeout_ms)},
                {"sse_keepalive_s", w.Seconds(&c.fanout.sse_keepalive_ms)},
                {"write_delay_ms",
                 [&](const YAML::Node& v, const std::string& vp) {
                   double ms = -1;
                   w.Scalar<double>(&ms, 0)(v, vp);
                   if (!w.status().ok()) return;
                   if (!(ms <= 1000)) return w.Fail(vp, "must be at most 1000 (one second)");
                   c.fanout.write_delay_ns = static_cast<int64_t>(ms * 1e6);
                 }},
                {"socket_send_buffer",
                 [&](const YAML::Node& v, const std::string& vp) {
                   size_t bytes = 0;
                   w.Scalar<size_t>(&bytes, 0)(v, vp);
                   if (!w.status().ok()) return;
                   if (bytes != 0 && (bytes < 4096 || bytes > (64u << 20))) {
                     return w.Fail(vp, "must be 0 (kernel autotuning) or 4096..67108864 bytes");
                   }
                   c.fanout.socket_send_buffer = bytes;
                 }},
                {"request_timeout_s", w.Seconds(&c.http.request_timeout_ms)}});
       }},
      {"streams",
       [&](const YAML::Node& n, const std::string& p) {
         if (!n.IsSequence()) {
           return w.Fail(p,
                         "must be a list of {pattern, history, slow_client, durability, "
                         "retention}");
         }
         for (size_t i = 0; i < n.size(); ++i) {
           std::string ip = p + "[" + std::to_string(i) + "]";
           std::string pattern, policy, dur, keyed;
           size_t keyed_max = KeyedOptions().max_state_bytes;
           HistoryLimits h = c.hub.history;  // note: defaults as parsed so far
           RetentionLimits r = c.hub.retention;
           bool has_history = false, has_retention = false;
           w.Map(n[i], ip,
                 {{"pattern", w.Scalar<std::string>(&pattern)},
                  {"slow_client", w.Scalar<std::string>(&policy)},
                  {"durability", w.Scalar<std::string>(&dur)},
                  {"keyed", w.Scalar<std::string>(&keyed)},
                  {"keyed_max_state_bytes", w.Scalar<size_t>(&keyed_max, 2)},
                  {"history",
                   [&](const YAML::Node& hn, const std::string& hp) {
                     has_history = true;
                     w.Map(hn, hp, history_handlers(&h));
                   }},
                  {"retention", [&](const YAML::Node& rn, const std::string& rp) {
                     has_retention = true;
                     w.Map(rn, rp, retention_handlers(&r));
                   }}});
           if (!w.status().ok()) return;
           auto parsed = Pattern::Parse(pattern);
           if (!parsed.ok()) return w.Fail(ip + ".pattern", parsed.status().message());
           StreamRule rule{*parsed, std::nullopt, std::nullopt, std::nullopt, std::nullopt};
           if (has_history) rule.history = h;
           if (has_retention) rule.retention = r;
           if (!dur.empty()) {
             auto d = ParseDurability(dur);
             if (!d.ok()) return w.Fail(ip + ".durability", d.status().message());
             rule.durability = *d;
           }
           if (!keyed.empty()) {
             KeyedOptions k;
             k.max_state_bytes = keyed_max;
             if (keyed == "true") {
               k.mode = KeyedMode::kOn;
             } else if (keyed == "false") {
               k.mode = KeyedMode::kOff;
             } else if (keyed == "auto") {
               k.mode = KeyedMode::kInfer;
             } else {
               return w.Fail(ip + ".keyed", "must be true, false or auto, got '" + keyed + "'");
             }
             rule.keyed = k;
           }
           if (rule.history || rule.retention || rule.durability || rule.keyed) {
             c.hub.rules.push_back(rule);
           }
           if (!policy.empty()) {
             auto pol = ParsePolicy(policy);
             if (!pol.ok()) return w.Fail(ip + ".slow_client", pol.status().message());
             c.fanout.rules.push_back(SlowClientRule{*parsed, *pol});
           }
         }
       }},
  };
  w.Map(root, "", top);
  if (!w.status().ok()) return w.status();
  if (!durability.empty()) {
    auto d = ParseDurability(durability);
    if (!d.ok()) {
      return Status::InvalidArgument("bad_config",
                                     source + ": store.durability: " + d.status().message());
    }
    c.hub.durability = *d;
  }
  if (!listen.empty()) {
    if (Status st = SetListen(&c, listen); !st.ok()) {
      return Status::InvalidArgument("bad_config", source + ": listen: " + st.message());
    }
  }
  if (!slow_client.empty()) {
    auto pol = ParsePolicy(slow_client);
    if (!pol.ok()) {
      return Status::InvalidArgument(
          "bad_config", source + ": subscribers.slow_client: " + pol.status().message());
    }
    c.fanout.slow_client = *pol;
  }
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
      c.log_level != "error") {
    return Status::InvalidArgument("bad_config", source +
                                                     ": log_level must be debug, info, "
                                                     "warn or error");
  }
  if (c.hub.stale_after_ms < c.hub.warn_after_ms) {
    return Status::InvalidArgument(
        "bad_config", source + ": freshness.stale_after_s must be >= freshness.warn_after_s");
  }
  return c;
}

Result<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Status::InvalidArgument("bad_config", "cannot open config file '" + path + "'");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

}  // namespace livehub
