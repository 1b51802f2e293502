// Device profiles: every shipped profile parses, cites a listed source for every number,
// explains every estimate and survives a round trip through the writer; malformed,
// truncated, mistyped and hostile texts are refused with a message naming the field, and
// random byte damage never crashes the parser (the fuzz target goes further).
#include "runtime/profile/device_profile.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "energy/fake_sysfs.h"

namespace nm {
namespace {

std::string builtin_text(const std::string& name) {
  for (const EmbeddedProfile& e : builtin_device_profiles())
    if (name == e.name) return std::string(e.text);
  return {};
}

void expect_same(const ProfileFigure& a, const ProfileFigure& b, const std::string& what) {
  if (!a.known()) {
    EXPECT_FALSE(b.known()) << what;
    return;
  }
  EXPECT_EQ(a.value, b.value) << what;
  EXPECT_EQ(a.source, b.source) << what;
  EXPECT_EQ(a.estimate, b.estimate) << what;
  EXPECT_EQ(a.note, b.note) << what;
}

TEST(DeviceProfile, ShippedProfilesParseCiteAndRoundTrip) {
  const std::vector<std::string> names = builtin_device_profile_names();
  for (const char* want : {"rk3566", "rk3588", "jetson-orin-nano", "rpi5"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  for (const std::string& n : names) {
    Result<DeviceProfile> p = load_device_profile(n);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    EXPECT_EQ(p->name, n);
    EXPECT_EQ(p->origin, "published");
    EXPECT_FALSE(p->devices.empty());
    for (const ProfileSource& s : p->sources) EXPECT_EQ(s.url.rfind("https://", 0), 0u) << n << " " << s.id;
    const energy::PowerModel pm = p->power_model();
    EXPECT_EQ(pm.profile, n);
    EXPECT_GE(pm.idle_w, 0.0);
    for (const energy::DevicePower& d : pm.devices) EXPECT_GE(d.active_w, 0.0);
    EXPECT_NE(pm.match("cpu"), nullptr) << n;

    Result<DeviceProfile> back = parse_device_profile(device_profile_to_json(*p), "round trip");
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back->title, p->title);
    EXPECT_EQ(back->match, p->match);
    EXPECT_EQ(back->notes, p->notes);
    ASSERT_EQ(back->sources.size(), p->sources.size());
    ASSERT_EQ(back->devices.size(), p->devices.size());
    expect_same(back->idle_w, p->idle_w, n + " idle_w");
    expect_same(back->read_gbps, p->read_gbps, n + " read_gbps");
    expect_same(back->storage_read_gbps, p->storage_read_gbps, n + " storage");
    for (size_t i = 0; i < p->devices.size(); ++i) {
      const ProfileDevice &a = p->devices[i], &b = back->devices[i];
      EXPECT_EQ(a.name, b.name);
      EXPECT_EQ(a.cores, b.cores);
      expect_same(a.active_w, b.active_w, n + " " + a.name + " active_w");
      expect_same(a.f32_gflops, b.f32_gflops, n + " " + a.name + " f32");
      expect_same(a.int8_gops, b.int8_gops, n + " " + a.name + " int8");
    }
  }
}

// A small valid profile the hostile cases below damage one field at a time.
std::string minimal(const std::string& device_extra = "", const std::string& board_extra = "",
                    const std::string& top_extra = "") {
  return R"({"schema": "nanomind.device-profile/1", "name": "t", "title": "test", "origin": "published",
  "sources": {"s": {"title": "a source", "url": "https://example.org"}}, )" + top_extra + R"(
  "board": {"idle_w": {"value": 1, "source": "s"}, "read_gbps": {"value": 5, "source": "s"})" + board_extra + R"(},
  "devices": [{"name": "cpu", "kind": "cpu", "cores": 4, "f32_gflops": {"value": 50, "source": "s"},
               "active_w": {"value": 2, "source": "s"})" + device_extra + "}]}";
}

// Passes when `text` is refused with a message containing `needle`.
::testing::AssertionResult refused(const std::string& text, const std::string& needle) {
  Result<DeviceProfile> p = parse_device_profile(text, "x");
  if (p.ok()) return ::testing::AssertionFailure() << "accepted: " << text.substr(0, 300);
  if (p.status().message().find(needle) == std::string::npos)
    return ::testing::AssertionFailure() << p.status().message() << " (wanted '" << needle << "')";
  return ::testing::AssertionSuccess();
}

TEST(DeviceProfile, MinimalIsValid) {
  Result<DeviceProfile> p = parse_device_profile(minimal(), "t");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->devices[0].cores, 4);
  EXPECT_NE(p->summary().find("0 estimated"), std::string::npos) << p->summary();
}

TEST(DeviceProfile, HostileProfilesAreRefusedWithTheField) {
  struct Case {
    std::string text, needle;
  };
  const std::string big(2 << 20, ' ');
  const std::vector<Case> cases = {
      {"", "not valid JSON"},
      {minimal().substr(0, 120), "not valid JSON"},
      {"[]", "expected an object"},
      {std::string(100, '[') + std::string(100, ']'), "nested deeper"},
      {big + minimal(), "larger than 1 MiB"},
      {minimal(", \"colour\": \"red\""), "unknown key 'colour'"},
      {minimal(", \"int8_gops\": {\"value\": 5, \"source\": \"nowhere\"}"), "source 'nowhere' is not in 'sources'"},
      {minimal(", \"int8_gops\": {\"value\": 5, \"source\": \"measured\"}"), "only for calibrated"},
      {minimal(", \"int8_gops\": {\"value\": -5, \"source\": \"s\"}"), "devices[0].int8_gops: value -5 is outside"},
      {minimal(", \"int8_gops\": {\"value\": \"fast\", \"source\": \"s\"}"), "'value' must be a number"},
      {minimal(", \"int8_gops\": {\"value\": 5, \"source\": \"s\", \"estimate\": true}"), "needs a 'note'"},
      {minimal(", \"int8_gops\": {\"value\": 5, \"source\": \"s\", \"estimate\": 1}"), "expected true or false"},
      {minimal(", \"int8_gops\": {\"value\": 1e400, \"source\": \"s\"}"), "not valid JSON"},
      {minimal("", ", \"awake_w\": 3"), "board.awake_w: expected an object"},
      {minimal("", "", "\"match\": \"rockchip,rk3566\","), "match: expected an array"},
      {minimal("", "", "\"notes\": [1, 2],"), "notes: expected an array of strings"},
  };
  for (const Case& c : cases) {
    Result<DeviceProfile> p = parse_device_profile(c.text, "bad.json");
    ASSERT_FALSE(p.ok()) << c.text.substr(0, 200);
    EXPECT_EQ(p.status().code(), ErrorCode::invalid_file);
    EXPECT_NE(p.status().message().find("bad.json"), std::string::npos) << p.status().message();
    EXPECT_NE(p.status().message().find(c.needle), std::string::npos) << p.status().message();
  }
}

TEST(DeviceProfile, StructuralMistakesAreRefused) {
  std::string t = minimal();
  EXPECT_TRUE(refused(std::string(t).replace(t.find("device-profile/1"), 16, "device-profile/9"), "is not nanomind"));
  EXPECT_TRUE(refused(std::string(t).replace(t.find("\"name\": \"t\""), 11, "\"name\": \"T T\""), "name"));
  EXPECT_TRUE(refused(std::string(t).replace(t.find("\"origin\": \"published\""), 21, "\"origin\": \"guessed\""), "origin"));
  EXPECT_TRUE(refused(std::string(t).replace(t.find("\"kind\": \"cpu\""), 13, "\"kind\": \"tpu\""), "kind"));
  EXPECT_TRUE(refused(std::string(t).replace(t.find("\"cores\": 4"), 10, "\"cores\": 0"), "cores"));
  EXPECT_TRUE(refused(std::string(t).replace(t.find("\"cores\": 4"), 10, "\"cores\": 2.5"), "cores"));
  EXPECT_TRUE(refused(std::string(t).replace(t.find("\"devices\": ["), 12, "\"devices\": [{\"name\": \"cpu\", \"kind\": \"gpu\", "
                                                                           "\"f32_gflops\": {\"value\": 1, \"source\": \"s\"}, "
                                                                           "\"active_w\": {\"value\": 1, \"source\": \"s\"}}, "),
                      "duplicate name 'cpu'"));
  EXPECT_TRUE(refused(std::string(t).replace(t.find("\"active_w\""), 10, "\"idle_now\""), "unknown key 'idle_now'"));
  EXPECT_TRUE(refused(std::string(t).replace(t.find("\"devices\""), 9, "\"devicez\""), "unknown key 'devicez'"));
  const std::string no_devices = R"({"schema": "nanomind.device-profile/1", "name": "t", "title": "x", "origin": "published",
    "sources": {"s": {"title": "a", "url": "https://e"}}, "board": {"idle_w": {"value": 1, "source": "s"},
    "read_gbps": {"value": 1, "source": "s"}}, "devices": []})";
  EXPECT_TRUE(refused(no_devices, "devices"));
  // NPUs need an INT8 rate, CPUs and GPUs an f32 rate.
  EXPECT_TRUE(refused(std::string(t).replace(t.find("\"kind\": \"cpu\", \"cores\": 4"), 25, "\"kind\": \"npu\""), "int8_gops"));
}

std::string calibrated(const std::string& device_extra = "", const std::string& top_extra = "") {
  std::string t = minimal(device_extra, "", top_extra.empty() ? R"("calibration": {"machine": "m x2", "build": "b",
    "created": 1700000000, "seconds": 42.5},)" : top_extra);
  t.replace(t.find("\"origin\": \"published\""), 21, "\"origin\": \"calibrated\"");
  return t;
}

TEST(DeviceProfile, CalibratedProfilesMayUseMeasured) {
  Result<DeviceProfile> p = parse_device_profile(calibrated(", \"int8_gops\": {\"value\": 99, \"source\": \"measured\"}"), "cal");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->devices[0].int8_gops.source, "measured");
  EXPECT_EQ(p->calibration.machine, "m x2");
  EXPECT_EQ(p->calibration.created, 1700000000);
  EXPECT_EQ(p->calibration.seconds, 42.5);
}

// What calibration measures: matmul rates per weight type and batch, attention of both
// forms, launch and map costs; they parse, round-trip through the writer, and the nearest
// batch (and attention shape) is found.
TEST(DeviceProfile, MeasuredRatesParseAndRoundTrip) {
  const std::string rates = R"(, "launch_us": {"value": 7.5, "source": "measured"},
    "op_us": {"value": 1.25, "source": "measured"},
    "map_us": {"value": 0, "source": "measured"}, "elementwise_gbps": {"value": 20, "source": "measured"},
    "matmul": [{"weight": "q4_0", "tokens": 1, "gflops": {"value": 60, "source": "measured"},
                "read_gbps": {"value": 21.5, "source": "measured"}},
               {"weight": "q4_0", "tokens": 128, "gflops": {"value": 90, "source": "measured"}},
               {"weight": "f16", "tokens": 128, "gflops": {"value": 30, "source": "measured"}}],
    "attention": [{"tokens": 1, "kv": 256, "gflops": {"value": 4, "source": "measured"}},
                  {"tokens": 576, "kv": 576, "form": "matmuls", "gflops": {"value": 9, "source": "measured"}},
                  {"tokens": 64, "kv": 64, "form": "fused", "gflops": {"value": 6, "source": "measured"}}])";
  Result<DeviceProfile> p = parse_device_profile(calibrated(rates), "cal");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  const ProfileDevice& d = p->devices[0];
  ASSERT_EQ(d.matmul.size(), 3u);
  EXPECT_EQ(d.matmul_for("q4_0", 1)->gflops.value, 60);
  EXPECT_EQ(d.matmul_for("q4_0", 3)->gflops.value, 60);    // nearer 1 than 128 in ratio
  EXPECT_EQ(d.matmul_for("q4_0", 512)->gflops.value, 90);
  EXPECT_EQ(d.matmul_for("f16", 1)->gflops.value, 30);     // the only f16 entry
  EXPECT_EQ(d.matmul_for("q8_0", 1), nullptr);
  EXPECT_EQ(d.matmul_for("q4_0", 1)->read_gbps.value, 21.5);
  EXPECT_FALSE(d.matmul_for("q4_0", 128)->read_gbps.known());  // optional
  EXPECT_EQ(d.launch_us.value, 7.5);
  EXPECT_EQ(d.op_us.value, 1.25);
  EXPECT_EQ(d.map_us.value, 0);
  ASSERT_EQ(d.attention.size(), 3u);
  EXPECT_EQ(d.attention[0].kv, 256);
  EXPECT_FALSE(d.attention[0].matmuls);
  EXPECT_TRUE(d.attention[1].matmuls);
  EXPECT_FALSE(d.attention[2].matmuls);  // "fused" is the default form, written out or not
  // The entry of the brick's form whose tokens x kv is nearest in ratio.
  EXPECT_EQ(d.attention_for(729, 729, true), &d.attention[1]);
  EXPECT_EQ(d.attention_for(9, 9, true), &d.attention[1]);  // the only matmul-form entry
  EXPECT_EQ(d.attention_for(1, 300, false), &d.attention[0]);
  EXPECT_EQ(d.attention_for(512, 512, false), &d.attention[2]);  // 64 x 64 is nearer than 1 x 256
  EXPECT_EQ(d.attention_for(2, 128, false), &d.attention[0]);
  Result<DeviceProfile> back = parse_device_profile(device_profile_to_json(*p), "round trip");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  const ProfileDevice& b = back->devices[0];
  ASSERT_EQ(b.matmul.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(b.matmul[i].weight, d.matmul[i].weight);
    EXPECT_EQ(b.matmul[i].tokens, d.matmul[i].tokens);
    expect_same(b.matmul[i].gflops, d.matmul[i].gflops, "matmul " + std::to_string(i));
    expect_same(b.matmul[i].read_gbps, d.matmul[i].read_gbps, "matmul read " + std::to_string(i));
  }
  expect_same(b.launch_us, d.launch_us, "launch");
  expect_same(b.op_us, d.op_us, "op");
  expect_same(b.map_us, d.map_us, "map");
  expect_same(b.elementwise_gbps, d.elementwise_gbps, "elementwise");
  ASSERT_EQ(b.attention.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    expect_same(b.attention[i].gflops, d.attention[i].gflops, "attention " + std::to_string(i));
    EXPECT_EQ(b.attention[i].matmuls, d.attention[i].matmuls) << i;
  }
  EXPECT_EQ(back->calibration.build, "b");
  EXPECT_EQ(back->calibration.created, 1700000000);
}

TEST(DeviceProfile, BadRatesAndCalibrationBlocksAreRefused) {
  auto mm = [](const std::string& entry) { return ", \"matmul\": [" + entry + "]"; };
  const std::string g = R"("gflops": {"value": 5, "source": "measured"})";
  EXPECT_TRUE(refused(calibrated(mm(R"({"weight": "q9_9", "tokens": 1, )" + g + "}")), "'q9_9' is not a weight type"));
  EXPECT_TRUE(refused(calibrated(mm(R"({"weight": "q4_0", "tokens": 0, )" + g + "}")), "matmul[0].tokens"));
  EXPECT_TRUE(refused(calibrated(mm(R"({"weight": "q4_0", "tokens": 1.5, )" + g + "}")), "tokens"));
  EXPECT_TRUE(refused(calibrated(mm(R"({"weight": "q4_0", "tokens": 1})")), "missing 'gflops'"));
  EXPECT_TRUE(refused(calibrated(mm(R"({"weight": "q4_0", "tokens": 1, )" + g + R"(, "speed": 1})")), "unknown key 'speed'"));
  EXPECT_TRUE(refused(calibrated(mm(R"({"weight": "q4_0", "tokens": 1, )" + g + R"(}, {"weight": "q4_0", "tokens": 1, )" + g + "}")),
                      "a second entry for q4_0 x 1"));
  EXPECT_TRUE(refused(calibrated(", \"matmul\": {}"), "matmul: expected an array"));
  EXPECT_TRUE(refused(calibrated(mm(R"({"weight": "q4_0", "tokens": 1, )" + g +
                                    R"(, "read_gbps": {"value": 0, "source": "measured"}})")),
                      "matmul[0].read_gbps"));
  EXPECT_TRUE(refused(calibrated(R"(, "attention": [{"tokens": 1, )" + g + "}]"), "missing 'kv'"));
  EXPECT_TRUE(refused(calibrated(R"(, "attention": [{"tokens": 1, "kv": 1, "form": "flash", )" + g + "}]"),
                      "attention[0].form: expected \"fused\" or \"matmuls\""));
  EXPECT_TRUE(refused(calibrated(R"(, "attention": [{"tokens": 1, "kv": 1, "form": 2, )" + g + "}]"), "form: expected a string"));
  EXPECT_TRUE(refused(calibrated(R"(, "launch_us": {"value": -1, "source": "measured"})"), "launch_us: value -1"));
  EXPECT_TRUE(refused(calibrated(R"(, "op_us": {"value": -1, "source": "measured"})"), "op_us: value -1"));
  // The calibration block: required in calibrated profiles, refused in published ones.
  std::string no_block = minimal();
  no_block.replace(no_block.find("\"origin\": \"published\""), 21, "\"origin\": \"calibrated\"");
  EXPECT_TRUE(refused(no_block, "needs 'calibration'"));
  EXPECT_TRUE(refused(minimal("", "", R"("calibration": {"machine": "m", "build": "b", "created": 1},)"), "only calibrated profiles"));
  EXPECT_TRUE(refused(calibrated("", R"("calibration": {"machine": "m", "build": "b", "created": 0},)"), "calibration.created"));
  EXPECT_TRUE(refused(calibrated("", R"("calibration": {"machine": "", "build": "b", "created": 5},)"), "calibration.machine"));
  EXPECT_TRUE(refused(calibrated("", R"("calibration": {"machine": "m", "build": "b", "created": 5, "seconds": -1},)"),
                      "calibration.seconds"));
  // A calibrated profile may lack power figures (no sensor, no stand-in); a published one may not.
  std::string t = calibrated();
  const std::string active = "\"active_w\": {\"value\": 2, \"source\": \"s\"}";
  const std::string clock = "\"max_ghz\": {\"value\": 2, \"source\": \"s\"}";
  t.replace(t.find(active), active.size(), clock);
  Result<DeviceProfile> p = parse_device_profile(t, "x");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_FALSE(p->devices[0].active_w.known());
  EXPECT_TRUE(p->power_model().devices.empty());  // the estimate does not invent a figure
  std::string published = minimal();
  published.replace(published.find(active), active.size(), clock);
  EXPECT_TRUE(refused(published, "missing 'active_w'"));
}

TEST(DeviceProfile, RandomDamageNeverCrashes) {
  const std::string base = builtin_text("rk3566");
  ASSERT_FALSE(base.empty());
  const unsigned seed0 = std::random_device{}();
  int accepted = 0;
  for (unsigned s = 0; s < 300; ++s) {
    std::mt19937 rng(seed0 + s);
    std::string t = base;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % t.size();
      switch (rng() % 4) {
        case 0: t[at] = static_cast<char>(rng() % 256); break;
        case 1: t.erase(at, 1 + rng() % 16); break;
        case 2: t.insert(t.begin() + static_cast<std::ptrdiff_t>(at), 1 + rng() % 4, "{}[]\",:0e-"[rng() % 10]); break;
        case 3: t.resize(at); break;
      }
      if (t.empty()) t.assign(1, 'x');
    }
    Result<DeviceProfile> p = parse_device_profile(t, "damaged");
    if (p.ok()) ++accepted;  // damage inside a note can leave a valid profile
    else EXPECT_FALSE(p.status().message().empty()) << "seed " << seed0 + s;
  }
  EXPECT_LT(accepted, 300);
}

TEST(DeviceProfile, LoadsByNameOrFileAndNamesTheKnownOnes) {
  Result<DeviceProfile> bad = load_device_profile("rk9999");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("rk3566"), std::string::npos) << bad.status().message();
  const std::string path = (std::filesystem::temp_directory_path() / ("nm_profile_" + std::to_string(std::random_device{}()) + ".json")).string();
  std::ofstream(path) << minimal();
  Result<DeviceProfile> f = load_device_profile(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->name, "t");
  EXPECT_EQ(load_device_profile("/nonexistent/p.json").status().code(), ErrorCode::io_error);
}

TEST(DeviceProfile, MachineMatchFromTheDeviceTree) {
  energy::testing::FakeSysfs fs;
  EXPECT_EQ(builtin_profile_for_machine(fs.root()), "");
  fs.write("proc/device-tree/compatible", std::string("radxa,rock-3c\0rockchip,rk3566\0", 30));
  EXPECT_EQ(builtin_profile_for_machine(fs.root()), "rk3566");
  fs.write("proc/device-tree/compatible", std::string("radxa,rock-5b\0rockchip,rk3588\0", 30));
  EXPECT_EQ(builtin_profile_for_machine(fs.root()), "rk3588");
  fs.write("proc/device-tree/compatible", std::string("acme,board\0acme,soc\0", 20));
  EXPECT_EQ(builtin_profile_for_machine(fs.root()), "");
}

}  // namespace
}  // namespace nm
