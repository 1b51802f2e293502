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
  auto refused = [](const std::string& text, const std::string& needle) {
    Result<DeviceProfile> p = parse_device_profile(text, "x");
    if (p.ok()) return ::testing::AssertionFailure() << "accepted: " << text.substr(0, 160);
    if (p.status().message().find(needle) == std::string::npos)
      return ::testing::AssertionFailure() << p.status().message() << " (wanted '" << needle << "')";
    return ::testing::AssertionSuccess();
  };
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

TEST(DeviceProfile, CalibratedProfilesMayUseMeasured) {
  std::string t = minimal(", \"int8_gops\": {\"value\": 99, \"source\": \"measured\"}");
  t.replace(t.find("\"origin\": \"published\""), 21, "\"origin\": \"calibrated\"");
  Result<DeviceProfile> p = parse_device_profile(t, "cal");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->devices[0].int8_gops.source, "measured");
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
