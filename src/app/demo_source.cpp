#include "app/demo_source.h"

#include <cmath>

#include "core/json_writer.h"

namespace livehub {

DemoSource::DemoSource(Hub* hub, boost::asio::io_context& ioc, int64_t interval_ms)
    : hub_(hub), timer_(ioc), interval_ms_(interval_ms) {
  const char* stations[] = {"station-1", "station-2", "station-3", "station-4"};
  double base = 18;
  for (const char* s : stations) {
    sensors_.push_back({std::string("demo/sensors/") + s, base, 45, 8, 420});
    base += 1.7;
  }
  tickers_ = {
      {"demo/ticker/BTC-USD", 64000}, {"demo/ticker/ETH-USD", 3200}, {"demo/ticker/ACME", 120}};
}

void DemoSource::Start() {
  stopped_ = false;
  timer_.expires_after(std::chrono::milliseconds(interval_ms_));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    Tick();
    Start();
  });
}

void DemoSource::Stop() {
  stopped_ = true;
  timer_.cancel();
}

void DemoSource::Tick() {
  ++ticks_;
  std::normal_distribution<double> noise(0, 1);
  const double t = ticks_ * interval_ms_ / 1000.0;
  for (Sensor& s : sensors_) {
    // Slow daily-ish wave plus noise, kept in plausible ranges.
    s.temperature += 0.02 * std::sin(t / 30) + 0.03 * noise(rng_);
    s.humidity = std::clamp(s.humidity + 0.1 * noise(rng_), 20.0, 95.0);
    s.pm25 = std::max(0.0, s.pm25 + 0.2 * noise(rng_));
    s.co2 = std::clamp(s.co2 + 2 * noise(rng_), 380.0, 2000.0);
    std::string data;
    JsonWriter w(&data);
    w.BeginObject().Field("temperature_c", std::round(s.temperature * 100) / 100);
    w.Field("humidity_pct", std::round(s.humidity * 10) / 10);
    w.Field("pm25", std::round(s.pm25 * 10) / 10).Field("co2_ppm", std::round(s.co2));
    w.EndObject();
    (void)hub_->Publish(s.stream, {data}, false, nullptr);  // never waits for a commit
  }
  // Tickers trade on roughly every third tick, at random.
  std::uniform_int_distribution<int> coin(0, 2);
  for (Ticker& k : tickers_) {
    if (coin(rng_) != 0) continue;
    k.price = std::max(0.01, k.price * (1 + 0.0008 * noise(rng_)));
    std::string data;
    JsonWriter w(&data);
    w.BeginObject().Field("price", std::round(k.price * 100) / 100);
    w.Field("size", std::round(std::abs(noise(rng_)) * 1000) / 1000 + 0.001);
    w.Field("side", coin(rng_) ? "buy" : "sell").EndObject();
    (void)hub_->Publish(k.stream, {data}, false, nullptr);
  }
}

}  // namespace livehub
