#include <boost/asio/signal_set.hpp>
#include <filesystem>
#include <future>
#include <iostream>

#include "app/commands.h"
#include "app/config.h"
#include "app/demo_source.h"
#include "core/json_writer.h"
#include "core/log.h"
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

int RunServe(const ServeFlags& flags) {
  // SIGHUP, SIGINT and SIGTERM are caught from here on, so none of them is
  // ever fatal: one arriving during start-up (e.g. right after "listening",
  // before the sources started) waits for signals_ioc.run() below, which
  // reloads TLS or shuts down cleanly, instead of killing the process with
  // the default action. SIGHUP first: once SIGTERM is caught, so is SIGHUP.
  boost::asio::io_context signals_ioc;
  boost::asio::signal_set hup(signals_ioc, SIGHUP);
  boost::asio::signal_set signals(signals_ioc, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int sig) {
    LogLine(LogLevel::kInfo, "shutting down", ",\"signal\":" + std::to_string(sig));
    signals_ioc.stop();  // the SIGHUP wait below would keep run() going
  });
  Result<Config> loaded =
      flags.config_file.empty() ? Result<Config>(Config{}) : LoadConfigFile(flags.config_file);
  if (!loaded.ok()) {
    std::cerr << "livehub: " << loaded.status().message() << "\n";
    return 2;
  }
  Config config = std::move(*loaded);
  if (!flags.listen.empty()) {
    if (Status st = SetListen(&config, flags.listen); !st.ok()) {
      std::cerr << "livehub: --listen: " << st.message() << "\n";
      return 2;
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
    std::cerr << "livehub: cannot create data directory '" << config.data_dir
              << "': " << fs_ec.message() << " (set data_dir or --data-dir)\n";
    return 2;
  }

  if (config.demo) {
    // Demo streams are stored like any other (so a restart shows resume
    // working), but kept small: after the user's own rules, so those win.
    StreamRule demo_rule{*Pattern::Parse("demo/**"), std::nullopt, std::nullopt,
                         RetentionLimits{100'000, 64u << 20, 3'600'000}, std::nullopt};
    config.hub.rules.push_back(demo_rule);
    // A mock source too, so /v1/sources and its controls have something to
    // show: demo/mock/m1, demo/mock/m2 at 5 Hz (faults off until asked).
    bool taken = false;
    for (const SourceOptions& o : config.sources.sources) taken |= o.id == "demo-mock";
    if (!taken) {
      SourceOptions mock;
      mock.id = "demo-mock";
      mock.type = "mock";
      mock.stream = "demo/mock/{key}";
      MockOptions m;
      m.streams = 2;
      m.interval_ms = 200;
      mock.expected_interval_ms = m.interval_ms;
      mock.settings = m;
      config.sources.sources.push_back(std::move(mock));
    }
  }
  // Safe defaults (docs/security.md): without `auth:` the hub is open, which
  // is allowed only on loopback unless --insecure says otherwise.
  const bool auth_configured = config.auth.configured();
  const bool loopback = IsLoopbackHost(config.http.listen_host);
  if (!auth_configured && !loopback && !flags.insecure) {
    std::cerr << "livehub: refusing to listen on " << config.http.listen_host
              << " without authentication: anyone who can connect could read and write every "
                 "stream. Configure `auth:` (JWT keys or API keys, see docs/security.md), listen "
                 "on 127.0.0.1, or pass --insecure to run open on purpose.\n";
    return 2;
  }
  auto authenticator = Authenticator::Create(config.auth, !auth_configured, loopback);
  if (!authenticator.ok()) {
    std::cerr << "livehub: " << authenticator.status().message() << "\n";
    return 2;
  }
  if (!auth_configured && !loopback) {
    LogLine(LogLevel::kWarn,
            "insecure: no auth configured and listening on a non-loopback "
            "address (--insecure); every client may read and write everything");
  }
  MetricsRegistry metrics;
  std::unique_ptr<Store> store;
  if (config.store_enabled) {
    auto lock = LockDataDir(config.data_dir);  // held (fd open) until exit
    if (!lock.ok()) {
      std::cerr << "livehub: " << lock.status().message() << "\n";
      return 2;
    }
    config.store.path = (std::filesystem::path(config.data_dir) / "livehub.db").string();
    auto opened = Store::Open(config.store, &metrics);
    if (!opened.ok()) {
      std::cerr << "livehub: " << opened.status().message() << "\n";
      return 2;
    }
    store = std::move(*opened);
  }
  Hub hub(config.hub, SystemClock::Get(), &metrics, store.get());
  // Schemas: stored ones (PUT /v1/schema and discoveries) first, then the
  // config's, which win for their patterns. Persisted as one store cursor.
  SchemaRegistry schemas(&metrics);
  if (store) {
    if (auto saved = store->GetCursor(kSchemaCursorSource, kSchemaCursorKey)) {
      if (Status st = schemas.Load(*saved); !st.ok()) {
        LogLine(LogLevel::kWarn, "stored schemas ignored", ",\"error\":\"" + st.reason() + "\"");
      }
    }
  }
  for (const Schema& s : config.schemas) {
    if (Status st = schemas.Put(s); !st.ok()) {
      std::cerr << "livehub: schemas: " << st.message() << "\n";
      return 2;
    }
  }
  if (store) {
    Store* st = store.get();
    schemas.SetPersist([st](const std::string& text) {
      st->PutCursor(kSchemaCursorSource, kSchemaCursorKey, text);
    });
    st->PutCursor(kSchemaCursorSource, kSchemaCursorKey, schemas.SerializeAll());
  }
  hub.SetPublishCheck(&schemas);
  FanoutContext fanout;
  fanout.hub = &hub;
  fanout.options = config.fanout;
  fanout.InitMetrics(&metrics);
  fanout.auth = authenticator->get();
  PeerLimiter peer_limiter(config.peers, &metrics);
  fanout.limiter = &peer_limiter;
  Server server(&hub, &fanout, config.http);
  server.SetAuth(authenticator->get());
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

  // Block until SIGINT/SIGTERM (caught since start-up, see above).
  // SIGHUP re-reads the TLS certificate and key (docs/security.md); those
  // that arrived during start-up were queued by `hup` and are handled now.
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      Status st = server.ReloadTls();
      if (!server.tls()) {
        LogLine(LogLevel::kInfo, "SIGHUP ignored: no tls section");
      } else if (st.ok()) {
        LogLine(LogLevel::kInfo, "tls reloaded");
      } else {
        std::string fields = ",\"error\":";
        AppendJsonString(&fields, st.message());
        LogLine(LogLevel::kError, "tls reload failed; keeping the previous certificate", fields);
      }
      wait_hup();
    });
  };
  wait_hup();
  signals_ioc.run();
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
