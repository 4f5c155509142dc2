#include "codec/ws_codec.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace livehub::ws {

namespace {

constexpr uint8_t kFinBit = 0x80;
constexpr uint8_t kRsvBits = 0x70;
constexpr uint8_t kOpcodeBits = 0x0F;
constexpr uint8_t kMaskBit = 0x80;
constexpr uint8_t kLen16 = 126;
constexpr uint8_t kLen64 = 127;
constexpr size_t kMaxCloseReasonBytes = kMaxControlPayloadBytes - 2;
// After a large message, give its buffer back rather than keep it per idle
// connection; below this size the allocation is worth reusing.
constexpr size_t kRetainedMessageCapacity = 64 * 1024;

bool IsControl(uint8_t opcode) { return (opcode & 0x08) != 0; }

bool IsKnownOpcode(uint8_t opcode) {
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kContinuation:
    case Opcode::kText:
    case Opcode::kBinary:
    case Opcode::kClose:
    case Opcode::kPing:
    case Opcode::kPong:
      return true;
  }
  return false;
}

// Codes a peer may put in a close frame (RFC 6455 7.4 and the IANA registry);
// 1004-1006 and 1015 are reserved and must never be sent.
bool IsValidWireCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

std::string Hex(unsigned v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "0x";
  if (v >= 16) s.push_back(kDigits[(v >> 4) & 0xF]);
  s.push_back(kDigits[v & 0xF]);
  return s;
}

Status ProtocolError(uint16_t close_code, std::string message) {
  return Status::InvalidArgument("ws_protocol", std::move(message)).WithDetail(close_code);
}

Status ValidateClosePayload(std::string_view payload) {
  if (payload.empty()) return Status::Ok();
  if (payload.size() == 1) {
    return ProtocolError(kCloseProtocolError,
                         "close frame payload of 1 byte; it must be empty or start with a "
                         "2-byte close code");
  }
  const uint16_t code = static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                                              static_cast<uint8_t>(payload[1]));
  if (!IsValidWireCloseCode(code)) {
    return ProtocolError(kCloseProtocolError,
                         "close code " + std::to_string(code) + " is not allowed on the wire");
  }
  if (!IsValidUtf8(payload.substr(2))) {
    return ProtocolError(kCloseInvalidPayload, "close reason is not valid UTF-8");
  }
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

size_t WriteFrameHeader(char* h, Opcode op, uint64_t payload_len, const uint8_t* mask) {
  size_t n = 0;
  h[n++] = static_cast<char>(kFinBit | static_cast<uint8_t>(op));
  const uint8_t mask_bit = mask != nullptr ? kMaskBit : 0;
  if (payload_len < kLen16) {
    h[n++] = static_cast<char>(mask_bit | payload_len);
  } else if (payload_len <= 0xFFFF) {
    h[n++] = static_cast<char>(mask_bit | kLen16);
    h[n++] = static_cast<char>(payload_len >> 8);
    h[n++] = static_cast<char>(payload_len);
  } else {
    h[n++] = static_cast<char>(mask_bit | kLen64);
    for (int shift = 56; shift >= 0; shift -= 8) h[n++] = static_cast<char>(payload_len >> shift);
  }
  if (mask != nullptr) {
    std::memcpy(h + n, mask, 4);
    n += 4;
  }
  return n;
}

void AppendFrameHeader(std::string* out, Opcode op, uint64_t payload_len, const uint8_t* mask) {
  char h[kMaxFrameHeaderBytes];
  out->append(h, WriteFrameHeader(h, op, payload_len, mask));
}

void MaskInPlace(char* data, size_t len, const uint8_t mask[4], size_t offset) {
  // XOR eight bytes at a time with the mask repeated from the right phase;
  // memcpy keeps this free of alignment and aliasing concerns.
  uint8_t pattern[8];
  for (size_t k = 0; k < 8; ++k) pattern[k] = mask[(offset + k) & 3];
  uint64_t wide;
  std::memcpy(&wide, pattern, 8);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    w ^= wide;
    std::memcpy(data + i, &w, 8);
  }
  for (; i < len; ++i) data[i] = static_cast<char>(data[i] ^ pattern[i & 7]);
}

std::string EncodeFrame(Opcode op, std::string_view payload, const uint8_t* mask) {
  std::string out;
  out.reserve(kMaxFrameHeaderBytes + payload.size());
  AppendFrameHeader(&out, op, payload.size(), mask);
  const size_t start = out.size();
  out.append(payload);
  if (mask != nullptr) MaskInPlace(out.data() + start, payload.size(), mask);
  return out;
}

std::string EncodeClose(uint16_t code, std::string_view reason, const uint8_t* mask) {
  if (reason.size() > kMaxCloseReasonBytes) {
    // Back up over continuation bytes so a multi-byte character is dropped
    // whole rather than cut, which would make the reason invalid UTF-8.
    size_t cut = kMaxCloseReasonBytes;
    while (cut > 0 && (static_cast<uint8_t>(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  std::string payload;
  payload.reserve(2 + reason.size());
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason);
  return EncodeFrame(Opcode::kClose, payload, mask);
}

// ---------------------------------------------------------------------------
// Handshake and text validation
// ---------------------------------------------------------------------------

std::string AcceptKey(std::string_view client_key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input;
  input.reserve(client_key.size() + kGuid.size());
  input.append(client_key).append(kGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];  // base64 + NUL
  const int n = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(n));
}

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* const end = p + s.size();
  while (p < end) {
    // Fast path: skip eight ASCII bytes at a time.
    while (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & 0x8080808080808080ULL) != 0) break;
      p += 8;
    }
    if (p == end) break;
    const uint8_t c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    // RFC 3629 table 4: the lead byte fixes the length and narrows the range
    // of the second byte, which rules out overlongs, surrogates and > U+10FFFF.
    size_t trail;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      trail = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      trail = 2;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      trail = 3;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;  // continuation byte, C0/C1 overlong lead, or F5..FF
    }
    if (static_cast<size_t>(end - p) <= trail) return false;  // truncated
    if (p[1] < lo || p[1] > hi) return false;
    for (size_t k = 2; k <= trail; ++k) {
      if ((p[k] & 0xC0) != 0x80) return false;
    }
    p += trail + 1;
  }
  return true;
}

// ---------------------------------------------------------------------------
// FrameParser
// ---------------------------------------------------------------------------

// Input is consumed strictly in order and never erased from the front: a
// frame's header bytes go to buf_ only if they straddle two chunks, data
// payloads are copied (and unmasked) once into message_, and a whole unmasked
// message inside one chunk is delivered straight from the caller's bytes.
Status FrameParser::Feed(std::string_view data, const OnMessage& on_message) {
  if (!failure_.ok()) return failure_;
  size_t pos = 0;
  while (pos < data.size()) {
    Status st =
        in_header_ ? ConsumeHeader(data, &pos, on_message) : ConsumePayload(data, &pos, on_message);
    if (!st.ok()) return Fail(std::move(st));
  }
  return Status::Ok();
}

Status FrameParser::ConsumeHeader(std::string_view data, size_t* pos, const OnMessage& on_message) {
  const char* src = data.data() + *pos;
  const size_t avail = data.size() - *pos;
  const size_t have = buf_.size();
  const size_t take = std::min(avail, kMaxFrameHeaderBytes - have);
  const size_t n = have + take;
  uint8_t joined[kMaxFrameHeaderBytes];
  const uint8_t* h = reinterpret_cast<const uint8_t*>(src);
  if (have > 0) {
    std::memcpy(joined, buf_.data(), have);
    std::memcpy(joined + have, src, take);
    h = joined;
  }
  size_t size = 0;
  Status st = ParseHeader(h, n, &size);
  if (!st.ok()) return st;
  if (size == 0 || n < size) {
    // Incomplete, so n < kMaxFrameHeaderBytes and therefore take == avail.
    buf_.append(src, avail);
    *pos += avail;
    return Status::Ok();
  }
  *pos += size - have;
  buf_.clear();
  in_header_ = false;
  payload_read_ = 0;
  if (payload_len_ == 0) return FinishFrame({}, on_message);
  return Status::Ok();
}

Status FrameParser::ParseHeader(const uint8_t* h, size_t n, size_t* size) {
  *size = 0;
  if (n < 1) return Status::Ok();
  const uint8_t b0 = h[0];
  if ((b0 & kRsvBits) != 0) {
    return ProtocolError(kCloseProtocolError, "frame has reserved bits " + Hex(b0 & kRsvBits) +
                                                  " set but no extension was negotiated");
  }
  const uint8_t opcode = b0 & kOpcodeBits;
  if (!IsKnownOpcode(opcode)) {
    return ProtocolError(kCloseProtocolError, "unknown opcode " + Hex(opcode));
  }
  const bool fin = (b0 & kFinBit) != 0;
  const bool control = IsControl(opcode);
  if (control && !fin) {
    return ProtocolError(kCloseProtocolError,
                         "control frame (opcode " + Hex(opcode) + ") must not be fragmented");
  }
  if (!control && opcode == 0 && !in_message_) {
    return ProtocolError(kCloseProtocolError, "continuation frame without a message in progress");
  }
  if (!control && opcode != 0 && in_message_) {
    return ProtocolError(kCloseProtocolError, "new data frame (opcode " + Hex(opcode) +
                                                  ") while a fragmented message is in progress");
  }
  if (n < 2) return Status::Ok();
  const uint8_t b1 = h[1];
  const bool masked = (b1 & kMaskBit) != 0;
  if (role_ == Role::kServer && !masked) {
    return ProtocolError(kCloseProtocolError, "frames from a client must be masked");
  }
  if (role_ == Role::kClient && masked) {
    return ProtocolError(kCloseProtocolError, "frames from a server must not be masked");
  }
  const uint8_t len7 = b1 & 0x7F;
  if (control && len7 > kMaxControlPayloadBytes) {
    return ProtocolError(kCloseProtocolError,
                         "control frame (opcode " + Hex(opcode) + ") payload exceeds 125 bytes");
  }
  const size_t ext = len7 == kLen16 ? 2 : len7 == kLen64 ? 8 : 0;
  *size = 2 + ext + (masked ? 4 : 0);
  if (n < 2 + ext) return Status::Ok();
  uint64_t len = len7;
  if (ext > 0) {
    len = 0;
    for (size_t i = 0; i < ext; ++i) len = (len << 8) | h[2 + i];
  }
  if ((len >> 63) != 0) {
    return ProtocolError(kCloseProtocolError,
                         "64-bit payload length has its most significant bit set");
  }
  // message_ never exceeds the limit, so the subtraction cannot wrap.
  if (!control && len > max_message_bytes_ - message_.size()) {
    return Status::TooLarge("ws_message_too_large", "message of at least " +
                                                        std::to_string(message_.size() + len) +
                                                        " bytes exceeds max_message_bytes (" +
                                                        std::to_string(max_message_bytes_) + ")")
        .WithDetail(kCloseTooBig);
  }
  if (n < *size) return Status::Ok();

  fin_ = fin;
  op_ = static_cast<Opcode>(opcode);
  masked_ = masked;
  if (masked) std::memcpy(mask_, h + 2 + ext, 4);
  payload_len_ = len;
  if (!control && opcode != 0) {
    message_op_ = op_;
    in_message_ = true;
  }
  return Status::Ok();
}

Status FrameParser::ConsumePayload(std::string_view data, size_t* pos,
                                   const OnMessage& on_message) {
  const char* src = data.data() + *pos;
  // payload_len_ is at most max(125, max_message_bytes_), so it fits size_t.
  const size_t remaining = static_cast<size_t>(payload_len_ - payload_read_);
  const size_t n = std::min(remaining, data.size() - *pos);
  *pos += n;
  const bool control = IsControl(static_cast<uint8_t>(op_));
  const bool whole_frame = payload_read_ == 0 && n == payload_len_;
  if (!masked_ && whole_frame && (control || (fin_ && message_.empty()))) {
    return FinishFrame(std::string_view(src, n), on_message);  // zero-copy
  }
  std::string& dst = control ? buf_ : message_;
  const size_t start = dst.size();
  dst.append(src, n);
  if (masked_) MaskInPlace(dst.data() + start, n, mask_, static_cast<size_t>(payload_read_));
  payload_read_ += n;
  if (payload_read_ < payload_len_) return Status::Ok();
  return FinishFrame(dst, on_message);
}

Status FrameParser::FinishFrame(std::string_view payload, const OnMessage& on_message) {
  in_header_ = true;
  if (IsControl(static_cast<uint8_t>(op_))) {
    if (op_ == Opcode::kClose) {
      Status st = ValidateClosePayload(payload);
      if (!st.ok()) return st;
    }
    on_message(op_, payload);
    buf_.clear();
    return Status::Ok();
  }
  if (!fin_) return Status::Ok();  // a fragment: keep it in message_
  if (message_op_ == Opcode::kText && !IsValidUtf8(payload)) {
    return ProtocolError(kCloseInvalidPayload, "text message is not valid UTF-8");
  }
  in_message_ = false;
  on_message(message_op_, payload);
  message_.clear();
  if (message_.capacity() > kRetainedMessageCapacity) std::string().swap(message_);
  return Status::Ok();
}

Status FrameParser::Fail(Status status) {
  failure_ = std::move(status);
  std::string().swap(buf_);
  std::string().swap(message_);
  in_message_ = false;
  return failure_;
}

}  // namespace livehub::ws
