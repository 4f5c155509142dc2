#include <boost/asio/signal_set.hpp>
#include <filesystem>
#include <future>
#include <iostream>

#include "app/commands.h"
#include "app/config.h"
#include "app/demo_source.h"
#include "core/json_writer.h"
#include "core/log.h"
#include "fanout/admission.h"
#include "fanout/publisher.h"
#include "http/server.h"
#include "process/process_manager.h"
#include "source/mock_generator.h"

namespace livehub {

int RunCheckConfig(const std::string& file) {
  auto config = LoadConfigFile(file);
  if (!config.ok()) {
    std::cerr << "livehub: " << config.status().message() << "\n";
    return 2;
  }
  // Key files (auth.jwt.public_keys, jwks_file) are read as serve would.
  if (auto auth = Authenticator::Create(config->auth, false); !auth.ok()) {
    std::cerr << "livehub: " << auth.status().message() << "\n";
    return 2;
  }
  std::cout << file << ": ok\n";
  return 0;
}

namespace {

// The demo's streams are stored like any other (so a restart shows resume
// working), but kept small: after the user's own rules, so those win. A mock
// source too, so /v1/sources and its controls have something to show:
// demo/mock/m1, demo/mock/m2 at 5 Hz (faults off until asked).
void AddDemo(Config* config) {
  StreamRule demo_rule{*Pattern::Parse("demo/**"), std::nullopt, std::nullopt,
                       RetentionLimits{100'000, 64u << 20, 3'600'000}, std::nullopt};
  config->hub.rules.push_back(demo_rule);
  for (const SourceOptions& o : config->sources.sources) {
    if (o.id == "demo-mock") return;
  }
  SourceOptions mock;
  mock.id = "demo-mock";
  mock.type = "mock";
  mock.stream = "demo/mock/{key}";
  MockOptions m;
  m.streams = 2;
  m.interval_ms = 200;
  mock.expected_interval_ms = m.interval_ms;
  mock.settings = m;
  config->sources.sources.push_back(std::move(mock));
}

// ---------------------------------------------------------------------------
// The steps of `livehub serve`, in order. A step that fails returns a
// message a user can act on; RunServe prints it and exits 2.
// ---------------------------------------------------------------------------

// 1. The config file (or the embedded defaults) with the command line's
// overrides, the log level, the data directory and the demo's streams.
Result<Config> ResolveConfig(const ServeFlags& flags) {
  Result<Config> loaded =
      flags.config_file.empty() ? Result<Config>(Config{}) : LoadConfigFile(flags.config_file);
  if (!loaded.ok()) return loaded.status();
  Config config = std::move(*loaded);
  if (!flags.listen.empty()) {
    if (Status st = SetListen(&config, flags.listen); !st.ok()) {
      return Status::InvalidArgument(st.reason(), "--listen: " + st.message());
    }
  }
  if (!flags.data_dir.empty()) config.data_dir = flags.data_dir;
  if (flags.no_demo) config.demo = false;
  SetLogLevel(config.log_level == "debug"   ? LogLevel::kDebug
              : config.log_level == "warn"  ? LogLevel::kWarn
              : config.log_level == "error" ? LogLevel::kError
                                            : LogLevel::kInfo);
  std::error_code fs_ec;
  std::filesystem::create_directories(config.data_dir, fs_ec);
  if (fs_ec) {
    return Status::InvalidArgument("data_dir", "cannot create data directory '" + config.data_dir +
                                                   "': " + fs_ec.message() +
                                                   " (set data_dir or --data-dir)");
  }
  if (config.demo) AddDemo(&config);
  return config;
}

// 2. Who may do what. Safe defaults (docs/security.md): without `auth:` the
// hub is open, which is allowed only on loopback unless --insecure says so.
Result<std::unique_ptr<Authenticator>> CreateAuthenticator(const Config& config, bool insecure) {
  const bool auth_configured = config.auth.configured();
  const bool loopback = IsLoopbackHost(config.http.listen_host);
  if (!auth_configured && !loopback && !insecure) {
    return Status::InvalidArgument(
        "insecure", "refusing to listen on " + config.http.listen_host +
                        " without authentication: anyone who can connect could read and write "
                        "every stream. Configure `auth:` (JWT keys or API keys, see "
                        "docs/security.md), listen on 127.0.0.1, or pass --insecure to run open "
                        "on purpose.");
  }
  auto authenticator = Authenticator::Create(config.auth, !auth_configured, loopback);
  if (authenticator.ok() && !auth_configured && !loopback) {
    LogLine(LogLevel::kWarn,
            "insecure: no auth configured and listening on a non-loopback "
            "address (--insecure); every client may read and write everything");
  }
  return authenticator;
}

// 3. The embedded store in the data directory (null when store_enabled is
// off). The directory lock is held (its fd stays open) until exit.
Result<std::unique_ptr<Store>> OpenStore(Config* config, MetricsRegistry* metrics) {
  if (!config->store_enabled) return std::unique_ptr<Store>();
  auto lock = LockDataDir(config->data_dir);
  if (!lock.ok()) return lock.status();
  config->store.path = (std::filesystem::path(config->data_dir) / "livehub.db").string();
  return Store::Open(config->store, metrics);
}

// 4. Schemas: stored ones (PUT /v1/schema and discoveries) first, then the
// config's, which win for their patterns. Persisted as one store cursor.
Status LoadSchemas(const Config& config, Store* store, SchemaRegistry* schemas) {
  if (store) {
    if (auto saved = store->GetCursor(kSchemaCursorSource, kSchemaCursorKey)) {
      if (Status st = schemas->Load(*saved); !st.ok()) {
        LogLine(LogLevel::kWarn, "stored schemas ignored", JsonFields().Add("error", st.reason()));
      }
    }
  }
  for (const Schema& s : config.schemas) {
    if (Status st = schemas->Put(s); !st.ok()) {
      return Status::InvalidArgument(st.reason(), "schemas: " + st.message());
    }
  }
  if (store) {
    schemas->SetPersist([store](const std::string& text) {
      store->PutCursor(kSchemaCursorSource, kSchemaCursorKey, text);
    });
    store->PutCursor(kSchemaCursorSource, kSchemaCursorKey, schemas->SerializeAll());
  }
  return Status::Ok();
}

// 5. Blocks until SIGINT/SIGTERM (caught since start-up, see RunServe).
// SIGHUP re-reads the TLS certificate and key (docs/security.md); those that
// arrived during start-up were queued by `hup` and are handled now.
void WaitForSignals(boost::asio::io_context& signals_ioc, boost::asio::signal_set& hup,
                    Server& server) {
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      Status st = server.ReloadTls();
      if (!server.tls()) {
        LogLine(LogLevel::kInfo, "SIGHUP ignored: no tls section");
      } else if (st.ok()) {
        LogLine(LogLevel::kInfo, "tls reloaded");
      } else {
        LogLine(LogLevel::kError, "tls reload failed; keeping the previous certificate",
                JsonFields().Add("error", st.message()));
      }
      wait_hup();
    });
  };
  wait_hup();
  signals_ioc.run();
}

int Fail(const Status& st) {
  std::cerr << "livehub: " << st.message() << "\n";
  return 2;
}

}  // namespace

int RunServe(const ServeFlags& flags) {
  // SIGHUP, SIGINT and SIGTERM are caught from here on, so none of them is
  // ever fatal: one arriving during start-up (e.g. right after "listening",
  // before the sources started) waits for WaitForSignals, which reloads TLS
  // or shuts down cleanly, instead of killing the process with the default
  // action. SIGHUP first: once SIGTERM is caught, so is SIGHUP.
  boost::asio::io_context signals_ioc;
  boost::asio::signal_set hup(signals_ioc, SIGHUP);
  boost::asio::signal_set signals(signals_ioc, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int sig) {
    LogLine(LogLevel::kInfo, "shutting down", JsonFields().Add("signal", sig));
    signals_ioc.stop();  // the SIGHUP wait would keep run() going
  });
  Result<Config> resolved = ResolveConfig(flags);
  if (!resolved.ok()) return Fail(resolved.status());
  Config config = std::move(*resolved);
  auto authenticator = CreateAuthenticator(config, flags.insecure);
  if (!authenticator.ok()) return Fail(authenticator.status());
  MetricsRegistry metrics;
  auto opened = OpenStore(&config, &metrics);
  if (!opened.ok()) return Fail(opened.status());
  std::unique_ptr<Store> store = std::move(*opened);
  Hub hub(config.hub, SystemClock::Get(), &metrics, store.get());
  SchemaRegistry schemas(&metrics);
  if (Status st = LoadSchemas(config, store.get(), &schemas); !st.ok()) return Fail(st);
  hub.SetPublishCheck(&schemas);

  // The fan-out and its services: admission (who may connect, subscribe,
  // publish) and the one publish path of clients.
  FanoutContext fanout;
  fanout.hub = &hub;
  fanout.options = config.fanout;
  fanout.InitMetrics(&metrics);
  PeerLimiter peer_limiter(config.peers, &metrics);
  fanout.limiter = &peer_limiter;
  Admission admission(&fanout, authenticator->get());
  fanout.admission = &admission;
  Publisher publisher(&hub, &admission, config.http.decode);
  fanout.publisher = &publisher;
  Server server(&hub, &fanout, config.http);
  SourceManager sources(&hub, &metrics, config.sources);
  server.SetSources(&sources);
  // Processors (windows, alerts) subscribe before anything is published.
  ProcessManager processors(&hub, config.processors, [&schemas](std::string_view stream) {
    return schemas.TimeIndex(stream);
  });
  server.SetAlertRecent([&processors](std::string_view s) { return processors.AlertRecent(s); });
  processors.Start();
  server.SetSchemas(&schemas);
  // Sources are created before the listener, so /v1/sources lists every
  // configured one from the first request on; they start (connect,
  // produce) only once the listener is up, so a failed start publishes
  // nothing and takes no upstream session from a running instance.
  sources.Create();
  try {
    server.Start();
  } catch (const std::exception& e) {
    std::cerr << "livehub: " << e.what() << "\n";
    return 1;
  }

  // The hub's own timers on the first io thread: the demo, and history
  // eviction by age once a second.
  auto& ioc = server.main_context();
  DemoSource demo(&hub, ioc, config.demo_interval_ms);
  boost::asio::steady_timer evict_timer(ioc);
  std::function<void()> evict_loop = [&] {
    evict_timer.expires_after(std::chrono::seconds(1));
    evict_timer.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      hub.EvictExpired();
      evict_loop();
    });
  };
  boost::asio::post(ioc, [&] {
    if (config.demo) demo.Start();
    evict_loop();
  });
  sources.Start();

  WaitForSignals(signals_ioc, hup, server);

  // Shutdown, producers first.
  std::promise<void> stopped;
  boost::asio::post(ioc, [&] {
    demo.Stop();
    evict_timer.cancel();
    stopped.set_value();
  });
  stopped.get_future().wait_for(std::chrono::seconds(2));
  // Sources publish what they have queued, then stop reading.
  sources.Stop();
  // Processors publish the results of what they have read, then detach.
  processors.Stop();
  // Commit what is queued while the io threads still run, so sync publishes
  // in flight get their replies before the connections close.
  if (store) store->Flush(5000);
  server.Stop();
  // Commit what is queued and mark the store cleanly closed, while the
  // streams its callbacks refer to still exist.
  store.reset();
  LogLine(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace livehub
