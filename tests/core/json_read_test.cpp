#include "core/json_read.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

namespace livehub {
namespace {

using Strings = std::vector<std::string>;

TEST(AppendStringArrayTest, AppendsAnArrayOfStringsAndAcceptsAnAbsentMember) {
  simdjson::dom::parser p;
  simdjson::dom::element doc = p.parse(std::string(R"({"s":["a","b/*",""],"e":[]})"));
  Strings out = {"kept"};
  EXPECT_TRUE(AppendStringArray(doc["s"], &out));
  EXPECT_EQ(out, (Strings{"kept", "a", "b/*", ""}));
  EXPECT_TRUE(AppendStringArray(doc["e"], &out));
  EXPECT_TRUE(AppendStringArray(doc["missing"], &out));
  EXPECT_EQ(out.size(), 4u);
  simdjson::dom::object obj = doc.get_object();
  Strings from_object;
  EXPECT_TRUE(AppendStringArray(obj["s"], &from_object));
  EXPECT_EQ(from_object.size(), 3u);
}

TEST(AppendStringArrayTest, RefusesAPresentMemberThatIsNotAnArrayOfStrings) {
  simdjson::dom::parser p;
  for (const char* json : {R"({"s":"a"})", R"({"s":{"a":1}})", R"({"s":["a",1]})",
                           R"({"s":[null]})", R"({"s":[["a"]]})", R"({"s":null})"}) {
    simdjson::dom::element doc = p.parse(std::string(json));
    Strings out;
    EXPECT_FALSE(AppendStringArray(doc["s"], &out)) << json;
  }
}

}  // namespace
}  // namespace livehub
