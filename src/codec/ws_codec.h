// WebSocket framing (RFC 6455) for both roles: the hub (server) and our own
// clients (`livehub tail`, `livehub bench`). We frame by hand rather than use
// Beast's websocket::stream so that a server frame can be built once per
// event, shared by every subscriber, and many frames written per syscall.
// Thread safety: free functions are thread-safe; a FrameParser is owned by
// one connection and not thread-safe.
// No extensions are negotiated (no permessage-deflate).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace livehub::ws {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Close codes we send.
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseGoingAway = 1001;
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseInvalidPayload = 1007;   // e.g. invalid UTF-8 text
inline constexpr uint16_t kClosePolicyViolation = 1008;  // e.g. slow consumer
inline constexpr uint16_t kCloseTooBig = 1009;
inline constexpr uint16_t kCloseInternalError = 1011;
inline constexpr uint16_t kCloseTryAgainLater = 1013;  // e.g. connection limit

inline constexpr size_t kMaxFrameHeaderBytes = 14;
inline constexpr size_t kMaxUnmaskedFrameHeaderBytes = 10;  // server role
inline constexpr size_t kMaxControlPayloadBytes = 125;

// Writes the header of a single final (FIN) frame carrying payload_len
// bytes into out (room for kMaxFrameHeaderBytes); returns its length. With
// a mask (client role) the 4 mask bytes are written too.
size_t WriteFrameHeader(char* out, Opcode op, uint64_t payload_len, const uint8_t* mask = nullptr);

// Appends the header of a single final (FIN) frame carrying payload_len bytes.
// With a mask (client role) the 4 mask bytes are appended too; the caller
// must then mask the payload itself (see MaskInPlace).
void AppendFrameHeader(std::string* out, Opcode op, uint64_t payload_len,
                       const uint8_t* mask = nullptr);

// XORs data with the 4-byte mask, starting at mask offset `offset`.
void MaskInPlace(char* data, size_t len, const uint8_t mask[4], size_t offset = 0);

// A complete frame: unmasked (server role) when mask is null, else masked.
std::string EncodeFrame(Opcode op, std::string_view payload, const uint8_t* mask = nullptr);

// A close frame with a code and a reason (reason truncated to 123 bytes).
std::string EncodeClose(uint16_t code, std::string_view reason, const uint8_t* mask = nullptr);

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (SHA-1 + base64).
std::string AcceptKey(std::string_view client_key);

// True if s is valid UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Incremental frame parser. Feed() any byte chunks; it calls on_message once
// per complete data message (fragments reassembled) and once per control
// frame (ping/pong/close, never fragmented, payload <= 125 bytes).
// Server role requires masked frames; client role requires unmasked ones.
// On a protocol violation Feed returns a non-OK Status whose detail() is the
// close code to send (1002, 1007 or 1009) and the parser stays failed.
// max_message_bytes limits data messages (sum of fragments); control frames
// are limited to kMaxControlPayloadBytes by the RFC. The payload passed to
// on_message is valid only during that call.
class FrameParser {
 public:
  enum class Role { kServer, kClient };
  using OnMessage = std::function<void(Opcode op, std::string_view payload)>;

  FrameParser(Role role, size_t max_message_bytes)
      : role_(role), max_message_bytes_(max_message_bytes) {}

  Status Feed(std::string_view data, const OnMessage& on_message);

  // Bytes currently buffered (partial header or control payload + partial
  // message); bounded by max_message_bytes plus kMaxControlPayloadBytes.
  size_t buffered_bytes() const { return buf_.size() + message_.size(); }

 private:
  // Each consumes bytes of `data` from *pos on; a non-OK return is a violation.
  Status ConsumeHeader(std::string_view data, size_t* pos, const OnMessage& on_message);
  Status ConsumePayload(std::string_view data, size_t* pos, const OnMessage& on_message);
  // Validates the first n bytes of a header; sets *size to the full header
  // size once known (else 0) and, when all of it is there, loads the frame.
  Status ParseHeader(const uint8_t* h, size_t n, size_t* size);
  // The current frame's payload is complete: deliver it (or keep a fragment).
  Status FinishFrame(std::string_view payload, const OnMessage& on_message);
  Status Fail(Status status);

  Role role_;
  size_t max_message_bytes_;
  Status failure_;  // sticky: non-OK once a violation was seen
  // While in_header_: the partial header. Afterwards: the payload of a control
  // frame that did not arrive in one chunk (or needed unmasking).
  std::string buf_;
  bool in_header_ = true;
  // The frame being read (valid once in_header_ is false).
  bool fin_ = false;
  Opcode op_ = Opcode::kText;
  bool masked_ = false;
  uint8_t mask_[4] = {};
  uint64_t payload_len_ = 0;
  uint64_t payload_read_ = 0;
  // The data message being read; message_ holds its payload so far unless a
  // whole unmasked message arrived in one chunk (then it is not copied).
  std::string message_;
  bool in_message_ = false;
  Opcode message_op_ = Opcode::kText;
};

}  // namespace livehub::ws
