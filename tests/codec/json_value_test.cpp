#include "codec/json_value.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace livehub {
namespace {

JsonValue J(const std::string& text) {
  auto v = JsonValue::Parse(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : JsonValue();
}

std::string Patched(const std::string& target, const std::string& patch) {
  JsonValue t = J(target);
  ApplyMergePatch(&t, J(patch));
  return t.ToString();
}

// The examples of RFC 7386, appendix A.
TEST(MergePatchTest, FollowsEveryRfc7386Example) {
  EXPECT_EQ(Patched(R"({"a":"b"})", R"({"a":"c"})"), R"({"a":"c"})");
  EXPECT_EQ(Patched(R"({"a":"b"})", R"({"b":"c"})"), R"({"a":"b","b":"c"})");
  EXPECT_EQ(Patched(R"({"a":"b"})", R"({"a":null})"), R"({})");
  EXPECT_EQ(Patched(R"({"a":"b","b":"c"})", R"({"a":null})"), R"({"b":"c"})");
  EXPECT_EQ(Patched(R"({"a":["b"]})", R"({"a":"c"})"), R"({"a":"c"})");
  EXPECT_EQ(Patched(R"({"a":"c"})", R"({"a":["b"]})"), R"({"a":["b"]})");
  EXPECT_EQ(Patched(R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})"), R"({"a":{"b":"d"}})");
  EXPECT_EQ(Patched(R"({"a":[{"b":"c"}]})", R"({"a":[1]})"), R"({"a":[1]})");
  EXPECT_EQ(Patched(R"(["a","b"])", R"(["c","d"])"), R"(["c","d"])");
  EXPECT_EQ(Patched(R"({"a":"b"})", R"(["c"])"), R"(["c"])");
  EXPECT_EQ(Patched(R"({"a":"foo"})", "null"), "null");
  EXPECT_EQ(Patched(R"({"a":"foo"})", R"("bar")"), R"("bar")");
  EXPECT_EQ(Patched(R"({"e":null})", R"({"a":1})"), R"({"a":1,"e":null})");
  EXPECT_EQ(Patched(R"([1,2])", R"({"a":"b","c":null})"), R"({"a":"b"})");
  EXPECT_EQ(Patched(R"({})", R"({"a":{"bb":{"ccc":null}}})"), R"({"a":{"bb":{}}})");
}

TEST(MergePatchTest, NestedObjectsMergeAndArraysReplace) {
  EXPECT_EQ(Patched(R"({"x":{"y":{"z":1,"w":2},"k":[1,2,3]}})", R"({"x":{"y":{"z":5},"k":[9]}})"),
            R"({"x":{"k":[9],"y":{"w":2,"z":5}}})");
}

TEST(MergePatchTest, NumbersKeepTheirKind) {
  EXPECT_EQ(J("1.5").ToString(), "1.5");
  EXPECT_EQ(J("2.0").ToString(), "2.0");
  EXPECT_EQ(J("-7").ToString(), "-7");
  EXPECT_EQ(J("18446744073709551615").ToString(), "18446744073709551615");
  EXPECT_EQ(J(R"("a\"b\u00e9")").ToString(), "\"a\\\"b\xc3\xa9\"");
}

TEST(MergePatchTest, ComposeRefusesAnObjectMergedIntoAReplacedKey) {
  JsonValue first = J(R"({"a":null})");
  EXPECT_FALSE(ComposeMergePatches(&first, J(R"({"a":{"b":1}})")));
  EXPECT_EQ(first.ToString(), R"({"a":null})");  // unchanged
  JsonValue second = J(R"({"a":{"x":1},"b":2})");
  EXPECT_TRUE(ComposeMergePatches(&second, J(R"({"a":{"y":null},"b":null,"c":3})")));
  EXPECT_EQ(second.ToString(), R"({"a":{"x":1,"y":null},"b":null,"c":3})");
}

// Random JSON from a small alphabet of keys, so patches collide often.
class RandomJson {
 public:
  explicit RandomJson(uint32_t seed) : rng_(seed) {}
  JsonValue Value(int depth) {
    switch (Pick(depth > 2 ? 4 : 6)) {
      case 0:
        return JsonValue::Int(Pick(100));
      case 1:
        return JsonValue::String(std::string(1, static_cast<char>('a' + Pick(3))));
      case 2:
        return JsonValue::Bool(Pick(2) == 1);
      case 3:
        return JsonValue();
      case 4: {
        auto v = J("[]");
        for (int i = Pick(3); i > 0; --i) v.array().push_back(Value(depth + 1));
        return v;
      }
      default:
        return Object(depth + 1);
    }
  }
  JsonValue Object(int depth) {
    JsonValue o = JsonValue::Object();
    for (int i = Pick(4); i > 0; --i) {
      o.members()[std::string(1, static_cast<char>('k' + Pick(4)))] = Value(depth);
    }
    return o;
  }
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }

 private:
  std::mt19937 rng_;
};

// Applying a composed patch equals applying its parts in order, to any target.
TEST(MergePatchTest, ComposedPatchesEqualSequentialApplication) {
  RandomJson gen(42);
  int composed = 0;
  for (int i = 0; i < 5000; ++i) {
    JsonValue target = gen.Object(0);
    JsonValue p1 = gen.Object(0), p2 = gen.Object(0);
    JsonValue sequential = target;
    ApplyMergePatch(&sequential, p1);
    ApplyMergePatch(&sequential, p2);
    JsonValue folded = p1;
    if (!ComposeMergePatches(&folded, p2)) continue;
    ++composed;
    JsonValue once = target;
    ApplyMergePatch(&once, folded);
    ASSERT_EQ(once.ToString(), sequential.ToString())
        << "target " << target.ToString() << " p1 " << p1.ToString() << " p2 " << p2.ToString();
  }
  EXPECT_GT(composed, 2500);  // the common case composes
}

}  // namespace
}  // namespace livehub
