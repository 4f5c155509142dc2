// The client and tool subcommands of the `livehub` binary: publish, tail
// and sources (client.cpp: HTTP and WebSocket clients of a running hub),
// mock (mock_cmd.cpp: a producer with fault injection), bench
// (bench.cpp: load generator and peer comparisons) and the offline store
// tools (store_tool.cpp). They talk to a hub over the network or read its
// data directory; none of them is linked into the unit tests.
// Each returns the process exit code and prints errors a user can act on
// to stderr.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace livehub {

struct PublishFlags {
  std::string url = "http://127.0.0.1:8080";
  std::string stream;
  std::string file = "-";
  std::string content_type;  // empty: from the file name / content
};
int RunPublish(const PublishFlags& flags);

struct TailFlags {
  std::string url = "ws://127.0.0.1:8080";
  std::vector<std::string> patterns;
  std::string cursor_file;  // resume position, kept across runs
  uint64_t count = 0;       // exit after this many events (0: never)
  bool quiet_control = false;
};
int RunTail(const TailFlags& flags);

struct SourcesFlags {
  std::string url = "http://127.0.0.1:8080";
  bool json = false;
};
// `livehub sources`: the hub's sources, their health and counters.
int RunSources(const SourcesFlags& flags);

// `livehub mock`: the MockGenerator as a standalone producer
// (src/tools/mock_cmd.cpp).
struct MockFlags {
  std::string publish;  // hub base URL: POST to URL/v1/publish/<prefix>/<key>
  std::string serve;    // HOST:PORT: serve /ws and /sse
  std::string prefix = "mock";
  int streams = 1;
  double interval_s = 0.1;
  int batch_size = 1;
  size_t payload_bytes = 0;
  size_t frame_bytes = 0;  // pad records so a message is about this big
  double drop_pct = 0;
  double jitter_ms = 0;
  std::string shape = "sensor";
  uint64_t count = 0;       // stop making messages after this many ticks (0: never)
  size_t backlog = 10'000;  // messages kept for SSE Last-Event-ID resume
  std::string state_file;   // keeps backlog and counters across restarts
  uint64_t seed = 1;
};
int RunMock(const MockFlags& flags);

// `livehub bench <scenario> [flags]`; argv[0] is "bench".
int RunBenchMain(int argc, char** argv);

// Offline store tools (src/tools/store_tool.cpp).
int RunStoreCheck(const std::string& data_dir);
int RunStoreExport(const std::string& data_dir, const std::string& stream, uint64_t from_seq);
int RunStoreImport(const std::string& data_dir, const std::string& stream, const std::string& file);

}  // namespace livehub
