// Upgrade: how the HTTP layer hands a request to a subscriber transport.
// The HTTP server authorizes the request (Admission) and finds the endpoint;
// the transport does its own handshake: it checks what its protocol needs
// (WebSocket: the upgrade headers; SSE: the stream list, cursor, max_hz),
// asks Admission for the connection and its subscriptions, and either takes
// the socket and runs, or returns a refusal for the HTTP layer to answer.
// A new transport adds an Accept function of this shape and an endpoint.
// Thread safety: the Accept functions run on the connection's io thread.
#pragma once

#include <boost/asio.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "fanout/access.h"
#include "fanout/fanout_options.h"
#include "limits/limits.h"

namespace livehub {

struct UpgradeRequest {
  std::string_view method;
  // A request header's value ("" if absent), by case-insensitive name.
  std::function<std::string_view(std::string_view)> header;
  const std::map<std::string, std::string, std::less<>>* query = nullptr;  // decoded
  std::string leftover;  // bytes the client sent after the request
  std::shared_ptr<const Access> access;
  std::shared_ptr<PeerTicket> ticket;  // the connection's per-IP slot (may be null)
  std::string peer;                    // client address, for logs
  // Response header lines ("Name: value\r\n"...) the HTTP layer wants on a
  // reply the transport writes itself (SSE's CORS headers).
  std::string extra_header_lines;

  std::string_view Query(std::string_view key) const {
    if (!query) return {};
    auto it = query->find(key);
    return it == query->end() ? std::string_view() : std::string_view(it->second);
  }
  bool HasQuery(std::string_view key) const { return query && query->count(key) > 0; }
};

// A refused handshake: the Status (its HTTP status comes from
// HttpStatusFor) and headers the protocol asks for (Upgrade: websocket).
struct HandshakeRefusal {
  Status status;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Called once, only when the transport accepts: the connection's socket.
using SocketTaker = std::function<boost::asio::ip::tcp::socket()>;

// Splits "a,b,,c" into its non-empty parts.
std::vector<std::string> SplitCommaList(std::string_view s);

// True if the comma-separated header value `value` has `token` (ASCII case-
// insensitive, spaces around items ignored): `Connection: keep-alive, Upgrade`.
bool HeaderHasToken(std::string_view value, std::string_view token);

}  // namespace livehub
