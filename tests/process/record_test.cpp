#include "process/record.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace livehub {
namespace {

std::vector<std::vector<std::string>> Paths(const std::vector<std::string>& names) {
  std::vector<std::vector<std::string>> out;
  for (const std::string& n : names) out.push_back(*ParseFieldPath(n));
  return out;
}

TEST(GroupKeyJsonTest, NamesEachKeyFieldInConfiguredOrderWithItsCompactValue) {
  RecordReader reader;
  ASSERT_TRUE(reader.Parse(R"({"site": {"id": "a\"b"}, "n": 7, "tags": [1, 2], "v": 1.5})"));
  const std::vector<std::string> names = {"n", "site.id", "tags"};
  EXPECT_EQ(GroupKeyJson(reader, names, Paths(names)), R"({"n":7,"site.id":"a\"b","tags":[1,2]})");
}

TEST(GroupKeyJsonTest, MissingFieldIsNullAndNoKeyFieldsIsTheEmptyObject) {
  RecordReader reader;
  ASSERT_TRUE(reader.Parse(R"({"a": 1})"));
  const std::vector<std::string> names = {"a", "b.c"};
  EXPECT_EQ(GroupKeyJson(reader, names, Paths(names)), R"({"a":1,"b.c":null})");
  EXPECT_EQ(GroupKeyJson(reader, {}, {}), "{}");
}

}  // namespace
}  // namespace livehub
