// GTFS-Realtime entity -> JSON conversion and stream naming
// (source/gtfs_rt_source.h), on FeedMessages built in C++.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "gtfs-realtime.pb.h"
#include "source/gtfs_rt_source.h"

namespace livehub {
namespace {

namespace tr = transit_realtime;

constexpr int64_t kNowMs = 1'700'000'000'000;
constexpr uint64_t kNowS = kNowMs / 1000;

GtfsRtSettings Settings() {
  GtfsRtSettings s;
  s.feed = "metro";
  return s;
}

tr::FeedMessage Feed() {
  tr::FeedMessage f;
  f.mutable_header()->set_gtfs_realtime_version("2.0");
  f.mutable_header()->set_timestamp(kNowS);
  return f;
}

TEST(GtfsRtTest, VehiclePositionBecomesOneEventOnItsVehicleStream) {
  tr::FeedMessage f = Feed();
  tr::FeedEntity* e = f.add_entity();
  e->set_id("e1");
  tr::VehiclePosition* v = e->mutable_vehicle();
  v->mutable_vehicle()->set_id("bus 7/A");
  v->mutable_vehicle()->set_label("Seven");
  v->mutable_trip()->set_trip_id("T1");
  v->mutable_trip()->set_route_id("R9");
  v->mutable_position()->set_latitude(52.52f);
  v->mutable_position()->set_longitude(13.405f);
  v->mutable_position()->set_bearing(90);
  v->mutable_position()->set_speed(8.5f);
  v->set_timestamp(kNowS - 10);
  v->set_current_status(tr::VehiclePosition::STOPPED_AT);
  v->set_stop_id("S1");
  GtfsConversion c = ConvertFeed(f, Settings(), kNowMs);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].first, "transit/metro/vehicles/bus_7_A");
  EXPECT_EQ(c.records[0].second,
            R"({"entity_id":"e1","vehicle_id":"bus 7/A","vehicle_label":"Seven","trip_id":"T1",)"
            R"("route_id":"R9","lat":52.52,"lon":13.405,"bearing":90,"speed":8.5,)"
            R"("timestamp":1699999990,"current_status":"STOPPED_AT","current_stop_sequence":null,)"
            R"("stop_id":"S1","stale":false})");
}

TEST(GtfsRtTest, OldPositionsAreStaleByVehicleOrHeaderTimestamp) {
  tr::FeedMessage f = Feed();
  tr::FeedEntity* a = f.add_entity();
  a->set_id("a");
  a->mutable_vehicle()->set_timestamp(kNowS - 91);
  a->mutable_vehicle()->mutable_position()->set_latitude(1);
  a->mutable_vehicle()->mutable_position()->set_longitude(2);
  tr::FeedEntity* b = f.add_entity();
  b->set_id("b");  // no vehicle timestamp, no vehicle id: the header's time and entity id
  b->mutable_vehicle()->mutable_position()->set_latitude(1);
  b->mutable_vehicle()->mutable_position()->set_longitude(2);
  f.mutable_header()->set_timestamp(kNowS - 200);
  GtfsConversion c = ConvertFeed(f, Settings(), kNowMs);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_NE(c.records[0].second.find(R"("stale":true)"), std::string::npos);
  EXPECT_EQ(c.records[1].first, "transit/metro/vehicles/b");
  EXPECT_NE(c.records[1].second.find(R"("stale":true)"), std::string::npos);
  f.mutable_header()->set_timestamp(kNowS);
  c = ConvertFeed(f, Settings(), kNowMs);
  EXPECT_NE(c.records[1].second.find(R"("stale":false)"), std::string::npos);
  // A timestamp too large for milliseconds (found by the feeds fuzzer as a
  // signed overflow) is in the future: not stale.
  a->mutable_vehicle()->set_timestamp(23080948090273791u);
  f.mutable_header()->set_timestamp(std::numeric_limits<uint64_t>::max());
  c = ConvertFeed(f, Settings(), kNowMs);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_NE(c.records[0].second.find(R"("stale":false)"), std::string::npos);
  EXPECT_NE(c.records[1].second.find(R"("stale":false)"), std::string::npos);
}

TEST(GtfsRtTest, TripUpdateCarriesStopDelays) {
  tr::FeedMessage f = Feed();
  tr::FeedEntity* e = f.add_entity();
  e->set_id("e2");
  tr::TripUpdate* t = e->mutable_trip_update();
  t->mutable_trip()->set_trip_id("T 42");
  t->mutable_trip()->set_route_id("R1");
  auto* u = t->add_stop_time_update();
  u->set_stop_sequence(3);
  u->set_stop_id("S3");
  u->mutable_arrival()->set_delay(120);
  u->mutable_departure()->set_delay(150);
  u->mutable_departure()->set_time(1700000100);
  GtfsConversion c = ConvertFeed(f, Settings(), kNowMs);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].first, "transit/metro/trips/T_42");
  const std::string& j = c.records[0].second;
  EXPECT_NE(j.find(R"("trip_id":"T 42","route_id":"R1")"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("delay":150)"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("stop_time_updates":[{"stop_sequence":3,"stop_id":"S3","arrival_delay":120,)"
                   R"("arrival_time":null,"departure_delay":150,"departure_time":1700000100,)"
                   R"("schedule_relationship":null}])"),
            std::string::npos)
      << j;
}

TEST(GtfsRtTest, AlertPrefersEnglishTextAndListsEntitiesAndPeriods) {
  tr::FeedMessage f = Feed();
  tr::FeedEntity* e = f.add_entity();
  e->set_id("al-1");
  tr::Alert* a = e->mutable_alert();
  a->set_cause(tr::Alert::STRIKE);
  a->set_effect(tr::Alert::NO_SERVICE);
  auto* de = a->mutable_header_text()->add_translation();
  de->set_text("Streik");
  de->set_language("de");
  auto* en = a->mutable_header_text()->add_translation();
  en->set_text("Strike");
  en->set_language("en");
  a->mutable_description_text()->add_translation()->set_text("No trains today");
  a->add_informed_entity()->set_route_id("R1");
  a->add_active_period()->set_start(100);
  GtfsConversion c = ConvertFeed(f, Settings(), kNowMs);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].first, "transit/metro/alerts");
  EXPECT_EQ(
      c.records[0].second,
      R"({"id":"al-1","cause":"STRIKE","effect":"NO_SERVICE","severity":null,)"
      R"("header":"Strike","description":"No trains today","url":null,)"
      R"("informed_entities":[{"route_id":"R1"}],"active_periods":[{"start":100,"end":null}]})");
}

TEST(GtfsRtTest, CustomTemplatesAndUnsupportedEntities) {
  GtfsRtSettings s = Settings();
  s.feed = "my feed";
  s.vehicles_stream = "buses/{feed}/{entity_id}";
  tr::FeedMessage f = Feed();
  tr::FeedEntity* e = f.add_entity();
  e->set_id("x:1");
  e->mutable_vehicle()->mutable_vehicle()->set_id("v");
  f.add_entity()->set_id("empty");
  GtfsConversion c = ConvertFeed(f, s, kNowMs);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].first, "buses/my_feed/x_1");
  EXPECT_EQ(c.unsupported, 1u);
}

TEST(GtfsRtTest, ValidatesTemplatesAndSanitisesSegments) {
  EXPECT_TRUE(ValidateGtfsTemplate("transit/{feed}/v/{key}").ok());
  EXPECT_FALSE(ValidateGtfsTemplate("transit/{nope}").ok());
  EXPECT_FALSE(ValidateGtfsTemplate("transit/{feed").ok());
  EXPECT_FALSE(ValidateGtfsTemplate("transit/feed}").ok());
  EXPECT_EQ(SanitizeSegment("a.b-c_D9"), "a.b-c_D9");
  EXPECT_EQ(SanitizeSegment("a/b c*"), "a_b_c_");
  EXPECT_EQ(SanitizeSegment(""), "_");
}

}  // namespace
}  // namespace livehub
