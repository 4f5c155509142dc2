// The `mock` source: MockGenerator inside the hub, with its faults
// controllable at runtime (POST /v1/sources/{id}/control). It behaves like a
// connection: connecting -> subscribed -> receiving, `disconnect` drops it
// and it reconnects with the source's backoff, `stall_s` goes silent.
#include <simdjson.h>

#include "core/clock.h"
#include "source/mock_generator.h"
#include "source/source.h"

namespace livehub {
namespace {

class MockSource : public Source {
 public:
  MockSource(SourceContext* ctx, SourceOptions options)
      : Source(ctx, std::move(options)),
        gen_(std::any_cast<MockOptions>(options_.settings)),
        timer_(ioc()) {}

  Status Control(std::string_view body) override {
    MockActions act;
    if (Status st = ApplyMockControl(body, &gen_.options(), &act); !st.ok()) return st;
    if (act.skip) gen_.Skip(act.skip);
    if (act.stall_ms > 0) stall_until_ms_ = Now() + act.stall_ms;
    if (act.disconnect) {
      SetError("disconnected by control");
      Disconnect();
      return Status::Ok();
    }
    if (connected_ && !waiting_) Schedule(0);  // apply a new rate at once
    return Status::Ok();
  }

 protected:
  void DoStart() override { Connect(); }
  void DoStop() override {
    stopped_ = true;
    timer_.cancel();
  }
  void OnResume() override {
    if (connected_ && waiting_ == false) Schedule(0);
  }
  void Describe(JsonWriter* w) const override {
    DescribeMock(const_cast<MockGenerator&>(gen_).options(), w);
    w->Field("records_made", gen_.records_made())
        .Field("records_lost_upstream", gen_.records_lost());
  }

 private:
  static int64_t Now() { return SystemClock::Get()->NowMs(); }

  void Connect() {
    if (stopped_) return;
    SetState(SourceState::kConnecting);
    connected_ = true;
    SetState(SourceState::kSubscribed);
    Schedule(gen_.NextDelayMs());
  }

  void Disconnect() {
    connected_ = false;
    timer_.cancel();
    SetState(SourceState::kDisconnected);
    int64_t delay = backoff_.Next();
    waiting_ = true;
    timer_.expires_after(std::chrono::milliseconds(delay));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped_) return;
      waiting_ = false;
      NoteReconnect();
      Connect();
    });
  }

  void Schedule(int64_t delay_ms) {
    if (stopped_) return;
    timer_.expires_after(std::chrono::milliseconds(delay_ms));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped_ || !connected_) return;
      OnTick();
    });
  }

  void OnTick() {
    const int64_t now = Now();
    if (now < stall_until_ms_) return Schedule(std::min<int64_t>(stall_until_ms_ - now, 1000));
    if (throttled()) return;  // OnResume restarts the ticks
    bool go_on = true;
    for (auto& [key, payload] : gen_.Tick(now)) {
      TemplateVars vars;
      vars.key = key;
      vars.topic = key;
      go_on = Ingest(payload, vars) && go_on;
    }
    if (!go_on) return;
    Schedule(gen_.NextDelayMs());
  }

  MockGenerator gen_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
  bool connected_ = false;
  bool waiting_ = false;  // disconnected, waiting to reconnect
  int64_t stall_until_ms_ = 0;
};

std::any ParseMock(ConfigWalker& w, const YAML::Node& n, const std::string& path,
                   SourceOptions* common) {
  MockOptions o;
  int64_t interval_ms = o.interval_ms;
  int64_t jitter_ms = 0;
  w.Map(n, path,
        {{"streams", w.Scalar<int>(&o.streams, 1)},
         {"interval_s", w.Seconds(&interval_ms)},
         {"batch_size", w.Scalar<int>(&o.batch_size, 1)},
         {"shape", w.Scalar<std::string>(&o.shape)},
         {"payload_bytes", w.Scalar<size_t>(&o.payload_bytes)},
         {"drop_pct", w.Scalar<double>(&o.drop_pct, 0)},
         {"jitter_s", w.Seconds(&jitter_ms)},
         {"burst_every", w.Scalar<int>(&o.burst_every, 0)},
         {"burst_size", w.Scalar<int>(&o.burst_size, 0)},
         {"running", w.Scalar<bool>(&o.running)},
         {"seed", w.Scalar<uint64_t>(&o.seed)}});
  if (interval_ms < 1) w.Fail(path + ".interval_s", "must be at least 0.001");
  if (o.shape != "sensor" && o.shape != "ticker" && o.shape != "counter") {
    w.Fail(path + ".shape", "must be sensor, ticker or counter");
  }
  if (o.drop_pct > 100) w.Fail(path + ".drop_pct", "must be 0..100");
  o.interval_ms = interval_ms;
  o.jitter_ms = jitter_ms;
  if (common->expected_interval_ms == 0) common->expected_interval_ms = interval_ms;
  return o;
}

}  // namespace

SourceType MockSourceType() {
  return {"mock", ParseMock, [](SourceContext* ctx, SourceOptions o) -> std::unique_ptr<Source> {
            return std::make_unique<MockSource>(ctx, std::move(o));
          }};
}

}  // namespace livehub
