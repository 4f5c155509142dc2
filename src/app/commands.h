// The hub's own subcommands of the `livehub` binary (serve, check-config);
// the clients and tools (publish, tail, sources, mock, bench, store) are in
// tools/tools.h. Each returns the process exit code and prints errors a
// user can act on to stderr.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace livehub {

struct ServeFlags {
  std::string config_file;
  std::string listen;    // HOST:PORT, overrides the config
  std::string data_dir;  // overrides the config
  bool no_demo = false;
  bool insecure = false;  // allow a non-loopback listen without auth
};
int RunServe(const ServeFlags& flags);

int RunCheckConfig(const std::string& file);

}  // namespace livehub
