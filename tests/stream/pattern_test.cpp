#include "stream/pattern.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

namespace livehub {
namespace {

// Parses a pattern the test knows to be valid.
Pattern P(std::string_view text) {
  auto p = Pattern::Parse(text);
  EXPECT_TRUE(p.ok()) << text << ": " << p.status().ToString();
  return p.ok() ? p.value() : Pattern();
}

// ---------------------------------------------------------------------------
// ValidateStreamName
// ---------------------------------------------------------------------------

TEST(ValidateStreamNameTest, AcceptsSegmentsOfAllowedCharactersJoinedBySlash) {
  EXPECT_TRUE(ValidateStreamName("a").ok());
  EXPECT_TRUE(ValidateStreamName("demo/sensors/temp-1").ok());
  EXPECT_TRUE(ValidateStreamName("Market/EUR_USD/v1.2").ok());
  EXPECT_TRUE(ValidateStreamName("0/9/Z/z/./_/-").ok());
}

TEST(ValidateStreamNameTest, AcceptsExactlyTheMaximumLength) {
  EXPECT_TRUE(ValidateStreamName(std::string(kMaxStreamNameBytes, 'x')).ok());
}

TEST(ValidateStreamNameTest, RejectsEmptyName) {
  Status st = ValidateStreamName("");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.reason(), "bad_stream_name");
}

TEST(ValidateStreamNameTest, RejectsNameOneByteOverTheLimitAndSaysSo) {
  Status st = ValidateStreamName(std::string(kMaxStreamNameBytes + 1, 'x'));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.reason(), "bad_stream_name");
  EXPECT_NE(st.message().find("201"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("200"), std::string::npos) << st.message();
}

TEST(ValidateStreamNameTest, RejectsEmptySegment) {
  EXPECT_EQ(ValidateStreamName("a//b").reason(), "bad_stream_name");
  EXPECT_EQ(ValidateStreamName("/a").reason(), "bad_stream_name");
}

TEST(ValidateStreamNameTest, RejectsTrailingSlash) {
  EXPECT_EQ(ValidateStreamName("a/").reason(), "bad_stream_name");
  EXPECT_EQ(ValidateStreamName("/").reason(), "bad_stream_name");
}

TEST(ValidateStreamNameTest, RejectsInvalidCharactersNamingTheOffset) {
  Status space = ValidateStreamName("a b");
  EXPECT_EQ(space.reason(), "bad_stream_name");
  EXPECT_NE(space.message().find("offset 1"), std::string::npos) << space.message();

  Status dollar = ValidateStreamName("ab$");
  EXPECT_EQ(dollar.reason(), "bad_stream_name");
  EXPECT_NE(dollar.message().find("'$'"), std::string::npos) << dollar.message();
  EXPECT_NE(dollar.message().find("offset 2"), std::string::npos) << dollar.message();

  EXPECT_FALSE(ValidateStreamName("a*").ok());
  EXPECT_FALSE(ValidateStreamName("a:b").ok());
  EXPECT_FALSE(ValidateStreamName("a\nb").ok());
  EXPECT_FALSE(ValidateStreamName("caf\xc3\xa9").ok());
}

TEST(ValidateStreamNameTest, ShowsANonPrintableByteInHex) {
  Status newline = ValidateStreamName("a\nb");
  EXPECT_NE(newline.message().find("'\\x0a'"), std::string::npos) << newline.message();
  Status utf8 = ValidateStreamName("caf\xc3\xa9");
  EXPECT_NE(utf8.message().find("'\\xc3'"), std::string::npos) << utf8.message();
}

TEST(ValidateStreamNameTest, RejectsSystemStreamsUnlessAllowed) {
  EXPECT_FALSE(ValidateStreamName("$sys/events").ok());
  EXPECT_TRUE(ValidateStreamName("$sys/events", /*allow_system=*/true).ok());
  EXPECT_TRUE(ValidateStreamName("$sys/a/b", /*allow_system=*/true).ok());
}

TEST(ValidateStreamNameTest, SystemStreamsStillNeedAValidRest) {
  EXPECT_FALSE(ValidateStreamName("$sys/", /*allow_system=*/true).ok());
  EXPECT_FALSE(ValidateStreamName("$sys//a", /*allow_system=*/true).ok());
  EXPECT_FALSE(ValidateStreamName("$sys/a/", /*allow_system=*/true).ok());
  EXPECT_FALSE(ValidateStreamName("$sys/a b", /*allow_system=*/true).ok());
  EXPECT_FALSE(ValidateStreamName("$sys", /*allow_system=*/true).ok());
  EXPECT_FALSE(ValidateStreamName("$other/a", /*allow_system=*/true).ok());
}

TEST(ValidateStreamNameTest, SystemNamesCountThePrefixTowardsTheLimit) {
  std::string rest(kMaxStreamNameBytes - kSysPrefix.size(), 'x');
  EXPECT_TRUE(ValidateStreamName(std::string(kSysPrefix) + rest, true).ok());
  EXPECT_FALSE(ValidateStreamName(std::string(kSysPrefix) + rest + "x", true).ok());
}

// ---------------------------------------------------------------------------
// Pattern::Parse
// ---------------------------------------------------------------------------

TEST(PatternParseTest, KeepsTheTextAndKnowsWhetherItIsExact) {
  Pattern exact = P("a/b");
  EXPECT_EQ(exact.text(), "a/b");
  EXPECT_TRUE(exact.exact());
  EXPECT_FALSE(P("a/*").exact());
  EXPECT_FALSE(P("a/**").exact());
  EXPECT_FALSE(P("a/E13-*").exact());
  EXPECT_TRUE(P("$sys/events").exact());
}

TEST(PatternParseTest, RejectsEmptyPattern) {
  auto p = Pattern::Parse("");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p.status().reason(), "bad_pattern");
}

TEST(PatternParseTest, RejectsPatternOverTheLengthLimit) {
  EXPECT_TRUE(Pattern::Parse(std::string(kMaxStreamNameBytes, 'a')).ok());
  auto p = Pattern::Parse(std::string(kMaxStreamNameBytes + 1, 'a'));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().reason(), "bad_pattern");
}

TEST(PatternParseTest, RejectsEmptySegments) {
  for (std::string_view text : {"a//b", "/a", "a/", "/", "a/**/"}) {
    auto p = Pattern::Parse(text);
    ASSERT_FALSE(p.ok()) << text;
    EXPECT_EQ(p.status().reason(), "bad_pattern") << text;
  }
}

TEST(PatternParseTest, RejectsInvalidCharacters) {
  for (std::string_view text : {"a b", "a/$x", "a?", "a/[b]", "$sys"}) {
    auto p = Pattern::Parse(text);
    ASSERT_FALSE(p.ok()) << text;
    EXPECT_EQ(p.status().reason(), "bad_pattern") << text;
  }
}

TEST(PatternParseTest, RejectsDoubleStarInsideASegment) {
  for (std::string_view text : {"a/x**", "a/**x", "a/***", "x**y"}) {
    auto p = Pattern::Parse(text);
    ASSERT_FALSE(p.ok()) << text;
    EXPECT_EQ(p.status().reason(), "bad_pattern") << text;
  }
}

// ---------------------------------------------------------------------------
// Pattern::Matches
// ---------------------------------------------------------------------------

TEST(PatternMatchTest, ExactPatternMatchesOnlyThatStream) {
  Pattern p = P("a/b");
  EXPECT_TRUE(p.Matches("a/b"));
  EXPECT_FALSE(p.Matches("a"));
  EXPECT_FALSE(p.Matches("a/b/c"));
  EXPECT_FALSE(p.Matches("a/bc"));
  EXPECT_FALSE(p.Matches("A/b"));
}

TEST(PatternMatchTest, StarMatchesExactlyOneSegment) {
  Pattern p = P("a/*");
  EXPECT_TRUE(p.Matches("a/b"));
  EXPECT_TRUE(p.Matches("a/anything-at.all_1"));
  EXPECT_FALSE(p.Matches("a"));
  EXPECT_FALSE(p.Matches("a/b/c"));
  EXPECT_FALSE(p.Matches("b/c"));
}

TEST(PatternMatchTest, StarInTheMiddleMatchesOneSegment) {
  Pattern p = P("a/*/c");
  EXPECT_TRUE(p.Matches("a/b/c"));
  EXPECT_TRUE(p.Matches("a/x/c"));
  EXPECT_FALSE(p.Matches("a/c"));
  EXPECT_FALSE(p.Matches("a/b/b/c"));
  EXPECT_FALSE(p.Matches("a/b/d"));
}

TEST(PatternMatchTest, StarInsideASegmentIsAGlob) {
  Pattern p = P("trains/E13-*");
  EXPECT_TRUE(p.Matches("trains/E13-"));
  EXPECT_TRUE(p.Matches("trains/E13-42"));
  EXPECT_TRUE(p.Matches("trains/E13-north.1"));
  EXPECT_FALSE(p.Matches("trains/E14-42"));
  EXPECT_FALSE(p.Matches("trains/xE13-42"));
  EXPECT_FALSE(p.Matches("trains/E13-42/x"));  // a glob never crosses '/'

  Pattern mid = P("x/a*b*c");
  EXPECT_TRUE(mid.Matches("x/abc"));
  EXPECT_TRUE(mid.Matches("x/a-b-c"));
  EXPECT_TRUE(mid.Matches("x/abbbcbc"));
  EXPECT_FALSE(mid.Matches("x/abcd"));
  EXPECT_FALSE(mid.Matches("x/acb"));
}

TEST(PatternMatchTest, TrailingDoubleStarMatchesZeroOrMoreSegments) {
  Pattern p = P("a/**");
  EXPECT_TRUE(p.Matches("a"));
  EXPECT_TRUE(p.Matches("a/b"));
  EXPECT_TRUE(p.Matches("a/b/c/d"));
  EXPECT_FALSE(p.Matches("b"));
  EXPECT_FALSE(p.Matches("ab/c"));
}

TEST(PatternMatchTest, DoubleStarInTheMiddleMatchesZeroOrMoreSegments) {
  Pattern p = P("a/**/z");
  EXPECT_TRUE(p.Matches("a/z"));
  EXPECT_TRUE(p.Matches("a/b/z"));
  EXPECT_TRUE(p.Matches("a/b/c/d/z"));
  EXPECT_TRUE(p.Matches("a/z/z"));
  EXPECT_FALSE(p.Matches("a"));
  EXPECT_FALSE(p.Matches("a/b"));
  EXPECT_FALSE(p.Matches("a/z/b"));
  EXPECT_FALSE(p.Matches("b/z"));
}

TEST(PatternMatchTest, LeadingDoubleStarMatchesAnyPrefix) {
  Pattern p = P("**/temp");
  EXPECT_TRUE(p.Matches("temp"));
  EXPECT_TRUE(p.Matches("a/temp"));
  EXPECT_TRUE(p.Matches("a/b/temp"));
  EXPECT_FALSE(p.Matches("a/temp/x"));
}

TEST(PatternMatchTest, DoubleStarAloneMatchesEveryDataStream) {
  Pattern p = P("**");
  EXPECT_TRUE(p.Matches("a"));
  EXPECT_TRUE(p.Matches("a/b/c"));
}

TEST(PatternMatchTest, DoubleStarCombinesWithGlobSegments) {
  Pattern p = P("demo/**/E13-*");
  EXPECT_TRUE(p.Matches("demo/E13-1"));
  EXPECT_TRUE(p.Matches("demo/x/y/E13-2"));
  EXPECT_FALSE(p.Matches("demo/x/E14-2"));
}

TEST(PatternMatchTest, WildcardsNeverMatchSystemStreams) {
  EXPECT_FALSE(P("**").Matches("$sys/events"));
  EXPECT_FALSE(P("*/events").Matches("$sys/events"));
  EXPECT_FALSE(P("**/events").Matches("$sys/events"));
}

TEST(PatternMatchTest, SystemStreamsAreMatchedByPatternsStartingWithSys) {
  EXPECT_TRUE(P("$sys/**").Matches("$sys/events"));
  EXPECT_TRUE(P("$sys/**").Matches("$sys/a/b"));
  EXPECT_TRUE(P("$sys/*").Matches("$sys/events"));
  EXPECT_FALSE(P("$sys/*").Matches("$sys/a/b"));
  EXPECT_TRUE(P("$sys/ev*").Matches("$sys/events"));
  EXPECT_TRUE(P("$sys/events").Matches("$sys/events"));
}

TEST(PatternMatchTest, SystemPatternsNeverMatchDataStreams) {
  EXPECT_FALSE(P("$sys/**").Matches("events"));
  EXPECT_FALSE(P("$sys/**").Matches("sys/events"));
  EXPECT_FALSE(P("$sys/*").Matches("a"));
}

TEST(GlobSegmentMatchesTest, MatchesRunsOfAnyCharacters) {
  EXPECT_TRUE(GlobSegmentMatches("*", ""));
  EXPECT_TRUE(GlobSegmentMatches("*", "abc"));
  EXPECT_TRUE(GlobSegmentMatches("a*", "a"));
  EXPECT_TRUE(GlobSegmentMatches("*c", "abc"));
  EXPECT_TRUE(GlobSegmentMatches("a*c", "abxc"));
  EXPECT_TRUE(GlobSegmentMatches("abc", "abc"));
  EXPECT_FALSE(GlobSegmentMatches("abc", "abd"));
  EXPECT_FALSE(GlobSegmentMatches("a*c", "abcd"));
  EXPECT_FALSE(GlobSegmentMatches("", "a"));
}

}  // namespace
}  // namespace livehub

namespace livehub {
namespace {

// Regression (pattern_fuzz): a backtracking matcher took exponential time
// in the number of `**` segments.
TEST(PatternTest, ManyDoubleStarsMatchInPolynomialTime) {
  std::string pat, name;
  for (int i = 0; i < 30; ++i) pat += "**/a/";
  pat += "b";
  for (int i = 0; i < 90; ++i) name += "a/";
  name += "c";
  auto p = Pattern::Parse(pat);
  ASSERT_TRUE(p.ok());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(p->Matches(name));
  EXPECT_TRUE(p->Matches(name.substr(0, name.size() - 1) + "b"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_TRUE(Pattern::Parse("a/**/**/b")->Matches("a/b"));
  EXPECT_TRUE(Pattern::Parse("a/**/b/**")->Matches("a/x/y/b"));
  EXPECT_FALSE(Pattern::Parse("a/**/b/*")->Matches("a/x/y/b"));
}

}  // namespace
}  // namespace livehub
