// WakeEvents: a file written into a watched folder, a line on a pipe and a notification
// from another thread each end a wait with what happened; an idle wait costs no CPU time
// (measured with getrusage over the wait, not assumed).
#include "runtime/wake_events.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

namespace nm {
namespace {

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() / ("nm_wake_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

TEST(WakeEvents, FileInAWatchedFolder) {
  TempDir dir;
  auto w = WakeEvents::create();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->watch_folder(dir.path.string()).ok());
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::filesystem::create_directory(dir.path / "subdir");  // directories do not wake it
    std::ofstream(dir.path / "frame-001.jpg") << "jpeg bytes";
  });
  Result<WakeEvent> e = (*w)->wait(10.0);
  writer.join();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->kind, WakeEvent::Kind::file);
  EXPECT_EQ(e->text, (dir.path / "frame-001.jpg").string());
  // Moved in: also a complete file.
  std::ofstream(dir.path.parent_path() / ("nm_wake_tmp_" + dir.path.filename().string())) << "x";
  std::filesystem::rename(dir.path.parent_path() / ("nm_wake_tmp_" + dir.path.filename().string()), dir.path / "moved.jpg");
  e = (*w)->wait(10.0);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->text, (dir.path / "moved.jpg").string());
  EXPECT_FALSE((*w)->watch_folder((dir.path / "missing").string()).ok());
}

TEST(WakeEvents, LinesOnAPipeAndEndOfInput) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  auto w = WakeEvents::create();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->watch_lines(p[0]).ok());
  ASSERT_EQ(write(p[1], "what is this?\nand th", 20), 20);
  Result<WakeEvent> e = (*w)->wait(5.0);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->kind, WakeEvent::Kind::line);
  EXPECT_EQ(e->text, "what is this?");
  EXPECT_EQ((*w)->wait(0.05)->kind, WakeEvent::Kind::timeout);  // half a line does not wake it
  ASSERT_EQ(write(p[1], "is?\n", 4), 4);
  EXPECT_EQ((*w)->wait(5.0)->text, "and this?");
  close(p[1]);
  EXPECT_EQ((*w)->wait(5.0)->kind, WakeEvent::Kind::end_of_input);
  close(p[0]);
}

TEST(WakeEvents, NotifyFromAnotherThreadInOrder) {
  auto w = WakeEvents::create();
  ASSERT_TRUE(w.ok());
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    (*w)->notify("POST /v1/chat/completions");
    (*w)->notify("second");
  });
  Result<WakeEvent> e = (*w)->wait(10.0);
  t.join();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->kind, WakeEvent::Kind::notify);
  EXPECT_EQ(e->text, "POST /v1/chat/completions");
  EXPECT_EQ((*w)->wait(1.0)->text, "second");
}

TEST(WakeEvents, AnIdleWaitTakesNoCpuTime) {
  TempDir dir;
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  auto w = WakeEvents::create();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->watch_folder(dir.path.string()).ok());
  ASSERT_TRUE((*w)->watch_lines(p[0]).ok());
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  Result<WakeEvent> e = (*w)->wait(1.5);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->kind, WakeEvent::Kind::timeout);
  EXPECT_GE(wall, 1.4);
  // Blocked in poll(2): a few system calls, far below 1% of a core (15 ms here).
  EXPECT_LT(cpu, 0.01 * wall) << cpu << " s of CPU in " << wall << " s";
  close(p[0]);
  close(p[1]);
}

}  // namespace
}  // namespace nm
