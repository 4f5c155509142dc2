// SseParser: the text/event-stream rules, fed whole and in pieces.
#include "source/sse_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace livehub {
namespace {

std::vector<SseEvent> Parse(SseParser& p, std::string_view text) {
  std::vector<SseEvent> out;
  p.Feed(text, [&](SseEvent& e) { out.push_back(e); });
  return out;
}

std::vector<SseEvent> ParseByteByByte(SseParser& p, std::string_view text) {
  std::vector<SseEvent> out;
  for (char c : text) p.Feed(std::string_view(&c, 1), [&](SseEvent& e) { out.push_back(e); });
  return out;
}

TEST(SseParserTest, DispatchesOnBlankLineWithDefaultType) {
  SseParser p;
  auto ev = Parse(p, "data: hello\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, "message");
  EXPECT_EQ(ev[0].data, "hello");
  EXPECT_EQ(ev[0].id, "");
}

TEST(SseParserTest, NoDispatchWithoutBlankLine) {
  SseParser p;
  EXPECT_TRUE(Parse(p, "data: hello\n").empty());
  EXPECT_EQ(Parse(p, "\n").size(), 1u);
}

TEST(SseParserTest, AcceptsCrLfCrAndLfLineEndings) {
  for (const char* text : {"event: a\r\ndata: x\r\n\r\n", "event: a\rdata: x\r\r",
                           "event: a\ndata: x\n\n", "event: a\r\ndata: x\r\r\n"}) {
    SseParser p;
    auto ev = Parse(p, text);
    ASSERT_EQ(ev.size(), 1u) << text;
    EXPECT_EQ(ev[0].type, "a");
    EXPECT_EQ(ev[0].data, "x");
  }
}

TEST(SseParserTest, CrLfSplitAcrossChunksIsOneLineEnd) {
  SseParser p;
  std::vector<SseEvent> ev;
  auto cb = [&](SseEvent& e) { ev.push_back(e); };
  p.Feed("data: a\r", cb);
  p.Feed("\ndata: b\r", cb);
  p.Feed("\n\r", cb);
  p.Feed("\n", cb);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "a\nb");
}

TEST(SseParserTest, JoinsMultiLineDataWithNewlines) {
  SseParser p;
  auto ev = Parse(p, "data: one\ndata:two\ndata\ndata:  four\n\n");
  ASSERT_EQ(ev.size(), 1u);
  // "data" without a colon appends an empty line; only one space is removed.
  EXPECT_EQ(ev[0].data, "one\ntwo\n\n four");
}

TEST(SseParserTest, IgnoresCommentsAndUnknownFields) {
  SseParser p;
  auto ev = Parse(p, ": keep-alive\nfoo: bar\ndata: x\n:another\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "x");
  EXPECT_EQ(p.comments(), 2u);
}

TEST(SseParserTest, FieldWithoutColonIsANameWithEmptyValue) {
  SseParser p;
  auto ev = Parse(p, "event\ndata\n\n");
  // data with an empty value makes an event with empty data; "event" with
  // an empty value leaves the default type.
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "");
  EXPECT_EQ(ev[0].type, "message");
}

TEST(SseParserTest, BlankLineWithoutDataDispatchesNothingAndResetsType) {
  SseParser p;
  EXPECT_TRUE(Parse(p, "event: a\n\n").empty());
  auto ev = Parse(p, "data: x\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, "message");
}

TEST(SseParserTest, KeepsLastEventIdAcrossEventsAndIgnoresIdWithNul) {
  SseParser p;
  auto ev = Parse(p, "id: 7\ndata: a\n\ndata: b\n\n");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].id, "7");
  EXPECT_EQ(ev[1].id, "7");
  ev = Parse(p, std::string_view("id: 8\0x\ndata: c\n\n", 17));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].id, "7");
  EXPECT_EQ(p.last_event_id(), "7");
  ev = Parse(p, "id\ndata: d\n\n");  // an empty id resets it
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].id, "");
}

TEST(SseParserTest, ParsesRetryOnlyWhenAllDigits) {
  SseParser p;
  Parse(p, "retry: 1500\n\n");
  ASSERT_TRUE(p.retry_ms().has_value());
  EXPECT_EQ(*p.retry_ms(), 1500);
  Parse(p, "retry: 12x\nretry: -5\nretry:\n\n");
  EXPECT_EQ(*p.retry_ms(), 1500);
  Parse(p, "retry:300\n\n");
  EXPECT_EQ(*p.retry_ms(), 300);
}

TEST(SseParserTest, SkipsBomAtStartOnlyEvenWhenSplit) {
  SseParser p;
  std::vector<SseEvent> ev;
  auto cb = [&](SseEvent& e) { ev.push_back(e); };
  p.Feed("\xEF", cb);
  p.Feed("\xBB", cb);
  p.Feed(
      "\xBF"
      "data: x\n\n",
      cb);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "x");
  // A BOM later on is data, not skipped.
  auto later = Parse(p, "data: \xEF\xBB\xBFy\n\n");
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].data, "\xEF\xBB\xBFy");
}

TEST(SseParserTest, TextThatStartsLikeABomIsKept) {
  SseParser p;
  auto ev = Parse(p,
                  "\xEF"
                  "data: x\n\ndata: y\n\n");
  // "\xEF" "data" is an unknown field name: only the second event remains.
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "y");
}

TEST(SseParserTest, ByteByByteGivesTheSameEventsAsWhole) {
  const std::string text =
      "\xEF\xBB\xBF: hello\r\nretry: 250\r\nid: 1\r\nevent: m1\r\ndata: {\"a\":1}\r\n\r\n"
      "id: 2\rdata: line1\rdata: line2\r\r"
      "id: 3\nevent: m2\ndata\n\n"
      "data: tail\n\n";
  SseParser whole, bytes;
  auto a = Parse(whole, text);
  auto b = ParseByteByByte(bytes, text);
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].type, b[i].type) << i;
    EXPECT_EQ(a[i].data, b[i].data) << i;
    EXPECT_EQ(a[i].id, b[i].id) << i;
  }
  EXPECT_EQ(a[0].type, "m1");
  EXPECT_EQ(a[0].data, "{\"a\":1}");
  EXPECT_EQ(a[1].data, "line1\nline2");
  EXPECT_EQ(a[1].id, "2");
  EXPECT_EQ(a[2].type, "m2");
  EXPECT_EQ(a[3].id, "3");
  EXPECT_EQ(*bytes.retry_ms(), 250);
  EXPECT_EQ(bytes.last_event_id(), "3");
}

TEST(SseParserTest, ReportsOversizeEventsWithoutBufferingThem) {
  SseParser p(100);
  std::string big = "data: " + std::string(1000, 'x') + "\n\ndata: ok\n\n";
  auto ev = ParseByteByByte(p, big);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(ev[0].oversize);
  EXPECT_EQ(ev[0].data, "");
  EXPECT_FALSE(ev[1].oversize);
  EXPECT_EQ(ev[1].data, "ok");
  // Many small data lines adding up past the limit are oversize too.
  std::string many;
  for (int i = 0; i < 50; ++i) many += "data: 0123456789\n";
  ev = Parse(p, many + "\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(ev[0].oversize);
}

TEST(SseParserTest, ResetDropsPartialEventButKeepsLastId) {
  SseParser p;
  Parse(p, "id: 5\ndata: a\n\ndata: partial\n");
  p.Reset();
  auto ev = Parse(p,
                  "\xEF\xBB\xBF"
                  "data: b\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "b");
  EXPECT_EQ(ev[0].id, "5");
}

}  // namespace
}  // namespace livehub
