#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "fanout/sse_session.h"

namespace livehub {
namespace {

TEST(ParseSseCursorTest, EmptyTextIsAnEmptyMap) {
  auto m = ParseSseCursor("");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->empty());
}

TEST(ParseSseCursorTest, ReadsOneEntryPerStream) {
  auto m = ParseSseCursor("a/b@e1:5,c@e2:0");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->size(), 2u);
  ASSERT_EQ(m->count("a/b"), 1u);
  EXPECT_EQ(m->at("a/b").epoch, "e1");
  EXPECT_EQ(m->at("a/b").seq, 5u);
  ASSERT_EQ(m->count("c"), 1u);
  EXPECT_EQ(m->at("c").epoch, "e2");
  EXPECT_EQ(m->at("c").seq, 0u);
}

TEST(ParseSseCursorTest, ReadsSystemStreamsAndLargeSeqs) {
  auto m = ParseSseCursor("$sys/events@x7k2:18446744073709551615");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->count("$sys/events"), 1u);
  EXPECT_EQ(m->at("$sys/events").epoch, "x7k2");
  EXPECT_EQ(m->at("$sys/events").seq, UINT64_MAX);
}

TEST(ParseSseCursorTest, ToleratesATrailingComma) {
  auto m = ParseSseCursor("a@e:1,");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->size(), 1u);
}

TEST(ParseSseCursorTest, RejectsMalformedEntriesAsBadCursor) {
  for (std::string_view bad : {"a", "a@e", "a@e:x", "@e:1", "a@:1", "a@e:", "a:1@e", "a@e:1x",
                               "a@e:-1", "a@e:+1", "a@e: 1", ",a@e:1", "a@e:1,,b@e:2", "a@e:1,b"}) {
    auto m = ParseSseCursor(bad);
    ASSERT_FALSE(m.ok()) << "accepted '" << bad << "'";
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(m.status().reason(), "bad_cursor") << bad;
  }
}

TEST(ParseSseCursorTest, RejectsASeqThatOverflows64Bits) {
  // One more than UINT64_MAX: must not be read as some other seq (e.g. 0,
  // which would silently replay the whole history).
  auto m = ParseSseCursor("a@e:18446744073709551616");
  ASSERT_FALSE(m.ok()) << "read as seq " << m->at("a").seq;
  EXPECT_EQ(m.status().reason(), "bad_cursor");
}

TEST(ParseSseCursorTest, ErrorNamesTheBadEntry) {
  auto m = ParseSseCursor("good@e:1,broken-entry");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("'broken-entry'"), std::string::npos) << m.status().message();
}

TEST(ParseMaxHzTest, AcceptsPositiveRatesUpToTheLimit) {
  EXPECT_DOUBLE_EQ(*ParseMaxHz("10"), 10.0);
  EXPECT_DOUBLE_EQ(*ParseMaxHz("0.5"), 0.5);
  EXPECT_DOUBLE_EQ(*ParseMaxHz("1000"), kMaxHz);
}

TEST(ParseMaxHzTest, RejectsZeroNegativeTooLargeAndText) {
  for (std::string_view bad : {"0", "-1", "1000.5", "1e9", "fast", "", "10hz", "nan", "inf"}) {
    auto hz = ParseMaxHz(bad);
    ASSERT_FALSE(hz.ok()) << "'" << bad << "' read as " << *hz;
    EXPECT_EQ(hz.status().reason(), "bad_request");
    EXPECT_NE(hz.status().message().find("max_hz"), std::string::npos) << hz.status().message();
  }
}

}  // namespace
}  // namespace livehub
