// livehub: a real-time data hub. See README.md for the tour and docs/ for
// the architecture, protocol and configuration.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstring>

#include "app/commands.h"
#include "tools/tools.h"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  // `livehub bench ...` has its own parser (src/tools/bench.cpp).
  if (argc >= 2 && std::strcmp(argv[1], "bench") == 0)
    return livehub::RunBenchMain(argc - 1, argv + 1);
  CLI::App app{"livehub: ingest live data, keep it per stream, push it to subscribers"};
  app.require_subcommand(1);

  livehub::ServeFlags serve;
  auto* serve_cmd = app.add_subcommand("serve", "Run the hub (embedded defaults, demo data on)");
  serve_cmd->add_option("--config", serve.config_file, "YAML config file")
      ->check(CLI::ExistingFile);
  serve_cmd->add_option("--listen", serve.listen,
                        "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve_cmd->add_option("--data-dir", serve.data_dir, "Data directory (default ./livehub-data)");
  serve_cmd->add_flag("--no-demo", serve.no_demo, "Do not run the built-in demo source");
  serve_cmd->add_flag("--insecure", serve.insecure,
                      "Allow listening on a non-loopback address without auth (anyone who can "
                      "connect may read and write every stream)");

  std::string check_file;
  auto* check_cmd = app.add_subcommand("check-config", "Validate a config file and exit");
  check_cmd->add_option("file", check_file, "YAML config file")->required();

  livehub::PublishFlags pub;
  auto* pub_cmd = app.add_subcommand(
      "publish", "Publish a JSON value, JSON array, NDJSON or CSV (with header) to a stream");
  pub_cmd->add_option("stream", pub.stream, "Stream name")->required();
  pub_cmd->add_option("file", pub.file, "File to send, or - for stdin (default -)");
  pub_cmd->add_option("--url", pub.url, "Hub base URL (default http://127.0.0.1:8080)");
  pub_cmd->add_option("--content-type", pub.content_type,
                      "application/json | application/x-ndjson | text/csv "
                      "(default: from the file extension, else detected)");

  livehub::SourcesFlags sources;
  auto* sources_cmd = app.add_subcommand(
      "sources", "List the hub's sources (connectors) with their health and counters");
  sources_cmd->add_option("--url", sources.url, "Hub base URL (default http://127.0.0.1:8080)");
  sources_cmd->add_flag("--json", sources.json, "Print the JSON of GET /v1/sources");

  livehub::TailFlags tail;
  auto* tail_cmd = app.add_subcommand(
      "tail", "Print events of streams matching the patterns as NDJSON; reconnects and resumes");
  tail_cmd->add_option("patterns", tail.patterns, "Stream names or patterns (* and **)")
      ->required();
  tail_cmd->add_option("--url", tail.url, "Hub WebSocket base URL (default ws://127.0.0.1:8080)");
  tail_cmd->add_option("--cursor-file", tail.cursor_file,
                       "Keep the resume position in this file (read at start, updated as "
                       "events arrive)");
  tail_cmd->add_option("--count", tail.count, "Exit after printing this many events");
  tail_cmd->add_flag("--quiet", tail.quiet_control,
                     "Print only events (not subscribed/gap/health messages)");

  std::string store_dir = "./livehub-data", store_stream, store_file = "-";
  uint64_t store_from = 1;
  auto* store_cmd = app.add_subcommand("store", "Offline tools for the embedded store");
  store_cmd->require_subcommand(1);
  auto* store_check = store_cmd->add_subcommand(
      "check", "Check integrity; list every stream with its seq range, events and bytes");
  auto* store_export =
      store_cmd->add_subcommand("export", "Write a stream's stored events to stdout as NDJSON");
  store_export->add_option("stream", store_stream, "Stream name")->required();
  store_export->add_option("--from-seq", store_from, "First seq to export (default 1)");
  auto* store_import = store_cmd->add_subcommand(
      "import", "Append events from `store export` NDJSON to a stream (new seqs)");
  store_import->add_option("stream", store_stream, "Stream name")->required();
  store_import->add_option("file", store_file, "NDJSON file, or - for stdin (default -)");
  for (auto* c : {store_check, store_export, store_import}) {
    c->add_option("--data-dir", store_dir, "Data directory (default ./livehub-data)");
  }

  livehub::MockFlags mock;
  auto* mock_cmd = app.add_subcommand(
      "mock", "Run the mock feed standalone: publish to a hub, or serve it over WebSocket/SSE");
  mock_cmd->add_option("--publish", mock.publish, "Hub base URL to POST each message to");
  mock_cmd->add_option("--serve", mock.serve, "HOST:PORT to serve /ws and /sse on (port 0: any)");
  mock_cmd->add_option("--prefix", mock.prefix, "Stream prefix for --publish (default mock)");
  mock_cmd->add_option("--streams", mock.streams, "Mock streams m1..mN (default 1)");
  mock_cmd->add_option("--interval", mock.interval_s, "Seconds between ticks (default 0.1)");
  mock_cmd->add_option("--batch-size", mock.batch_size, "Records per stream per tick (default 1)");
  mock_cmd->add_option("--payload-bytes", mock.payload_bytes, "Pad each record to this size");
  mock_cmd->add_option("--frame-bytes", mock.frame_bytes, "Pad records so a message is this big");
  mock_cmd->add_option("--drop-pct", mock.drop_pct, "Lose this % of records upstream");
  mock_cmd->add_option("--jitter-ms", mock.jitter_ms, "Delay each tick by 0..this ms");
  mock_cmd->add_option("--shape", mock.shape, "sensor | ticker | counter (default sensor)");
  mock_cmd->add_option("--count", mock.count, "Stop after this many ticks (default: never)");
  mock_cmd->add_option("--backlog", mock.backlog, "Messages kept for SSE resume (default 10000)");
  mock_cmd->add_option("--state-file", mock.state_file,
                       "Keep backlog and counters in this file across restarts");
  mock_cmd->add_option("--seed", mock.seed, "Random seed (default 1)");

  CLI11_PARSE(app, argc, argv);
  if (*store_check) return livehub::RunStoreCheck(store_dir);
  if (*store_export) return livehub::RunStoreExport(store_dir, store_stream, store_from);
  if (*store_import) return livehub::RunStoreImport(store_dir, store_stream, store_file);
  if (*serve_cmd) return livehub::RunServe(serve);
  if (*sources_cmd) return livehub::RunSources(sources);
  if (*check_cmd) return livehub::RunCheckConfig(check_file);
  if (*pub_cmd) return livehub::RunPublish(pub);
  if (*tail_cmd) return livehub::RunTail(tail);
  if (*mock_cmd) return livehub::RunMock(mock);
  return 1;
}
