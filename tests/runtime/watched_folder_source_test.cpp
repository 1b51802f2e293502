// The watched camera folder (runtime/watched_folder_source.h): the files already there in
// name order, then files as they arrive (written and closed, or moved in; hidden names and
// names already seen skipped), a line asks about the latest frame again, the end of the
// line input ends the stream, max_frames stops it; a path that is no folder is refused.
#include "runtime/watched_folder_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "demo_models.h"

namespace nm {
namespace {

namespace fs = std::filesystem;

struct Folder {
  fs::path dir;
  explicit Folder(const std::string& tag = "") : dir(fs::temp_directory_path() / ("nm-watched-" + std::to_string(::getpid()) + tag)) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Folder() { fs::remove_all(dir); }
  void add(const std::string& name, const char* scene = "scene_3") {
    fs::copy_file(test::kModels + "samples/" + scene + ".png", dir / name, fs::copy_options::overwrite_existing);
  }
};

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe(fds), 0); }
  ~Pipe() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  void say(const std::string& line) { EXPECT_EQ(::write(fds[1], line.data(), line.size()), (ssize_t)line.size()); }
  void close_writer() {
    ::close(fds[1]);
    fds[1] = -1;
  }
};

std::string next_name(FrameSource& s, uint64_t want_index) {
  std::optional<Frame> f = s.next();
  if (!f) return "(end)";
  EXPECT_EQ(f->index, want_index);
  EXPECT_TRUE(f->image.ok()) << f->name << ": " << f->image.status().to_string();
  return f->name;
}

TEST(WatchedFolderSource, ExistingFilesThenArrivalsThenLinesUntilTheEnd) {
  Folder folder;
  folder.add("b.png");
  folder.add("a.png", "scene_7");
  Pipe lines;
  auto src = open_watched_folder_source(folder.dir.string(), lines.fds[0]);
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  FrameSource& s = *src.value();
  EXPECT_EQ(next_name(s, 0), "a.png");
  EXPECT_EQ(next_name(s, 1), "b.png");
  // Arrivals: a hidden file is no frame until it is moved in; rewriting a name already
  // seen asks nothing; not a regular file: nothing.
  folder.add(".c.png");
  folder.add("a.png");
  fs::create_directory(folder.dir / "sub");
  fs::rename(folder.dir / ".c.png", folder.dir / "c.png");
  EXPECT_EQ(next_name(s, 2), "c.png");
  lines.say("again?\n");
  EXPECT_EQ(next_name(s, 3), "c.png, asked again");
  lines.close_writer();
  EXPECT_FALSE(s.next().has_value());
  EXPECT_FALSE(s.next().has_value());  // and stays ended
}

TEST(WatchedFolderSource, MaxFramesAndBadFolders) {
  Folder folder;
  folder.add("a.png");
  folder.add("b.png");
  auto src = open_watched_folder_source(folder.dir.string(), -1, 1);
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  EXPECT_EQ(next_name(*src.value(), 0), "a.png");
  EXPECT_FALSE(src.value()->next().has_value());
  // A line before any frame asks nothing; the end of input ends an empty folder's stream.
  Folder empty("-empty");
  Pipe lines;
  auto none = open_watched_folder_source(empty.dir.string(), lines.fds[0]);
  ASSERT_TRUE(none.ok());
  lines.say("hello\n");
  lines.close_writer();
  EXPECT_FALSE(none.value()->next().has_value());
  auto bad = open_watched_folder_source((folder.dir / "a.png").string(), -1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not a folder"), std::string::npos);
  EXPECT_FALSE(open_watched_folder_source("/no/such/folder", -1).ok());
}

}  // namespace
}  // namespace nm
