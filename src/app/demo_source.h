// DemoSource: built-in live data so a newcomer sees streams move at once.
// Publishes through Hub::Publish like any other producer:
//   demo/sensors/<station>  {temperature_c, humidity_pct, pm25, co2_ppm} at 10 Hz
//   demo/ticker/<symbol>    {price, size, side} a few times per second
// Thread safety: runs on one io_context; Start/Stop from that context's thread
// or before it runs.
#pragma once

#include <boost/asio.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "stream/hub.h"

namespace livehub {

class DemoSource {
 public:
  DemoSource(Hub* hub, boost::asio::io_context& ioc, int64_t interval_ms);
  void Start();
  void Stop();

 private:
  void Tick();
  struct Sensor {
    std::string stream;
    double temperature, humidity, pm25, co2;
  };
  struct Ticker {
    std::string stream;
    double price;
  };
  Hub* hub_;
  boost::asio::steady_timer timer_;
  int64_t interval_ms_;
  std::mt19937_64 rng_{42};
  std::vector<Sensor> sensors_;
  std::vector<Ticker> tickers_;
  uint64_t ticks_ = 0;
  bool stopped_ = false;
};

}  // namespace livehub
