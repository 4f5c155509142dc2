#include "schema/schema.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/clock.h"
#include "metrics/metrics.h"
#include "schema/schema_config.h"
#include "stream/hub.h"

namespace livehub {
namespace {

Schema Sensors(DiscoveryPolicy policy = DiscoveryPolicy::kWarn) {
  auto s = ParseSchemaJson("sensors/**", R"({"fields":{"station":"string","temp":"float",
      "count":"int","ok":"bool","ts":"timestamp","extra":"json"},
      "required":["station"],"time_index":"ts"})");
  EXPECT_TRUE(s.ok()) << s.status().message();
  Schema out = s.ok() ? *s : Schema{};
  out.policy = policy;
  return out;
}

class SchemaRegistryTest : public ::testing::Test {
 protected:
  SchemaRegistryTest() : reg_(&metrics_) {}
  Status Check(std::string_view stream, std::vector<std::string> datas) {
    auto r = reg_.Validate(stream, datas);
    return r.ok() ? Status::Ok() : r.status();
  }
  MetricsRegistry metrics_;
  SchemaRegistry reg_;
};

TEST_F(SchemaRegistryTest, AcceptsEventsOfTheDeclaredTypes) {
  ASSERT_TRUE(reg_.Put(Sensors()).ok());
  EXPECT_TRUE(Check("sensors/a", {R"({"station":"s1","temp":21,"count":3,"ok":true,)"
                                  R"("ts":"2026-11-23T15:00:00.123Z","extra":[1]})"})
                  .ok());
  EXPECT_TRUE(Check("sensors/a", {R"({"station":"s1","temp":21.5,"ts":1732233600123})"}).ok());
  EXPECT_TRUE(Check("sensors/a", {R"({"station":"s1","temp":null})"}).ok());  // null = absent
  EXPECT_TRUE(Check("other/a", {R"("anything")"}).ok());                      // no schema
  EXPECT_EQ(reg_.TimeIndex("sensors/x/y").value_or(""), "ts");
  EXPECT_FALSE(reg_.TimeIndex("other/a").has_value());
}

TEST_F(SchemaRegistryTest, TypeMismatchNamesFieldTypesAndIndex) {
  ASSERT_TRUE(reg_.Put(Sensors()).ok());
  Status st = Check("sensors/a", {R"({"station":"a"})", R"({"station":"b","temp":"hot"})"});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.reason(), "schema_type_mismatch");
  EXPECT_NE(st.message().find("index 1"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("\"temp\" expected float, got string"), std::string::npos)
      << st.message();
  EXPECT_NE(st.fields().find(R"("field":"temp","expected":"float","actual":"string")"),
            std::string::npos)
      << st.fields();
  EXPECT_NE(st.fields().find(R"("index":1)"), std::string::npos);
  EXPECT_EQ(Check("sensors/a", {R"({"station":"a","count":1.5})"}).reason(),
            "schema_type_mismatch");
  EXPECT_EQ(Check("sensors/a", {R"({"station":"a","ts":"yesterday"})"}).reason(),
            "schema_type_mismatch");
  EXPECT_EQ(Check("sensors/a", {R"({"station":"a","ok":"true"})"}).reason(),
            "schema_type_mismatch");
}

TEST_F(SchemaRegistryTest, MissingRequiredFieldIsRefused) {
  ASSERT_TRUE(reg_.Put(Sensors()).ok());
  Status st = Check("sensors/a", {R"({"temp":1})"});
  EXPECT_EQ(st.reason(), "schema_missing_field");
  EXPECT_NE(st.message().find("\"station\""), std::string::npos);
  EXPECT_EQ(Check("sensors/a", {R"({"station":null})"}).reason(), "schema_missing_field");
  EXPECT_EQ(Check("sensors/a", {"[1,2]"}).reason(), "schema_not_object");
}

TEST_F(SchemaRegistryTest, WarnPolicyDiscoversFieldsOnceWithInferredTypes) {
  ASSERT_TRUE(reg_.Put(Sensors(DiscoveryPolicy::kWarn)).ok());
  auto r = reg_.Validate("sensors/a", {R"({"station":"a","humidity":40})",
                                       R"({"station":"a","humidity":41,"tag":"x"})"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].field, "humidity");
  EXPECT_EQ((*r)[0].type, FieldType::kInt);
  EXPECT_EQ((*r)[1].field, "tag");
  EXPECT_EQ((*r)[1].index, 1u);
  // Discovered fields are now part of the schema: no second warning...
  auto again = reg_.Validate("sensors/b", {R"({"station":"a","humidity":42})"});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
  auto schema = reg_.Effective("sensors/b");
  ASSERT_TRUE(schema.has_value());
  EXPECT_TRUE(schema->fields.at("humidity").discovered);
  // ...and they are checked: an int widens to float, a string is refused.
  EXPECT_TRUE(Check("sensors/a", {R"({"station":"a","humidity":40.5})"}).ok());
  EXPECT_EQ(reg_.Effective("sensors/a")->fields.at("humidity").type, FieldType::kFloat);
  EXPECT_EQ(Check("sensors/a", {R"({"station":"a","humidity":"wet"})"}).reason(),
            "schema_type_mismatch");
  auto seen = reg_.SeenFields("sensors/a");
  EXPECT_EQ(seen.at("humidity"), FieldType::kFloat);
  EXPECT_EQ(seen.at("station"), FieldType::kString);
  EXPECT_EQ(seen.count("temp"), 0u);
}

TEST_F(SchemaRegistryTest, RejectPolicyRefusesNewFieldsAndRecordsNothing) {
  ASSERT_TRUE(reg_.Put(Sensors(DiscoveryPolicy::kReject)).ok());
  Status st = Check("sensors/a", {R"({"station":"a"})", R"({"station":"a","new":1})"});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.reason(), "schema_unknown_field");
  EXPECT_NE(st.fields().find(R"("field":"new")"), std::string::npos);
  EXPECT_TRUE(reg_.SeenFields("sensors/a").empty());  // a refused batch records nothing
}

TEST_F(SchemaRegistryTest, AllowPolicyDiscoversSilently) {
  ASSERT_TRUE(reg_.Put(Sensors(DiscoveryPolicy::kAllow)).ok());
  auto r = reg_.Validate("sensors/a", {R"({"station":"a","n":{"x":1}})"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(reg_.Effective("sensors/a")->fields.at("n").type, FieldType::kJson);
}

TEST_F(SchemaRegistryTest, BadSchemasAreRefusedWithTheReason) {
  EXPECT_EQ(ParseSchemaJson("a/**", R"({"fields":{"x":"number"}})").status().reason(),
            "bad_schema");
  EXPECT_NE(
      ParseSchemaJson("a/**", R"({"fields":{"x":"number"}})").status().message().find("fields.x"),
      std::string::npos);
  EXPECT_FALSE(ParseSchemaJson("a/**", R"({"policy":"maybe"})").ok());
  EXPECT_FALSE(ParseSchemaJson("a/**", R"({"colour":1})").ok());
  auto no_ti = ParseSchemaJson("a/**", R"({"fields":{"x":"string"},"time_index":"x"})");
  ASSERT_TRUE(no_ti.ok());
  EXPECT_FALSE(reg_.Put(*no_ti).ok());  // time_index must be a timestamp
  Schema bad_pattern;
  bad_pattern.pattern = "a//b";
  EXPECT_FALSE(reg_.Put(bad_pattern).ok());
}

TEST_F(SchemaRegistryTest, LatestPutWinsAndSurvivesSerialisation) {
  ASSERT_TRUE(reg_.Put(Sensors()).ok());
  auto narrow = ParseSchemaJson("sensors/special/*", R"({"fields":{"v":"int"},"policy":"reject"})");
  ASSERT_TRUE(narrow.ok());
  ASSERT_TRUE(reg_.Put(*narrow).ok());
  EXPECT_EQ(reg_.Effective("sensors/special/x")->pattern, "sensors/special/*");
  EXPECT_EQ(reg_.Effective("sensors/other")->pattern, "sensors/**");
  ASSERT_TRUE(Check("sensors/a", {R"({"station":"a","found":true})"}).ok());
  MetricsRegistry m2;
  SchemaRegistry copy(&m2);
  ASSERT_TRUE(copy.Load(reg_.SerializeAll()).ok());
  EXPECT_EQ(copy.SerializeAll(), reg_.SerializeAll());
  EXPECT_EQ(copy.Effective("sensors/a")->fields.at("found").type, FieldType::kBool);
}

TEST_F(SchemaRegistryTest, CsvTypesComeFromTheSchema) {
  ASSERT_TRUE(reg_.Put(Sensors()).ok());
  CsvColumnTypes types = reg_.CsvTypes("sensors/a");
  std::vector<std::string> out;
  Status st = DecodeBody(BodyFormat::kCsv, "station,temp,count,ok,other\n007,21,007,1,007\n",
                         DecodeLimits{}, &out, &types);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], R"({"station":"007","temp":21,"count":7,"ok":true,"other":"007"})");
  st = DecodeBody(BodyFormat::kCsv, "station,count\na,1\nb,lots\n", DecodeLimits{}, &out, &types);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.reason(), "schema_type_mismatch");
  EXPECT_EQ(st.line().value_or(0), 3);
  EXPECT_NE(st.message().find("column \"count\" expects int"), std::string::npos) << st.message();
  EXPECT_TRUE(out.empty());
}

TEST(SchemaHubTest, EveryPublishPathIsCheckedAndWarningsReachSysEvents) {
  FakeClock clock;
  MetricsRegistry metrics;
  Hub hub(HubOptions{}, &clock, &metrics);
  SchemaRegistry reg(&metrics);
  hub.SetPublishCheck(&reg);
  ASSERT_TRUE(reg.Put(Sensors()).ok());
  auto bad = hub.Publish("sensors/a", {R"({"station":"a"})", R"({"temp":1})"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().reason(), "schema_missing_field");
  EXPECT_EQ(hub.Find("sensors/a"), nullptr);  // nothing appended, not even created
  ASSERT_TRUE(hub.Publish("sensors/a", {R"({"station":"a","wind":3})"}).ok());
  Stream* sys = hub.Find("$sys/events");
  ASSERT_NE(sys, nullptr);
  std::vector<EventPtr> evs;
  bool more;
  uint64_t next;
  ASSERT_TRUE(sys->Read(1, 100, &evs, &more, &next).ok());
  bool warned = false;
  for (const EventPtr& e : evs) {
    warned |= e->data().find(R"("event":"schema_warning")") != std::string_view::npos &&
              e->data().find(R"("field":"wind")") != std::string_view::npos;
  }
  EXPECT_TRUE(warned);
  const std::string text = metrics.Render();
  EXPECT_NE(text.find("livehub_schema_warnings_total 1"), std::string::npos);
  EXPECT_NE(text.find("livehub_schema_rejected_total{reason=\"schema_missing_field\"} 1"),
            std::string::npos);
}

TEST(SchemaConfigTest, ParsesTheSchemasSectionAndNamesBadKeys) {
  auto parse = [](const std::string& yaml, std::vector<Schema>* out) {
    ConfigWalker w("test.yaml");
    YAML::Node n = YAML::Load(yaml);
    ParseSchemasSection(w, n["schemas"], "schemas", out);
    return w.status();
  };
  std::vector<Schema> out;
  ASSERT_TRUE(parse("schemas:\n  - pattern: a/**\n    fields: {t: timestamp, v: float}\n"
                    "    required: [v]\n    time_index: t\n    policy: reject\n",
                    &out)
                  .ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].time_index, "t");
  EXPECT_TRUE(out[0].fields.at("v").required);
  EXPECT_EQ(out[0].policy, DiscoveryPolicy::kReject);
  Status st = parse("schemas:\n  - pattern: a/**\n    fields: {v: decimal}\n", &out);
  EXPECT_NE(st.message().find("schemas[0].fields.v"), std::string::npos) << st.message();
  st = parse("schemas:\n  - pattern: a/**\n    colour: red\n", &out);
  EXPECT_NE(st.message().find("schemas[0].colour"), std::string::npos) << st.message();
  st = parse("schemas:\n  - pattern: a/**\n    fields: {v: int}\n    required: [w]\n", &out);
  EXPECT_NE(st.message().find("schemas[0].required"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace livehub
