// The power trace reader behind `nanomind battery --replay`: a powered stream's summary
// slice read back exactly (written by run_powered_stream into a real Trace); the last
// summary wins; anything else is refused with a message that says what is wrong.
#include "runtime/energy/trace_replay.h"

#include <gtest/gtest.h>

#include <string>

#include "runtime/trace.h"

namespace nm::energy {
namespace {

std::string trace_with(const std::vector<std::pair<std::string, double>>& args) {
  Trace t;
  const auto now = Trace::Clock::now();
  t.slice("cpu", "text", "answer frame 0", now, now);
  t.slice("power", "policy", kPowerSummarySlice, now, now, args);
  return t.json();
}

std::vector<std::pair<std::string, double>> summary(double parallel_j) {
  return {{"parallel answers", 3},  {"parallel joules", parallel_j}, {"parallel seconds", 0.5},
          {"throttled answers", 0}, {"throttled joules", 0},         {"throttled seconds", 0},
          {"on-demand answers", 2}, {"on-demand joules", 0.25},      {"on-demand seconds", 0.125},
          {"measured", 1},          {"mode changes", 1}};
}

TEST(TraceReplay, ReadsTheSummaryBack) {
  auto r = parse_power_trace(trace_with(summary(1.5)), "t.json");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->modes[0].answers, 3);
  EXPECT_EQ(r->modes[0].joules, 1.5);
  EXPECT_EQ(r->modes[0].seconds, 0.5);
  EXPECT_EQ(r->modes[1].answers, 0);
  EXPECT_EQ(r->modes[2].answers, 2);
  EXPECT_EQ(r->modes[2].joules, 0.25);
  EXPECT_TRUE(r->measured);
  EXPECT_EQ(r->mode_changes, 1);
}

TEST(TraceReplay, RefusesWhatIsNoPowerTrace) {
  auto why = [](const std::string& text) {
    auto r = parse_power_trace(text, "t.json");
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_NE(why("not json").find("not JSON"), std::string::npos);
  EXPECT_NE(why("[1,2]").find("traceEvents"), std::string::npos);
  EXPECT_NE(why(Trace().json()).find("no power summary"), std::string::npos);
  auto args = summary(1.5);
  args.erase(args.begin() + 4);  // no "throttled joules"
  EXPECT_NE(why(trace_with(args)).find("'throttled joules'"), std::string::npos);
  EXPECT_NE(why(trace_with(summary(-1))).find("'parallel joules'"), std::string::npos);
  auto fraction = summary(1);
  fraction[0].second = 2.5;
  EXPECT_NE(why(trace_with(fraction)).find("not a count"), std::string::npos);
  EXPECT_FALSE(read_power_trace("/no/such/trace.json").ok());
}

}  // namespace
}  // namespace nm::energy
