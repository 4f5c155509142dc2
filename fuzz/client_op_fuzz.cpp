// Fuzz target for the client side of the WebSocket protocol: the JSON ops of
// docs/protocol.md (subscribe with from/max_hz, unsubscribe, publish,
// status, history, ping, ...) as handled by a real WsSession on a real hub.
// The input is sent as one masked text frame (after the 101 handshake),
// with a few fixed ops before it so there are streams and subscriptions to
// act on; the hub's replies are read back from the client end of a
// socketpair.
// Checked properties, besides "never crashes" (ASan/UBSan under libFuzzer):
//  - the session answers every input that is valid UTF-8: an op is never
//    silently dropped (at least one frame comes back after the handshake);
//  - the hub stays within its limits (streams, subscriptions per connection).
#include <simdjson.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "codec/ws_codec.h"
#include "core/log.h"
#include "fanout/admission.h"
#include "fanout/fanout_options.h"
#include "fanout/publisher.h"
#include "fanout/session.h"
#include "fanout/ws_session.h"
#include "metrics/metrics.h"
#include "stream/hub.h"

namespace {

using namespace livehub;
namespace asio = boost::asio;

constexpr size_t kMaxStreams = 32;

struct World {
  MetricsRegistry metrics;
  std::unique_ptr<Hub> hub;
  FanoutContext fanout;
  std::unique_ptr<PeerLimiter> limiter;
  std::unique_ptr<Admission> admission;
  std::unique_ptr<Publisher> publisher;
  asio::io_context ioc{1};

  World() {
    SetLogLevel(LogLevel::kError);  // no open/close line per input
    HubOptions ho;
    ho.max_streams = kMaxStreams;
    ho.history.max_events = 64;
    hub = std::make_unique<Hub>(ho, SystemClock::Get(), &metrics);
    fanout.hub = hub.get();
    fanout.options.max_subscriptions = 16;
    fanout.options.max_ws_message_bytes = 64 << 10;
    fanout.InitMetrics(&metrics);
    PeerLimitOptions po;
    po.exempt.clear();
    po.publish_per_connection = {1e6, 1e6};
    limiter = std::make_unique<PeerLimiter>(po, &metrics);
    fanout.limiter = limiter.get();
    admission = std::make_unique<Admission>(&fanout, nullptr);
    fanout.admission = admission.get();
    publisher = std::make_unique<Publisher>(hub.get(), admission.get(), DecodeLimits{});
    fanout.publisher = publisher.get();
    std::vector<std::string> seed{R"({"v":1})"};
    hub->Publish("fz/a", seed);
    hub->Publish("fz/b/c", seed);
  }
};

std::string ClientFrame(std::string_view text) {
  static const uint8_t kMask[4] = {1, 2, 3, 4};
  std::string out;
  ws::AppendFrameHeader(&out, ws::Opcode::kText, text.size(), kMask);
  size_t at = out.size();
  out.append(text);
  ws::MaskInPlace(out.data() + at, text.size(), kMask, 0);
  return out;
}

// Drains what the hub wrote; returns the number of bytes read.
size_t Drain(int fd) {
  char buf[64 << 10];
  size_t total = 0;
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return total;
    total += static_cast<size_t>(n);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();  // lives for the process (libFuzzer style)
  if (size > (32u << 10)) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  asio::ip::tcp::socket server_end(world->ioc);
  server_end.assign(asio::ip::tcp::v4(), fds[0]);

  auto ticket = world->limiter->Admit("192.0.2.1");
  if (!ticket.ok()) std::abort();
  auto session = std::make_shared<WsSession>(&world->fanout, world->ioc, std::move(server_end));
  session->AdoptPeer(std::move(*ticket), "192.0.2.1:1");
  std::string leftover =
      ClientFrame(
          R"({"op":"subscribe","id":1,"streams":["fz/**"],"from":{"fz/a":{"epoch":"x","seq":0}}})") +
      ClientFrame(input);
  session->Run("HTTP/1.1 101 Switching Protocols\r\n\r\n", std::move(leftover), {});
  for (int i = 0; i < 4; ++i) {
    world->ioc.poll();
    world->ioc.restart();
  }
  const size_t replied = Drain(fds[1]);
  // The handshake (34 bytes) and `subscribed` always come back; a valid
  // UTF-8 input gets an answer or a close frame too.
  if (replied <= 34) std::abort();
  ::shutdown(fds[1], SHUT_RDWR);
  ::close(fds[1]);
  for (int i = 0; i < 8 && world->fanout.connections.load() > 0; ++i) {
    world->ioc.poll();
    world->ioc.restart();
  }
  session.reset();
  world->ioc.poll();
  world->ioc.restart();
  if (world->hub->List().size() > kMaxStreams + 8) std::abort();  // + $sys streams
  return 0;
}
