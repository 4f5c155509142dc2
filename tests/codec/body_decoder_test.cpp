#include "codec/body_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace livehub {
namespace {

using Events = std::vector<std::string>;

Events Decode(BodyFormat format, std::string_view body, const DecodeLimits& limits = {}) {
  Events out;
  Status s = DecodeBody(format, body, limits, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

Status DecodeError(BodyFormat format, std::string_view body, const DecodeLimits& limits = {}) {
  Events out = {"left over from an earlier call"};
  Status s = DecodeBody(format, body, limits, &out);
  EXPECT_FALSE(s.ok()) << "decoded to " << out.size() << " events";
  EXPECT_TRUE(out.empty()) << "an error must not leave a partial batch";
  return s;
}

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// ---------------------------------------------------------------------------
// FormatFromContentType
// ---------------------------------------------------------------------------

TEST(FormatFromContentTypeTest, JsonTypesAndMissingTypeMeanJson) {
  for (std::string_view type : {"application/json", "", "  ", "Application/JSON; charset=utf-8",
                                " application/json ;charset=UTF-8"}) {
    Result<BodyFormat> r = FormatFromContentType(type);
    ASSERT_TRUE(r.ok()) << type;
    EXPECT_EQ(*r, BodyFormat::kJson) << type;
  }
}

TEST(FormatFromContentTypeTest, NdjsonAliasesMeanNdjson) {
  for (std::string_view type : {"application/x-ndjson", "application/ndjson", "application/jsonl",
                                "APPLICATION/X-NDJSON; charset=utf-8"}) {
    Result<BodyFormat> r = FormatFromContentType(type);
    ASSERT_TRUE(r.ok()) << type;
    EXPECT_EQ(*r, BodyFormat::kNdjson) << type;
  }
}

TEST(FormatFromContentTypeTest, TextCsvWithParametersMeansCsv) {
  Result<BodyFormat> r = FormatFromContentType("Text/CSV; charset=utf-8; header=present");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, BodyFormat::kCsv);
}

TEST(FormatFromContentTypeTest, UnknownTypeIsUnsupportedAndNamed) {
  for (std::string_view type :
       {"text/plain", "application/xml", "application/json5", "multipart/form-data; boundary=x"}) {
    Result<BodyFormat> r = FormatFromContentType(type);
    ASSERT_FALSE(r.ok()) << type;
    EXPECT_EQ(r.status().reason(), "unsupported_media_type");
    EXPECT_EQ(HttpStatusFor(r.status()), 415);  // the one table: what the reply says
    EXPECT_NE(r.status().message().find(std::string(type.substr(0, 8))), std::string::npos)
        << r.status().message();
  }
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

TEST(BodyDecoderTest, JsonObjectBecomesOneCompactEvent) {
  EXPECT_EQ(Decode(BodyFormat::kJson, " {\n  \"a\" : 1,\r\n\t\"b\": [ true , null ]\n}\n"),
            Events({R"({"a":1,"b":[true,null]})"}));
}

TEST(BodyDecoderTest, JsonScalarBodyIsOneEvent) {
  EXPECT_EQ(Decode(BodyFormat::kJson, " 42 "), Events({"42"}));
  EXPECT_EQ(Decode(BodyFormat::kJson, R"("hi")"), Events({R"("hi")"}));
}

TEST(BodyDecoderTest, JsonArrayBecomesOneEventPerElement) {
  const char* body = R"([ 1, "a,b]", {"k": [1, {"x": "}\""}]}, [ ], "\\" ])";
  EXPECT_EQ(Decode(BodyFormat::kJson, body),
            Events({"1", R"("a,b]")", R"({"k":[1,{"x":"}\""}]})", "[]", R"("\\")"}));
}

TEST(BodyDecoderTest, JsonKeepsNumberSpellingEscapesAndUnicode) {
  EXPECT_EQ(
      Decode(BodyFormat::kJson, "[1.0e+5, -0, 1E2, \"caf\xC3\xA9 \\u00e9 \xF0\x9F\x9A\x80\"]"),
      Events({"1.0e+5", "-0", "1E2", "\"caf\xC3\xA9 \\u00e9 \xF0\x9F\x9A\x80\""}));
}

TEST(BodyDecoderTest, LeadingByteOrderMarkIsIgnored) {
  EXPECT_EQ(Decode(BodyFormat::kJson, "\xEF\xBB\xBF{\"a\":1}"), Events({R"({"a":1})"}));
}

TEST(BodyDecoderTest, EmptyJsonArrayIsAnEmptyBatch) {
  EXPECT_EQ(DecodeError(BodyFormat::kJson, " [ \n ] ").reason(), "empty_batch");
}

TEST(BodyDecoderTest, EmptyOrBlankJsonBodyIsAnEmptyBatch) {
  EXPECT_EQ(DecodeError(BodyFormat::kJson, "").reason(), "empty_batch");
  EXPECT_EQ(DecodeError(BodyFormat::kJson, " \r\n\t").reason(), "empty_batch");
}

TEST(BodyDecoderTest, InvalidJsonNamesTheLineOfTheError) {
  Status s = DecodeError(BodyFormat::kJson, "[\n  1,\n  2\n  3\n]");  // missing ','
  EXPECT_EQ(s.reason(), "bad_json");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.line(), 4);
  EXPECT_TRUE(StartsWith(s.message(), "line 4: invalid JSON (TAPE_ERROR: ")) << s.message();
}

TEST(BodyDecoderTest, InvalidScalarInsideJsonNamesItsLine) {
  Status s = DecodeError(BodyFormat::kJson, "[\n1,\n\"bad \\q escape\",\n2\n]");
  EXPECT_EQ(s.line(), 3) << s.message();
  EXPECT_TRUE(StartsWith(s.message(), "line 3: invalid JSON (STRING_ERROR")) << s.message();

  s = DecodeError(BodyFormat::kJson, "{\n\"a\": 1,\n\"b\": 01\n}");
  EXPECT_EQ(s.line(), 3) << s.message();
  EXPECT_NE(s.message().find("NUMBER_ERROR"), std::string::npos) << s.message();
}

TEST(BodyDecoderTest, JsonTrailingGarbageIsRejectedAtItsLine) {
  Status s = DecodeError(BodyFormat::kJson, "{\"a\": 1}\n\nx");
  EXPECT_EQ(s.reason(), "bad_json");
  EXPECT_EQ(s.line(), 3) << s.message();
  EXPECT_EQ(DecodeError(BodyFormat::kJson, "1 2").reason(), "bad_json");
}

TEST(BodyDecoderTest, JsonErrorWithoutPositionReportsLineOne) {
  Status s = DecodeError(BodyFormat::kJson, "[\n\"never closed\n]");
  EXPECT_EQ(s.reason(), "bad_json");
  EXPECT_EQ(s.line(), 1);
  EXPECT_TRUE(StartsWith(s.message(), "line 1: invalid JSON (")) << s.message();
}

TEST(BodyDecoderTest, InvalidUtf8InJsonNamesTheLine) {
  Status s = DecodeError(BodyFormat::kJson, "[\n\"ok\",\n\"\xC3\x28\"\n]");
  EXPECT_EQ(s.line(), 3);
  EXPECT_NE(s.message().find("UTF8_ERROR"), std::string::npos) << s.message();
}

TEST(BodyDecoderTest, DeeplyNestedJsonIsRejectedWithoutCrashing) {
  std::string body(5000, '[');
  body += std::string(5000, ']');
  Status s = DecodeError(BodyFormat::kJson, body);
  EXPECT_EQ(s.reason(), "too_deep");
  EXPECT_NE(s.message().find("limits.max_json_depth (64)"), std::string::npos) << s.message();
}

TEST(BodyDecoderTest, NestingUpToTheDepthLimitIsAccepted) {
  DecodeLimits limits;
  limits.max_depth = 4;
  std::vector<std::string> out;
  // The document counts as one level: 3 nested arrays fit in depth 4.
  EXPECT_TRUE(DecodeBody(BodyFormat::kJson, "{\"a\":[[1]]}", limits, &out).ok());
  Status s = DecodeBody(BodyFormat::kNdjson, "{\"a\":1}\n[[[[[1]]]]]\n", limits, &out);
  EXPECT_EQ(s.reason(), "too_deep");
  EXPECT_EQ(s.line(), 2);
}

TEST(BodyDecoderTest, JsonIntegerBeyondSixtyFourBitsIsRejected) {
  EXPECT_EQ(DecodeError(BodyFormat::kJson, "[18446744073709551616]").reason(), "bad_json");
  EXPECT_EQ(Decode(BodyFormat::kJson, "[18446744073709551615]"), Events({"18446744073709551615"}));
}

TEST(BodyDecoderTest, JsonArrayElementTooLargeNamesItsLine) {
  DecodeLimits limits;
  limits.max_event_bytes = 7;
  const char* body = "[\n\"12345\",\n  \"123456\"\n]";
  Status s = DecodeError(BodyFormat::kJson, body, limits);
  EXPECT_EQ(s.reason(), "event_too_large");
  EXPECT_EQ(s.code(), StatusCode::kTooLarge);
  EXPECT_EQ(s.line(), 3);
  EXPECT_EQ(s.message(), "line 3: event is 8 bytes, limit is 7");
  limits.max_event_bytes = 8;  // the limit itself is allowed
  EXPECT_EQ(Decode(BodyFormat::kJson, body, limits).size(), 2u);
}

TEST(BodyDecoderTest, SingleJsonValueTooLargeIsEventTooLarge) {
  DecodeLimits limits;
  limits.max_event_bytes = 9;
  // Insignificant whitespace does not count against the limit.
  EXPECT_EQ(Decode(BodyFormat::kJson, "{ \"a\" : 123 }", limits), Events({R"({"a":123})"}));
  EXPECT_EQ(DecodeError(BodyFormat::kJson, "\n{\"a\":1234}", limits).line(), 2);
}

TEST(BodyDecoderTest, JsonArrayWithTooManyElementsIsBatchTooLarge) {
  DecodeLimits limits;
  limits.max_batch_events = 2;
  EXPECT_EQ(Decode(BodyFormat::kJson, "[1,2]", limits).size(), 2u);
  Status s = DecodeError(BodyFormat::kJson, "[1,\n2,\n3]", limits);
  EXPECT_EQ(s.reason(), "batch_too_large");
  EXPECT_EQ(s.code(), StatusCode::kTooLarge);
  EXPECT_EQ(s.line(), 3);
  EXPECT_EQ(s.message(), "line 3: body has more than 2 events, limit is 2");
}

TEST(BodyDecoderTest, OutputIsReplacedNotAppended) {
  Events out = {"old"};
  ASSERT_TRUE(DecodeBody(BodyFormat::kJson, "[1]", {}, &out).ok());
  EXPECT_EQ(out, Events({"1"}));
}

// ---------------------------------------------------------------------------
// NDJSON
// ---------------------------------------------------------------------------

TEST(BodyDecoderTest, NdjsonLinesBecomeCompactEvents) {
  EXPECT_EQ(Decode(BodyFormat::kNdjson, "{ \"a\": 1 }\n[1, 2]\n\"s\"\n"),
            Events({R"({"a":1})", "[1,2]", R"("s")"}));
}

TEST(BodyDecoderTest, NdjsonWithoutTrailingNewlineKeepsTheLastLine) {
  EXPECT_EQ(Decode(BodyFormat::kNdjson, "1\n2"), Events({"1", "2"}));
}

TEST(BodyDecoderTest, NdjsonSkipsBlankAndCrlfLines) {
  EXPECT_EQ(Decode(BodyFormat::kNdjson, "\r\n1\r\n  \t \r\n\n2\r\n\r\n"), Events({"1", "2"}));
}

TEST(BodyDecoderTest, NdjsonBadLineNamesTheLine) {
  Status s = DecodeError(BodyFormat::kNdjson, "{\"a\":1}\n\n{\"a\":}\n{\"a\":3}\n");
  EXPECT_EQ(s.reason(), "bad_ndjson");
  EXPECT_EQ(s.line(), 3);
  EXPECT_TRUE(StartsWith(s.message(), "line 3: invalid JSON (TAPE_ERROR: ")) << s.message();
}

TEST(BodyDecoderTest, NdjsonLineWithTwoValuesIsRejected) {
  Status s = DecodeError(BodyFormat::kNdjson, "1\n2 3\n");
  EXPECT_EQ(s.reason(), "bad_ndjson");
  EXPECT_EQ(s.line(), 2);
}

TEST(BodyDecoderTest, NdjsonValueMayNotSpanLines) {
  EXPECT_EQ(DecodeError(BodyFormat::kNdjson, "{\"a\":\n1}\n").line(), 1);
}

TEST(BodyDecoderTest, NdjsonWithOnlyBlankLinesIsAnEmptyBatch) {
  EXPECT_EQ(DecodeError(BodyFormat::kNdjson, "").reason(), "empty_batch");
  EXPECT_EQ(DecodeError(BodyFormat::kNdjson, "\n \r\n\n").reason(), "empty_batch");
}

TEST(BodyDecoderTest, NdjsonEventTooLargeNamesTheLine) {
  DecodeLimits limits;
  limits.max_event_bytes = 3;
  Status s = DecodeError(BodyFormat::kNdjson, "1\n\n[ 1 ]\n[1,2]\n", limits);
  EXPECT_EQ(s.reason(), "event_too_large");
  EXPECT_EQ(s.message(), "line 4: event is 5 bytes, limit is 3");
}

TEST(BodyDecoderTest, NdjsonTooManyLinesIsBatchTooLarge) {
  DecodeLimits limits;
  limits.max_batch_events = 2;
  Status s = DecodeError(BodyFormat::kNdjson, "1\n2\n\n3\n", limits);
  EXPECT_EQ(s.reason(), "batch_too_large");
  EXPECT_EQ(s.line(), 4);
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

TEST(BodyDecoderTest, CsvRowsBecomeObjectsKeyedByTheHeader) {
  EXPECT_EQ(Decode(BodyFormat::kCsv, "id,name,ok,score\n7,ada,true,1.5\n8,bob,false,\n"),
            Events({R"({"id":7,"name":"ada","ok":true,"score":1.5})",
                    R"({"id":8,"name":"bob","ok":false,"score":null})"}));
}

TEST(BodyDecoderTest, CsvBareFieldIsANumberOnlyIfItIsAValidJsonNumber) {
  EXPECT_EQ(Decode(BodyFormat::kCsv, "v\n1\n-2.5\n1e3\n0\n-0\n2E-7\n"),
            Events({R"({"v":1})", R"({"v":-2.5})", R"({"v":1e3})", R"({"v":0})", R"({"v":-0})",
                    R"({"v":2E-7})"}));
  for (std::string_view text : {"01", "+1", ".5", "1.", "NaN", "Infinity", "1e", "-", "0x10",
                                "1_000", " 1", "True", "null"}) {
    Events events = Decode(BodyFormat::kCsv, "v\n" + std::string(text) + "\n");
    EXPECT_EQ(events, Events({"{\"v\":\"" + std::string(text) + "\"}"})) << text;
  }
}

TEST(BodyDecoderTest, CsvNumbersJsonParsersCannotHoldStayStrings) {
  EXPECT_EQ(
      Decode(BodyFormat::kCsv, "v\n18446744073709551615\n18446744073709551616\n1e400\n1e-400\n"),
      Events({R"({"v":18446744073709551615})", R"({"v":"18446744073709551616"})",
              R"({"v":"1e400"})", R"({"v":1e-400})"}));
}

TEST(BodyDecoderTest, CsvQuotedFieldsAreAlwaysStrings) {
  EXPECT_EQ(Decode(BodyFormat::kCsv, "a,b,c,d\n\"007\",\"true\",\"\",\"1e3\"\n"),
            Events({R"({"a":"007","b":"true","c":"","d":"1e3"})"}));
}

TEST(BodyDecoderTest, CsvQuotedFieldMayHoldCommasNewlinesAndQuotes) {
  EXPECT_EQ(Decode(BodyFormat::kCsv, "a,b\n\"x, y\",\"say \"\"hi\"\"\nbye\"\n"),
            Events({R"({"a":"x, y","b":"say \"hi\"\nbye"})"}));
}

TEST(BodyDecoderTest, CsvLineNumbersCountNewlinesInsideQuotes) {
  // The row on line 2 spans lines 2-4, so the short row starts on line 5.
  Status s = DecodeError(BodyFormat::kCsv, "a,b\n\"1\n2\n3\",x\ny\n");
  EXPECT_EQ(s.line(), 5);
}

TEST(BodyDecoderTest, CsvAcceptsCrlfLineEndings) {
  EXPECT_EQ(Decode(BodyFormat::kCsv, "a,b\r\n1,\"x\r\ny\"\r\n2,z\r\n"),
            Events({R"({"a":1,"b":"x\r\ny"})", R"({"a":2,"b":"z"})"}));
}

TEST(BodyDecoderTest, CsvLoneCarriageReturnIsData) {
  EXPECT_EQ(Decode(BodyFormat::kCsv, "a\nx\ry\n"), Events({R"({"a":"x\ry"})"}));
}

TEST(BodyDecoderTest, CsvWithoutTrailingNewlineKeepsTheLastRow) {
  EXPECT_EQ(Decode(BodyFormat::kCsv, "a,b\n1,2"), Events({R"({"a":1,"b":2})"}));
  EXPECT_EQ(Decode(BodyFormat::kCsv, "a,b\n1,"), Events({R"({"a":1,"b":null})"}));
  EXPECT_EQ(Decode(BodyFormat::kCsv, "a,b\n1,\"\""), Events({R"({"a":1,"b":""})"}));
}

TEST(BodyDecoderTest, CsvBlankLinesAreSkipped) {
  EXPECT_EQ(Decode(BodyFormat::kCsv, "\na\n\n1\r\n\r\n2\n\n"),
            Events({R"({"a":1})", R"({"a":2})"}));
}

TEST(BodyDecoderTest, CsvEscapesControlCharactersAndPassesUnicodeThrough) {
  EXPECT_EQ(
      Decode(BodyFormat::kCsv, "n\xC3\xA4me,v\nt\tab\x01,\xE2\x82\xAC \xF0\x9F\x98\x80\n"),
      Events({"{\"n\xC3\xA4me\":\"t\\tab\\u0001\",\"v\":\"\xE2\x82\xAC \xF0\x9F\x98\x80\"}"}));
}

TEST(BodyDecoderTest, CsvByteOrderMarkIsNotPartOfTheFirstColumnName) {
  EXPECT_EQ(Decode(BodyFormat::kCsv, "\xEF\xBB\xBFid\n1\n"), Events({R"({"id":1})"}));
}

TEST(BodyDecoderTest, CsvRowWithMissingColumnNamesTheLine) {
  Status s = DecodeError(BodyFormat::kCsv, "a,b,c\n1,2,3\n4,5,6\n7,8\n");
  EXPECT_EQ(s.reason(), "bad_csv");
  EXPECT_EQ(s.line(), 4);
  EXPECT_EQ(s.message(), "line 4: expected 3 columns (header: a,b,c) but found 2");
}

TEST(BodyDecoderTest, CsvRowWithExtraColumnNamesTheLine) {
  Status s = DecodeError(BodyFormat::kCsv, "a,b\r\n1,2,\r\n");
  EXPECT_EQ(s.message(), "line 2: expected 2 columns (header: a,b) but found 3");
}

TEST(BodyDecoderTest, CsvUnterminatedQuoteNamesTheLineWhereItOpened) {
  Status s = DecodeError(BodyFormat::kCsv, "a,b\n1,\"open\nstill open\n");
  EXPECT_EQ(s.reason(), "bad_csv");
  EXPECT_EQ(s.line(), 2);
  EXPECT_EQ(s.message(), "line 2: unterminated quoted field in column 2");
}

TEST(BodyDecoderTest, CsvQuoteInsideUnquotedFieldIsRejected) {
  Status s = DecodeError(BodyFormat::kCsv, "a\nsay \"hi\"\n");
  EXPECT_EQ(s.line(), 2);
  EXPECT_TRUE(StartsWith(s.message(), "line 2: quote inside unquoted field in column 1"))
      << s.message();
}

TEST(BodyDecoderTest, CsvCharacterAfterClosingQuoteIsRejected) {
  Status s = DecodeError(BodyFormat::kCsv, "a,b\n1,\"x\"y\n");
  EXPECT_EQ(s.line(), 2);
  EXPECT_EQ(s.message(), "line 2: unexpected character after the closing quote in column 2");
}

TEST(BodyDecoderTest, CsvHeaderNameMustNotBeEmpty) {
  Status s = DecodeError(BodyFormat::kCsv, "a,,c\n1,2,3\n");
  EXPECT_EQ(s.reason(), "bad_csv");
  EXPECT_EQ(s.line(), 1);
  EXPECT_EQ(s.message(), "line 1: header column 2 has no name");
  EXPECT_EQ(DecodeError(BodyFormat::kCsv, "a,\"\"\n1,2\n").message(),
            "line 1: header column 2 has no name");
}

TEST(BodyDecoderTest, CsvDuplicateHeaderNameNamesBothColumns) {
  Status s = DecodeError(BodyFormat::kCsv, "\nid,x,id\n1,2,3\n");
  EXPECT_EQ(s.line(), 2);
  EXPECT_EQ(s.message(), "line 2: duplicate column name \"id\" (columns 1 and 3)");
}

TEST(BodyDecoderTest, EmptyOrHeaderOnlyCsvIsAnEmptyBatch) {
  for (std::string_view body : {"", "\n\r\n", "a,b", "a,b\n", "a,b\r\n\r\n"}) {
    EXPECT_EQ(DecodeError(BodyFormat::kCsv, body).reason(), "empty_batch") << body;
  }
}

TEST(BodyDecoderTest, CsvWithInvalidUtf8NamesTheLine) {
  Status s = DecodeError(BodyFormat::kCsv, "a\nok\n\xFF\n");
  EXPECT_EQ(s.reason(), "bad_csv");
  EXPECT_EQ(s.message(), "line 3: invalid UTF-8");
}

TEST(BodyDecoderTest, CsvRowTooLargeIsEventTooLarge) {
  DecodeLimits limits;
  limits.max_event_bytes = 8;  // {"a":12} is 8 bytes
  EXPECT_EQ(Decode(BodyFormat::kCsv, "a\n12\n", limits).size(), 1u);
  Status s = DecodeError(BodyFormat::kCsv, "a\n12\n123\n", limits);
  EXPECT_EQ(s.reason(), "event_too_large");
  EXPECT_EQ(s.message(), "line 3: event is 9 bytes, limit is 8");
}

TEST(BodyDecoderTest, CsvTooManyRowsIsBatchTooLarge) {
  DecodeLimits limits;
  limits.max_batch_events = 1;
  Status s = DecodeError(BodyFormat::kCsv, "a\n1\n2\n", limits);
  EXPECT_EQ(s.reason(), "batch_too_large");
  EXPECT_EQ(s.line(), 3);
}

// ---------------------------------------------------------------------------
// CompactJson
// ---------------------------------------------------------------------------

TEST(CompactJsonTest, RemovesInsignificantWhitespaceOnly) {
  std::string out;
  ASSERT_TRUE(CompactJson(" { \"a b\" : [ 1 , \"x y\" ] }\n", &out).ok());
  EXPECT_EQ(out, R"({"a b":[1,"x y"]})");
}

TEST(CompactJsonTest, OutputRoundTripsUnchanged) {
  std::string once, twice;
  ASSERT_TRUE(CompactJson("[ 1.50 , -0 , \"\\u00e9\\n\" , {} ]", &once).ok());
  ASSERT_TRUE(CompactJson(once, &twice).ok());
  EXPECT_EQ(once, R"([1.50,-0,"\u00e9\n",{}])");
  EXPECT_EQ(twice, once);
}

TEST(CompactJsonTest, RejectsEmptyAndBlankInput) {
  std::string out = "stale";
  Status s = CompactJson("", &out);
  EXPECT_EQ(s.reason(), "bad_json");
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(CompactJson(" \n ", &out).reason(), "bad_json");
}

TEST(CompactJsonTest, RejectsTrailingGarbageAndSecondValues) {
  std::string out;
  for (std::string_view json : {"{} x", "1 2", "{}{}", "[1]]", "\"a\" \"b\"", "true false"}) {
    Status s = CompactJson(json, &out);
    EXPECT_EQ(s.reason(), "bad_json") << json;
    EXPECT_TRUE(out.empty()) << json;
  }
}

TEST(CompactJsonTest, NamesTheLineOfTheError) {
  std::string out;
  Status s = CompactJson("{\n\"a\": 1,\n\"b\": tru\n}", &out);
  EXPECT_EQ(s.line(), 3) << s.message();
  EXPECT_TRUE(StartsWith(s.message(), "line 3: invalid JSON (")) << s.message();
}

}  // namespace
}  // namespace livehub
