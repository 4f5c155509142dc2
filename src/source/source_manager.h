// SourceManager: owns the configured sources and the thread they run on
// (one io_context: connectors are I/O-bound and publish through the hub,
// which fans out on the server's threads), ticks their health, serves
// /v1/sources and renders their metrics.
// Also: the `sources:` / `network:` config sections (ParseSourcesConfig) and
// secret resolution (ResolveSecret).
// Thread safety: Start/Stop from the owning thread; List/Get/Control from any
// thread (they run on the sources thread and wait).
#pragma once

#include <boost/asio.hpp>
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

  // Creates the sources and starts their thread.
  void Start();
  // Stops every source (queued records are published), joins the thread.
  void Stop();

  // GET /v1/sources: {"sources":[...]}; GET /v1/sources/{id}: one.
  std::string ListJson();
  Result<std::string> GetJson(std::string_view id);
  // POST /v1/sources/{id}/control with a JSON object body; returns the
  // source's description after the change.
  Result<std::string> Control(std::string_view id, std::string_view body);

  size_t size() const { return config_.sources.size(); }

 private:
  void RenderMetrics(std::string* out) const;
  void ArmTick();
  void Describe(Source* s, JsonWriter* w);
  // Runs fn on the sources thread and waits for it (bounded).
  template <typename Fn>
  auto RunOnThread(Fn fn) -> decltype(fn());

  Hub* hub_;
  MetricsRegistry* metrics_;
  SourcesConfig config_;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  boost::asio::steady_timer tick_timer_;
  SourceContext ctx_;
  std::vector<std::unique_ptr<Source>> sources_;  // fixed after Start
  std::thread thread_;
  bool started_ = false;
};

}  // namespace livehub
