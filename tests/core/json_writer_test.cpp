#include "core/json_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

namespace livehub {
namespace {

std::string Quote(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

std::string DoubleText(double v) {
  std::string out;
  JsonWriter(&out).Double(v);
  return out;
}

TEST(AppendJsonStringTest, QuotesPlainText) {
  EXPECT_EQ(Quote(""), R"("")");
  EXPECT_EQ(Quote("hello world"), R"("hello world")");
}

TEST(AppendJsonStringTest, AppendsToWhatIsAlreadyThere) {
  std::string out = "x=";
  AppendJsonString(&out, "y");
  EXPECT_EQ(out, R"(x="y")");
}

TEST(AppendJsonStringTest, EscapesQuotesAndBackslashes) {
  EXPECT_EQ(Quote(R"(say "hi")"), R"("say \"hi\"")");
  EXPECT_EQ(Quote(R"(C:\dir\)"), R"("C:\\dir\\")");
  EXPECT_EQ(Quote(R"(\")"), R"("\\\"")");
}

TEST(AppendJsonStringTest, EscapesCommonControlCharactersShortly) {
  EXPECT_EQ(Quote("a\nb\rc\td"), R"("a\nb\rc\td")");
}

TEST(AppendJsonStringTest, PassesValidUtf8AndReplacesEachInvalidByte) {
  std::string out;
  AppendJsonString(&out, "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x9A\x8C");  // é € 🚌
  EXPECT_EQ(out, "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x9A\x8C\"");
  out.clear();
  // A lone continuation byte, a truncated sequence, an overlong '/', a
  // surrogate and a code point past U+10FFFF: each invalid byte is U+FFFD.
  AppendJsonString(&out,
                   "a\x80"
                   "b\xE2\x82\xC0\xAF\xED\xA0\x80\xF4\x90\x80\x80");
  EXPECT_EQ(
      out,
      "\"a\\ufffdb\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

TEST(AppendJsonStringTest, EscapesOtherControlCharactersAsUnicode) {
  EXPECT_EQ(Quote("\x01"), R"("\u0001")");
  EXPECT_EQ(Quote("a\x1f"
                  "b"),
            R"("a\u001fb")");
  EXPECT_EQ(Quote("\b\f"), R"("\u0008\u000c")");
  EXPECT_EQ(Quote(std::string_view("x\0y", 3)), R"("x\u0000y")");
}

TEST(AppendJsonStringTest, PassesDelAndUtf8Through) {
  EXPECT_EQ(Quote("\x7f"), "\"\x7f\"");
  EXPECT_EQ(Quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST(AppendJsonStringTest, EscapesInsideLongRunsOfPlainText) {
  const std::string plain(100, 'p');
  EXPECT_EQ(Quote(plain + "\"" + plain + "\x02" + plain),
            "\"" + plain + "\\\"" + plain + "\\u0002" + plain + "\"");
}

TEST(AppendJsonIntTest, WritesTheWholeRangeInDecimal) {
  std::string out = "x";
  AppendJsonInt(&out, 0);
  out += ' ';
  AppendJsonInt(&out, std::numeric_limits<int64_t>::min());
  out += ' ';
  AppendJsonInt(&out, std::numeric_limits<int64_t>::max());
  out += ' ';
  AppendJsonUint(&out, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(out, "x0 -9223372036854775808 9223372036854775807 18446744073709551615");
  std::string w;
  JsonWriter(&w).BeginArray().Int(-42).Uint(42).EndArray();
  EXPECT_EQ(w, "[-42,42]");
}

TEST(JsonWriterTest, WritesAnEmptyObjectAndArray) {
  std::string out;
  JsonWriter(&out).BeginObject().EndObject();
  EXPECT_EQ(out, "{}");
  out.clear();
  JsonWriter(&out).BeginArray().EndArray();
  EXPECT_EQ(out, "[]");
}

TEST(JsonWriterTest, PutsCommasBetweenMembersOnly) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Field("a", 1).Field("b", "x").Field("c", true).Key("d").Null().EndObject();
  EXPECT_EQ(out, R"({"a":1,"b":"x","c":true,"d":null})");
}

TEST(JsonWriterTest, PutsCommasBetweenArrayElementsOnly) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray().Int(-1).Uint(2).String("s").Bool(false).Null().Raw("{\"r\":1}").EndArray();
  EXPECT_EQ(out, R"([-1,2,"s",false,null,{"r":1}])");
}

TEST(JsonWriterTest, NestsObjectsAndArrays) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("o")
      .BeginObject()
      .Field("x", 1)
      .Key("e")
      .BeginObject()
      .EndObject()
      .EndObject()
      .Key("a")
      .BeginArray()
      .BeginObject()
      .Field("y", 2)
      .EndObject()
      .BeginArray()
      .EndArray()
      .BeginArray()
      .Int(3)
      .Int(4)
      .EndArray()
      .EndArray()
      .Field("z", "last")
      .EndObject();
  EXPECT_EQ(out, R"({"o":{"x":1,"e":{}},"a":[{"y":2},[],[3,4]],"z":"last"})");
}

TEST(JsonWriterTest, FieldOverloadsWriteTheRightTypes) {
  std::string out;
  JsonWriter w(&out);
  const std::string str = "s";
  w.BeginObject()
      .Field("sv", std::string_view("v"))
      .Field("str", str)
      .Field("i64", int64_t{-9'000'000'000})
      .Field("u64", std::numeric_limits<uint64_t>::max())
      .Field("int", -3)
      .Field("bool", false)
      .Field("dbl", 0.5)
      .EndObject();
  EXPECT_EQ(out, R"({"sv":"v","str":"s","i64":-9000000000,"u64":18446744073709551615,"int":-3,)"
                 R"("bool":false,"dbl":0.5})");
}

TEST(JsonWriterTest, EscapesKeysAndValues) {
  std::string out;
  JsonWriter(&out).BeginObject().Field("k\"1", "v\\\n").EndObject();
  EXPECT_EQ(out, R"({"k\"1":"v\\\n"})");
}

TEST(JsonWriterTest, RawInsertsVerbatimAfterAKey) {
  std::string out;
  JsonWriter(&out).BeginObject().Field("a", 1).Key("data").Raw("[1, 2]").EndObject();
  EXPECT_EQ(out, R"({"a":1,"data":[1, 2]})");
}

TEST(JsonWriterTest, AppendsAfterExistingTextWithoutALeadingComma) {
  std::string out = "prefix ";
  JsonWriter(&out).BeginObject().Field("a", 1).EndObject();
  EXPECT_EQ(out, R"(prefix {"a":1})");
}

TEST(JsonWriterTest, IntegerExtremes) {
  std::string out;
  JsonWriter(&out)
      .BeginArray()
      .Int(std::numeric_limits<int64_t>::min())
      .Int(std::numeric_limits<int64_t>::max())
      .Uint(0)
      .EndArray();
  EXPECT_EQ(out, "[-9223372036854775808,9223372036854775807,0]");
}

TEST(JsonWriterTest, DoubleUsesTheShortestTextThatRoundTrips) {
  EXPECT_EQ(DoubleText(0.1), "0.1");
  EXPECT_EQ(DoubleText(1.5), "1.5");
  EXPECT_EQ(DoubleText(-2.25), "-2.25");
  EXPECT_EQ(DoubleText(0.0), "0");
  EXPECT_EQ(DoubleText(42.0), "42");
  EXPECT_EQ(DoubleText(1e300), "1e+300");
  EXPECT_EQ(DoubleText(1.0 / 3.0), "0.3333333333333333");   // needs 16 digits
  EXPECT_EQ(DoubleText(0.1 + 0.2), "0.30000000000000004");  // needs all 17
}

TEST(JsonWriterTest, DoubleChoosesTheShortestTextNotTheFewestDigits) {
  // "1e+02" round-trips with one significant digit, but "100" is shorter.
  EXPECT_EQ(DoubleText(100.0), "100");
  EXPECT_EQ(DoubleText(120.0), "120");
  EXPECT_EQ(DoubleText(-3000.0), "-3000");
  EXPECT_EQ(DoubleText(1e6), "1e+06");  // here the exponent form is the shorter
}

TEST(JsonWriterTest, DoubleRoundTripsExactly) {
  for (double v : {0.1, 1.0 / 3.0, 2.0 / 3.0, 123456.789, 1e-300, 5e-324, 1.7976931348623157e308,
                   -0.000123, 3.141592653589793, 299792458.0, 0.1 + 0.2}) {
    const std::string text = DoubleText(v);
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), v) << text;
    EXPECT_LE(text.size(), 24u) << text;
  }
}

TEST(JsonWriterTest, NonFiniteDoublesBecomeNull) {
  EXPECT_EQ(DoubleText(std::nan("")), "null");
  EXPECT_EQ(DoubleText(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(DoubleText(-std::numeric_limits<double>::infinity()), "null");

  std::string out;
  JsonWriter(&out).BeginArray().Double(1).Double(std::nan("")).Double(2).EndArray();
  EXPECT_EQ(out, "[1,null,2]");
}

}  // namespace
}  // namespace livehub
