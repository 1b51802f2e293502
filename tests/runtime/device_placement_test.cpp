// --device parsing and device lookup (runtime/device_placement.h).
#include "runtime/device_placement.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nm {
namespace {

TEST(DevicePlacement, ParsesAllAndPerBrickForms) {
  auto none = parse_device_spec("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto all = parse_device_spec("opencl");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->device_for(BrickKind::text), "opencl");
  EXPECT_EQ(all->device_for(BrickKind::vision), "opencl");
  EXPECT_EQ(all->device_for(BrickKind::asr), "opencl");
  auto per = parse_device_spec("text=opencl, vision=cpu:big");
  ASSERT_TRUE(per.ok());
  EXPECT_EQ(per->device_for(BrickKind::text), "opencl");
  EXPECT_EQ(per->device_for(BrickKind::vision), "cpu:big");
  EXPECT_EQ(per->device_names(), (std::vector<std::string>{"cpu:big", "opencl"}));
  auto one = parse_device_spec("vision=cpu:little");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->device_for(BrickKind::text), "");
  EXPECT_EQ(one->device_for(BrickKind::vision), "cpu:little");
  // Every brick kind can be named, also those a pipeline may not have loaded.
  auto audio = parse_device_spec("audio=cpu:1,asr=cpu:0");
  ASSERT_TRUE(audio.ok());
  EXPECT_EQ(audio->device_for(BrickKind::asr), "cpu:0");
}

TEST(DevicePlacement, RejectsMalformedSpecs) {
  for (const char* bad : {"speaker=opencl", "text=", "=opencl", "text=opencl,text=cpu", "opencl,cpu", "text=opencl,,"}) {
    auto r = parse_device_spec(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), ErrorCode::invalid_argument) << bad;
    }
  }
  auto r = parse_device_spec("speaker=opencl");
  EXPECT_NE(r.status().message().find("vision, text, audio, asr, tts"), std::string::npos) << r.status().message();
}

TEST(DevicePlacement, ResolvesNamesAndListsDevicesOnError) {
  std::vector<std::string> lines;
  DeviceRegistryOptions o;
  o.log = [&](const std::string& l) { lines.push_back(l); };
  DeviceRegistry reg = DeviceRegistry::create(o);
  auto def = resolve_device(reg, "");
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(*def, nullptr);
  auto cpu = resolve_device(reg, "cpu");
  ASSERT_TRUE(cpu.ok());
  ASSERT_NE(*cpu, nullptr);
  EXPECT_EQ((*cpu)->kind(), DeviceKind::cpu);
  auto bad = resolve_device(reg, "npu:7");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("npu:7"), std::string::npos);
  EXPECT_NE(bad.status().message().find(reg.cpu().name()), std::string::npos) << bad.status().message();
  // "opencl": the device when there is one, else the CPU (nullptr) with one log line.
  auto cl = resolve_device(reg, "opencl");
  ASSERT_TRUE(cl.ok());
  if (*cl == nullptr) {
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("CPU"), std::string::npos) << lines[0];
  } else {
    EXPECT_EQ((*cl)->name().rfind("opencl", 0), 0u);
  }
}

}  // namespace
}  // namespace nm
