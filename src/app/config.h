// Config: everything `livehub serve` can be told, loaded from one YAML file
// (docs/configuration.md lists every key with its default). Unknown keys and
// wrong types are errors naming the key path, never silently ignored.
// Thread safety: a value type; built at start-up.
#pragma once

#include <string>

#include "auth/authenticator.h"
#include "core/status.h"
#include "fanout/fanout_options.h"
#include "http/server.h"
#include "process/process_config.h"
#include "schema/schema.h"
#include "source/source_manager.h"
#include "stream/hub.h"

namespace livehub {

struct Config {
  HttpOptions http;
  FanoutOptions fanout;
  HubOptions hub;
  std::string data_dir = "./livehub-data";
  bool store_enabled = true;  // false: every stream is memory-only
  StoreOptions store;         // path is set from data_dir
  bool demo = true;
  int64_t demo_interval_ms = 100;  // demo sensors publish at 10 Hz
  std::string log_level = "info";
  SourcesConfig sources;        // `sources:` and `network:`
  ProcessConfig processors;     // `processors:` (windows, alerts)
  std::vector<Schema> schemas;  // `schemas:` (registered in file order)
  AuthOptions auth;             // `auth:` (docs/security.md)
  PeerLimitOptions peers;       // per-IP connections, publish rates (`limits:`)
};

// Parses YAML text; `source` names the file in error messages.
Result<Config> ParseConfig(const std::string& yaml, const std::string& source);
Result<Config> LoadConfigFile(const std::string& path);
// Parses "HOST:PORT" into the config's listen address.
Status SetListen(Config* config, const std::string& host_port);

}  // namespace livehub
