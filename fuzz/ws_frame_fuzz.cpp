// Fuzz target for ws::FrameParser (both roles) and the frame encoder.
// Input layout: byte 0 picks how the rest is cut into Feed() chunks; the rest
// is the byte stream from the peer.
// Checked properties, besides "never crashes":
//  - buffered_bytes() stays within max_message_bytes + kMaxControlPayloadBytes;
//  - how the stream is chunked changes nothing: the delivered messages and
//    the final status equal those of feeding it in one piece;
//  - what is delivered is well formed (limits, UTF-8 text), and re-encoding it
//    as client frames parses back to the same messages.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "codec/ws_codec.h"

namespace {

using livehub::Status;
using livehub::ws::FrameParser;
using livehub::ws::Opcode;

constexpr size_t kMaxMessage = 4096;

struct Outcome {
  std::vector<std::pair<Opcode, std::string>> messages;
  bool ok = true;
  uint64_t close_code = 0;
};

void Check(bool condition) {
  if (!condition) std::abort();
}

// Small deterministic generator for chunk sizes.
class ChunkSizes {
 public:
  explicit ChunkSizes(uint8_t seed) : state_(0x9E3779B97F4A7C15ULL ^ seed) {
    static constexpr size_t kMaxChunk[4] = {1, 16, 256, 8192};
    max_ = kMaxChunk[seed & 3];
  }
  size_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return 1 + static_cast<size_t>(state_ % max_);
  }

 private:
  uint64_t state_;
  size_t max_;
};

Outcome Parse(FrameParser::Role role, std::string_view stream, const uint8_t* chunk_seed) {
  FrameParser parser(role, kMaxMessage);
  Outcome out;
  auto on_message = [&](Opcode op, std::string_view payload) {
    const bool control = (static_cast<uint8_t>(op) & 0x08) != 0;
    Check(control ? payload.size() <= livehub::ws::kMaxControlPayloadBytes
                  : payload.size() <= kMaxMessage);
    Check(op != Opcode::kContinuation);
    if (op == Opcode::kText) Check(livehub::ws::IsValidUtf8(payload));
    out.messages.emplace_back(op, std::string(payload));
  };
  ChunkSizes sizes(chunk_seed != nullptr ? *chunk_seed : 0);
  size_t pos = 0;
  while (pos < stream.size()) {
    const size_t n = chunk_seed != nullptr ? sizes.Next() : stream.size();
    Status st = parser.Feed(stream.substr(pos, n), on_message);
    pos += std::min(n, stream.size() - pos);
    Check(parser.buffered_bytes() <= kMaxMessage + livehub::ws::kMaxControlPayloadBytes);
    if (!st.ok()) {
      Check(st.detail().has_value());
      const uint64_t code = *st.detail();
      Check(code == 1002 || code == 1007 || code == 1009);
      out.ok = false;
      out.close_code = code;
      // Sticky: a later Feed reports the same failure and delivers nothing.
      const size_t delivered = out.messages.size();
      Status again = parser.Feed(stream.substr(pos), on_message);
      Check(!again.ok() && again.detail() == st.detail());
      Check(out.messages.size() == delivered);
      break;
    }
  }
  return out;
}

bool SameOutcome(const Outcome& a, const Outcome& b) {
  return a.ok == b.ok && a.close_code == b.close_code && a.messages == b.messages;
}

// Encodes every delivered message as a client frame and parses it back.
void CheckReencoding(const Outcome& outcome) {
  static constexpr uint8_t kMask[4] = {0xA5, 0x01, 0x7E, 0xC3};
  std::string wire;
  for (const auto& [op, payload] : outcome.messages) {
    wire += livehub::ws::EncodeFrame(op, payload, kMask);
  }
  Outcome again = Parse(FrameParser::Role::kServer, wire, nullptr);
  Check(again.ok);
  Check(again.messages == outcome.messages);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t* seed = data;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  const Outcome server_whole = Parse(FrameParser::Role::kServer, stream, nullptr);
  const Outcome server_chunked = Parse(FrameParser::Role::kServer, stream, seed);
  Check(SameOutcome(server_whole, server_chunked));
  CheckReencoding(server_whole);

  const Outcome client_whole = Parse(FrameParser::Role::kClient, stream, nullptr);
  const Outcome client_chunked = Parse(FrameParser::Role::kClient, stream, seed);
  Check(SameOutcome(client_whole, client_chunked));
  CheckReencoding(client_whole);
  return 0;
}
