#include "codec/ws_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace livehub::ws {
namespace {

constexpr uint8_t kMask[4] = {0x37, 0xfa, 0x21, 0x3d};
constexpr size_t kLimit = 1 << 20;

using Message = std::pair<Opcode, std::string>;

// Collects what a parser delivers.
struct Inbox {
  std::vector<Message> messages;
  FrameParser::OnMessage Callback() {
    return [this](Opcode op, std::string_view payload) {
      messages.emplace_back(op, std::string(payload));
    };
  }
};

// A frame as a client sends it (masked).
std::string ClientFrame(Opcode op, std::string_view payload) {
  return EncodeFrame(op, payload, kMask);
}

// A masked frame whose first byte (FIN, RSV, opcode) is given verbatim, for
// fragments and deliberately broken frames.
std::string RawClientFrame(uint8_t first_byte, std::string_view payload) {
  std::string frame = ClientFrame(Opcode::kBinary, payload);
  frame[0] = static_cast<char>(first_byte);
  return frame;
}

std::string CloseBody(uint16_t code, std::string_view reason = "") {
  std::string body{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  body.append(reason);
  return body;
}

// Feeds `bytes` to a fresh server-role parser; returns the close code it asks
// for (0 when the bytes were accepted).
uint64_t ServerCloseCode(const std::string& bytes, size_t limit = kLimit) {
  FrameParser parser(FrameParser::Role::kServer, limit);
  Inbox inbox;
  Status st = parser.Feed(bytes, inbox.Callback());
  if (st.ok()) return 0;
  EXPECT_TRUE(st.detail().has_value()) << st.ToString();
  EXPECT_FALSE(st.message().empty());
  return st.detail().value_or(0);
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

TEST(WsEncodeTest, UsesSevenBitLengthUpTo125Bytes) {
  std::string header;
  AppendFrameHeader(&header, Opcode::kText, 125);
  EXPECT_EQ(header, std::string("\x81\x7d", 2));
}

TEST(WsEncodeTest, UsesSixteenBitLengthFrom126Bytes) {
  std::string header;
  AppendFrameHeader(&header, Opcode::kBinary, 126);
  EXPECT_EQ(header, std::string("\x82\x7e\x00\x7e", 4));
}

TEST(WsEncodeTest, UsesSixteenBitLengthUpTo65535Bytes) {
  std::string header;
  AppendFrameHeader(&header, Opcode::kBinary, 65535);
  EXPECT_EQ(header, std::string("\x82\x7e\xff\xff", 4));
}

TEST(WsEncodeTest, UsesSixtyFourBitLengthFrom65536Bytes) {
  std::string header;
  AppendFrameHeader(&header, Opcode::kBinary, 65536);
  EXPECT_EQ(header, std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

TEST(WsEncodeTest, ClientHeaderSetsMaskBitAndCarriesTheMaskKey) {
  std::string header;
  AppendFrameHeader(&header, Opcode::kPing, 3, kMask);
  ASSERT_EQ(header.size(), 6u);
  EXPECT_EQ(static_cast<uint8_t>(header[0]), 0x89);
  EXPECT_EQ(static_cast<uint8_t>(header[1]), 0x83);
  EXPECT_EQ(header.substr(2), std::string(reinterpret_cast<const char*>(kMask), 4));
}

TEST(WsEncodeTest, MaskingInPiecesWithOffsetsEqualsMaskingAtOnce) {
  std::string whole(1000, '\0');
  for (size_t i = 0; i < whole.size(); ++i) whole[i] = static_cast<char>(i * 7);
  std::string pieces = whole;
  MaskInPlace(whole.data(), whole.size(), kMask);
  size_t done = 0;
  for (size_t len : {1, 3, 8, 13, 100, 875}) {
    MaskInPlace(pieces.data() + done, len, kMask, done);
    done += len;
  }
  ASSERT_EQ(done, pieces.size());
  EXPECT_EQ(pieces, whole);
}

TEST(WsEncodeTest, CloseCarriesBigEndianCodeThenReason) {
  std::string frame = EncodeClose(kCloseGoingAway, "bye");
  EXPECT_EQ(frame, std::string("\x88\x05\x03\xe9", 4) + "bye");
}

TEST(WsEncodeTest, CloseTruncatesReasonTo123Bytes) {
  std::string frame = EncodeClose(kCloseNormal, std::string(300, 'r'));
  EXPECT_EQ(frame.size(), 2u + 125u);
  EXPECT_EQ(static_cast<uint8_t>(frame[1]), 125);
}

TEST(WsEncodeTest, CloseTruncationDoesNotCutAMultiByteCharacter) {
  // 122 ASCII bytes then "é" (2 bytes): byte 123 would be half a character.
  std::string reason = std::string(122, 'a') + "\xc3\xa9" + "tail";
  std::string frame = EncodeClose(kCloseNormal, reason);
  std::string sent_reason = frame.substr(4);
  EXPECT_EQ(sent_reason, std::string(122, 'a'));
  EXPECT_TRUE(IsValidUtf8(sent_reason));
}

// ---------------------------------------------------------------------------
// Parsing well-formed input
// ---------------------------------------------------------------------------

class WsLengthRoundTripTest : public ::testing::TestWithParam<size_t> {};

TEST_P(WsLengthRoundTripTest, ServerUnmasksWhatTheClientEncoded) {
  std::string payload(GetParam(), '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i % 251);
  FrameParser parser(FrameParser::Role::kServer, kLimit);
  Inbox inbox;
  ASSERT_TRUE(parser.Feed(ClientFrame(Opcode::kBinary, payload), inbox.Callback()).ok());
  ASSERT_EQ(inbox.messages.size(), 1u);
  EXPECT_EQ(inbox.messages[0], Message(Opcode::kBinary, payload));
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllLengthEncodings, WsLengthRoundTripTest,
                         ::testing::Values(0, 1, 125, 126, 127, 65535, 65536, 70000));

TEST(WsParserTest, ClientRoleReadsUnmaskedServerFrames) {
  FrameParser parser(FrameParser::Role::kClient, kLimit);
  Inbox inbox;
  std::string bytes = EncodeFrame(Opcode::kText, "hello") + EncodeFrame(Opcode::kPong, "");
  ASSERT_TRUE(parser.Feed(bytes, inbox.Callback()).ok());
  EXPECT_EQ(inbox.messages, (std::vector<Message>{{Opcode::kText, "hello"}, {Opcode::kPong, ""}}));
}

TEST(WsParserTest, DeliversTheSameMessagesWhenFedOneByteAtATime) {
  std::string bytes = ClientFrame(Opcode::kText, "héllo") +
                      ClientFrame(Opcode::kBinary, std::string(300, 'x')) +
                      ClientFrame(Opcode::kPing, "p") + ClientFrame(Opcode::kText, "");
  FrameParser parser(FrameParser::Role::kServer, kLimit);
  Inbox inbox;
  for (char c : bytes) {
    ASSERT_TRUE(parser.Feed(std::string_view(&c, 1), inbox.Callback()).ok());
    EXPECT_LE(parser.buffered_bytes(), 300u);
  }
  EXPECT_EQ(inbox.messages, (std::vector<Message>{{Opcode::kText, "héllo"},
                                                  {Opcode::kBinary, std::string(300, 'x')},
                                                  {Opcode::kPing, "p"},
                                                  {Opcode::kText, ""}}));
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

TEST(WsParserTest, DeliversEveryFrameOfOneLargeChunk) {
  std::string bytes;
  constexpr int kFrames = 100000;
  for (int i = 0; i < kFrames; ++i) bytes += ClientFrame(Opcode::kText, std::to_string(i));
  FrameParser parser(FrameParser::Role::kServer, kLimit);
  int count = 0;
  bool in_order = true;
  ASSERT_TRUE(parser
                  .Feed(bytes,
                        [&](Opcode, std::string_view payload) {
                          in_order = in_order && payload == std::to_string(count);
                          ++count;
                        })
                  .ok());
  EXPECT_EQ(count, kFrames);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

TEST(WsParserTest, KeepsAPartialFrameAcrossFeeds) {
  std::string bytes = ClientFrame(Opcode::kText, "one") + ClientFrame(Opcode::kText, "two");
  FrameParser parser(FrameParser::Role::kServer, kLimit);
  Inbox inbox;
  const size_t split = bytes.size() - 2;
  ASSERT_TRUE(parser.Feed(std::string_view(bytes).substr(0, split), inbox.Callback()).ok());
  EXPECT_EQ(inbox.messages.size(), 1u);
  EXPECT_EQ(parser.buffered_bytes(), 1u);  // "t" of "two"
  ASSERT_TRUE(parser.Feed(std::string_view(bytes).substr(split), inbox.Callback()).ok());
  EXPECT_EQ(inbox.messages.back(), Message(Opcode::kText, "two"));
}

TEST(WsParserTest, ReassemblesFragmentsAndDeliversAnInterleavedPingFirst) {
  std::string bytes = RawClientFrame(0x01, "Hel") +  // text, not final
                      ClientFrame(Opcode::kPing, "are you there") +
                      RawClientFrame(0x00, "") +   // empty continuation
                      RawClientFrame(0x80, "lo");  // final continuation
  FrameParser parser(FrameParser::Role::kServer, kLimit);
  Inbox inbox;
  ASSERT_TRUE(parser.Feed(bytes, inbox.Callback()).ok());
  EXPECT_EQ(inbox.messages,
            (std::vector<Message>{{Opcode::kPing, "are you there"}, {Opcode::kText, "Hello"}}));
}

TEST(WsParserTest, AcceptsACharacterSplitAcrossFragments) {
  std::string bytes = RawClientFrame(0x01, "caf\xc3") + RawClientFrame(0x80, "\xa9");
  EXPECT_EQ(ServerCloseCode(bytes), 0u);
}

TEST(WsParserTest, AcceptsInvalidUtf8InBinaryMessages) {
  EXPECT_EQ(ServerCloseCode(ClientFrame(Opcode::kBinary, "\xff\xfe")), 0u);
}

TEST(WsParserTest, AcceptsAMessageExactlyAtTheLimit) {
  std::string bytes =
      RawClientFrame(0x02, std::string(60, 'a')) + RawClientFrame(0x80, std::string(40, 'b'));
  EXPECT_EQ(ServerCloseCode(bytes, 100), 0u);
}

// ---------------------------------------------------------------------------
// Protocol violations and their close codes
// ---------------------------------------------------------------------------

TEST(WsViolationTest, ServerRejectsAnUnmaskedFrame) {
  EXPECT_EQ(ServerCloseCode(EncodeFrame(Opcode::kText, "hi")), kCloseProtocolError);
}

TEST(WsViolationTest, ClientRejectsAMaskedFrame) {
  FrameParser parser(FrameParser::Role::kClient, kLimit);
  Inbox inbox;
  Status st = parser.Feed(ClientFrame(Opcode::kText, "hi"), inbox.Callback());
  EXPECT_EQ(st.reason(), "ws_protocol");
  EXPECT_EQ(st.detail(), kCloseProtocolError);
  EXPECT_TRUE(inbox.messages.empty());
}

TEST(WsViolationTest, RejectsEachReservedBit) {
  for (uint8_t rsv : {0x40, 0x20, 0x10}) {
    EXPECT_EQ(ServerCloseCode(RawClientFrame(0x81 | rsv, "x")), kCloseProtocolError) << int{rsv};
  }
}

TEST(WsViolationTest, RejectsEveryUnknownOpcode) {
  for (uint8_t op : {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    EXPECT_EQ(ServerCloseCode(RawClientFrame(0x80 | op, "")), kCloseProtocolError) << int{op};
  }
}

TEST(WsViolationTest, RejectsAFragmentedControlFrame) {
  EXPECT_EQ(ServerCloseCode(RawClientFrame(0x09, "ping")), kCloseProtocolError);
}

TEST(WsViolationTest, RejectsAControlFrameOver125Bytes) {
  EXPECT_EQ(ServerCloseCode(ClientFrame(Opcode::kPing, std::string(126, 'p'))),
            kCloseProtocolError);
  EXPECT_EQ(ServerCloseCode(ClientFrame(Opcode::kPing, std::string(125, 'p'))), 0u);
}

TEST(WsViolationTest, RejectsAContinuationWithoutAStartedMessage) {
  EXPECT_EQ(ServerCloseCode(RawClientFrame(0x80, "x")), kCloseProtocolError);
}

TEST(WsViolationTest, RejectsANewDataFrameInsideAFragmentedMessage) {
  std::string bytes = RawClientFrame(0x01, "a") + ClientFrame(Opcode::kText, "b");
  EXPECT_EQ(ServerCloseCode(bytes), kCloseProtocolError);
}

TEST(WsViolationTest, RejectsAnOversizedMessageFromItsHeaderAlone) {
  // Only the header of a 1 TiB frame: the parser must not wait for the body.
  std::string header;
  AppendFrameHeader(&header, Opcode::kBinary, uint64_t{1} << 40, kMask);
  FrameParser parser(FrameParser::Role::kServer, 1024);
  Inbox inbox;
  Status st = parser.Feed(std::string_view(header).substr(0, 10), inbox.Callback());
  EXPECT_EQ(st.code(), StatusCode::kTooLarge);
  EXPECT_EQ(st.detail(), kCloseTooBig);
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

TEST(WsViolationTest, RejectsFragmentsWhoseSumExceedsTheLimit) {
  std::string bytes =
      RawClientFrame(0x02, std::string(60, 'a')) + RawClientFrame(0x80, std::string(41, 'b'));
  EXPECT_EQ(ServerCloseCode(bytes, 100), kCloseTooBig);
}

TEST(WsViolationTest, RejectsASixtyFourBitLengthWithTheTopBitSet) {
  std::string bytes("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01", 10);
  bytes.append(reinterpret_cast<const char*>(kMask), 4);
  EXPECT_EQ(ServerCloseCode(bytes, SIZE_MAX), kCloseProtocolError);
}

TEST(WsViolationTest, RejectsInvalidUtf8TextWith1007) {
  EXPECT_EQ(ServerCloseCode(ClientFrame(Opcode::kText, "ok\xc0\xaf")), kCloseInvalidPayload);
}

TEST(WsViolationTest, RejectsTextWhoseFragmentsEndMidCharacter) {
  std::string bytes = RawClientFrame(0x01, "ok") + RawClientFrame(0x80, "\xe2\x82");
  EXPECT_EQ(ServerCloseCode(bytes), kCloseInvalidPayload);
}

TEST(WsViolationTest, StaysFailedAndSilentAfterAViolation) {
  FrameParser parser(FrameParser::Role::kServer, kLimit);
  Inbox inbox;
  Status first = parser.Feed(EncodeFrame(Opcode::kText, "unmasked"), inbox.Callback());
  ASSERT_FALSE(first.ok());
  Status again = parser.Feed(ClientFrame(Opcode::kText, "fine"), inbox.Callback());
  EXPECT_EQ(again.detail(), first.detail());
  EXPECT_EQ(again.message(), first.message());
  EXPECT_TRUE(inbox.messages.empty());
}

TEST(WsViolationTest, DeliversFramesBeforeTheViolationInTheSameChunk) {
  FrameParser parser(FrameParser::Role::kServer, kLimit);
  Inbox inbox;
  std::string bytes = ClientFrame(Opcode::kText, "first") + RawClientFrame(0xC1, "bad");
  EXPECT_FALSE(parser.Feed(bytes, inbox.Callback()).ok());
  EXPECT_EQ(inbox.messages, (std::vector<Message>{{Opcode::kText, "first"}}));
}

// ---------------------------------------------------------------------------
// Close frames
// ---------------------------------------------------------------------------

TEST(WsCloseTest, AcceptsAnEmptyClose) {
  EXPECT_EQ(ServerCloseCode(ClientFrame(Opcode::kClose, "")), 0u);
}

TEST(WsCloseTest, DeliversCodeAndReasonUnmasked) {
  FrameParser parser(FrameParser::Role::kServer, kLimit);
  Inbox inbox;
  ASSERT_TRUE(parser.Feed(EncodeClose(kCloseNormal, "done", kMask), inbox.Callback()).ok());
  EXPECT_EQ(inbox.messages,
            (std::vector<Message>{{Opcode::kClose, CloseBody(kCloseNormal, "done")}}));
}

TEST(WsCloseTest, RejectsAOneBytePayload) {
  EXPECT_EQ(ServerCloseCode(ClientFrame(Opcode::kClose, "\x03")), kCloseProtocolError);
}

TEST(WsCloseTest, AcceptsEveryCodeAllowedOnTheWire) {
  for (uint16_t code = 0; code < 6000; ++code) {
    const bool allowed = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                         (code >= 3000 && code <= 4999);
    EXPECT_EQ(ServerCloseCode(ClientFrame(Opcode::kClose, CloseBody(code))),
              allowed ? 0u : kCloseProtocolError)
        << code;
  }
}

TEST(WsCloseTest, RejectsReservedCodes) {
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
    EXPECT_EQ(ServerCloseCode(ClientFrame(Opcode::kClose, CloseBody(code))), kCloseProtocolError)
        << code;
  }
}

TEST(WsCloseTest, RejectsAReasonThatIsNotUtf8With1007) {
  EXPECT_EQ(ServerCloseCode(ClientFrame(Opcode::kClose, CloseBody(kCloseNormal, "\xed\xa0\x80"))),
            kCloseInvalidPayload);
}

// ---------------------------------------------------------------------------
// Handshake and UTF-8
// ---------------------------------------------------------------------------

TEST(WsAcceptKeyTest, MatchesTheRfc6455Example) {
  EXPECT_EQ(AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsUtf8Test, AcceptsAsciiAndEveryEncodingLength) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii that is longer than eight bytes"));
  EXPECT_TRUE(IsValidUtf8("\xc2\x80"));          // U+0080
  EXPECT_TRUE(IsValidUtf8("\xdf\xbf"));          // U+07FF
  EXPECT_TRUE(IsValidUtf8("\xe0\xa0\x80"));      // U+0800
  EXPECT_TRUE(IsValidUtf8("\xed\x9f\xbf"));      // U+D7FF, below surrogates
  EXPECT_TRUE(IsValidUtf8("\xee\x80\x80"));      // U+E000, above surrogates
  EXPECT_TRUE(IsValidUtf8("\xef\xbf\xbf"));      // U+FFFF
  EXPECT_TRUE(IsValidUtf8("\xf0\x90\x80\x80"));  // U+10000
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
  EXPECT_TRUE(IsValidUtf8("κόσμε and 😀 mixed with ascii"));
}

TEST(WsUtf8Test, RejectsOverlongEncodings) {
  for (const char* s : {"\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xf0\x80\x80\x80",
                        "\xf0\x8f\xbf\xbf"}) {
    EXPECT_FALSE(IsValidUtf8(s)) << s;
  }
}

TEST(WsUtf8Test, RejectsSurrogates) {
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // U+D800
  EXPECT_FALSE(IsValidUtf8("\xed\xbf\xbf"));  // U+DFFF
}

TEST(WsUtf8Test, RejectsCodePointsAboveU10FFFF) {
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // U+110000
  for (int lead = 0xf5; lead <= 0xff; ++lead) {
    EXPECT_FALSE(IsValidUtf8(std::string{static_cast<char>(lead), '\x80', '\x80', '\x80'}));
  }
}

TEST(WsUtf8Test, RejectsTruncatedSequences) {
  for (const char* s : {"\xc3", "\xe2\x82", "\xf0\x9f\x98", "ab\xe2\x82", "\xe2\x82z"}) {
    EXPECT_FALSE(IsValidUtf8(s)) << s;
  }
}

TEST(WsUtf8Test, RejectsAStrayContinuationByte) {
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(IsValidUtf8("a\xc3\xa9\xa9"));
}

TEST(WsUtf8Test, FindsABadByteAtAnyOffsetOfALongAsciiRun) {
  for (size_t at = 0; at < 40; ++at) {
    std::string s(40, 'a');
    s[at] = '\xff';
    EXPECT_FALSE(IsValidUtf8(s)) << at;
  }
}

}  // namespace
}  // namespace livehub::ws
