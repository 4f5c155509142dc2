// SourceManager: owns the configured sources and the thread they run on
// (one io_context: connectors are I/O-bound and publish through the hub,
// which fans out on the server's threads), ticks their health, serves
// /v1/sources and renders their metrics.
// Also: the `sources:` / `network:` config sections (ParseSourcesConfig) and
// secret resolution (ResolveSecret).
// Thread safety: Start/Stop from the owning thread; List/Get/Control from any
// thread: they run on the sources thread and answer through `done`, called
// there (or at once when the sources are not running) — an HTTP io thread
// never waits for the sources thread.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/config_walker.h"
#include "source/source.h"

namespace livehub {

struct SourcesConfig {
  std::vector<SourceOptions> sources;
  std::vector<HeaderRule> header_rules;  // network.headers
};

// Replaces each `${NAME}` in `text` with the environment variable NAME and
// each `${file:/path}` with the file's contents (trailing newline trimmed);
// `$${` is a literal `${`. Errors name the variable or file, never a value.
Result<std::string> ResolveSecret(std::string_view text);

// Parses the `sources:` list (node) into *out; errors through the walker.
void ParseSourcesSection(ConfigWalker& w, const YAML::Node& node, const std::string& path,
                         SourcesConfig* out);
// Parses the `network:` mapping.
void ParseNetworkSection(ConfigWalker& w, const YAML::Node& node, const std::string& path,
                         SourcesConfig* out);

class SourceManager {
 public:
  SourceManager(Hub* hub, MetricsRegistry* metrics, SourcesConfig config);
  ~SourceManager();
  SourceManager(const SourceManager&) = delete;
  SourceManager& operator=(const SourceManager&) = delete;

  // Creates the sources and starts their thread; nothing connects or
  // produces yet, but List/Get/metrics show every configured source.
  void Create();
  // Starts the sources (calls Create first if needed).
  void Start();
  // Stops every source (queued records are published), joins the thread.
  void Stop();

  using Done = std::function<void(Result<std::string>)>;
  // GET /v1/sources: {"sources":[...]}; GET /v1/sources/{id}: one.
  void List(Done done);
  void Get(std::string_view id, Done done);
  // POST /v1/sources/{id}/control with a JSON object body; answers the
  // source's description after the change.
  void Control(std::string_view id, std::string_view body, Done done);

  size_t size() const { return config_.sources.size(); }

 private:
  void RenderMetrics(std::string* out) const;
  void ArmTick();
  void Describe(Source* s, JsonWriter* w);
  Source* Find(std::string_view id) const;

  Hub* hub_;
  MetricsRegistry* metrics_;
  SourcesConfig config_;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  boost::asio::steady_timer tick_timer_;
  SourceContext ctx_;
  std::vector<std::unique_ptr<Source>> sources_;  // fixed after Create
  std::thread thread_;
  std::atomic<bool> started_{false};  // created; read by HTTP and metrics threads
  bool running_ = false;              // the sources were started (sources thread only)
};

}  // namespace livehub
