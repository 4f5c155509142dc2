#include "process/quantile_sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace livehub {
namespace {

// The exact lower q-quantile: rank floor(q * (n - 1)).
double Exact(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

void ExpectWithinBound(const std::vector<double>& values, double alpha) {
  QuantileSketch s(alpha);
  for (double x : values) s.Add(x);
  ASSERT_FALSE(s.collapsed());
  for (double q : {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0}) {
    const double exact = Exact(values, q);
    const double got = s.Quantile(q);
    EXPECT_LE(std::fabs(got - exact), alpha * std::fabs(exact) + 1e-12)
        << "q=" << q << " exact=" << exact << " got=" << got;
  }
}

TEST(QuantileSketchTest, StaysWithinTheRelativeErrorBoundOnUniformValues) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> d(0.5, 1000);
  std::vector<double> v(20'000);
  for (double& x : v) x = d(rng);
  ExpectWithinBound(v, 0.01);
  ExpectWithinBound(v, 0.05);
}

TEST(QuantileSketchTest, StaysWithinTheBoundOnAHeavyTailedDistribution) {
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> d(0, 3);  // spans many orders of magnitude
  std::vector<double> v(20'000);
  for (double& x : v) x = d(rng);
  ExpectWithinBound(v, 0.01);
}

TEST(QuantileSketchTest, HandlesNegativeValuesAndZeros) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> d(0, 50);
  std::vector<double> v(10'000);
  for (double& x : v) x = d(rng);
  for (int i = 0; i < 500; ++i) v.push_back(0);
  ExpectWithinBound(v, 0.02);
}

TEST(QuantileSketchTest, MergeAnswersLikeOneSketchFedBoth) {
  std::mt19937_64 rng(4);
  std::exponential_distribution<double> d(0.01);
  QuantileSketch a(0.01), b(0.01), both(0.01);
  for (int i = 0; i < 5000; ++i) {
    double x = d(rng), y = d(rng) * 3;
    a.Add(x);
    b.Add(y);
    both.Add(x);
    both.Add(y);
  }
  ASSERT_TRUE(a.Merge(b));
  EXPECT_EQ(a.count(), both.count());
  for (double q : {0.0, 0.5, 0.95, 0.99, 1.0}) EXPECT_DOUBLE_EQ(a.Quantile(q), both.Quantile(q));
}

TEST(QuantileSketchTest, RefusesToMergeADifferentAccuracy) {
  QuantileSketch a(0.01), b(0.02);
  b.Add(1);
  EXPECT_FALSE(a.Merge(b));
  EXPECT_EQ(a.count(), 0u);
}

TEST(QuantileSketchTest, EmptyIsNaNAndSingleValueIsExact) {
  QuantileSketch s;
  EXPECT_TRUE(std::isnan(s.Quantile(0.5)));
  s.Add(42.5);
  EXPECT_DOUBLE_EQ(s.Quantile(0.5), 42.5);  // clamped to the exact min/max
}

TEST(QuantileSketchTest, CollapsesTheLowestBucketsPastTheCapAndSaysSo) {
  QuantileSketch s(0.01, 64);
  for (int e = -6; e <= 6; ++e) s.Add(std::pow(10.0, e));
  EXPECT_TRUE(s.collapsed());
  EXPECT_LE(s.bucket_count(), 64u);
  // The top of the distribution keeps its bound.
  EXPECT_NEAR(s.Quantile(1.0), 1e6, 1e6 * 0.01);
}

}  // namespace
}  // namespace livehub
