// A camera folder watched for new frames (see watched_folder_source.h).
#include "runtime/watched_folder_source.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <vector>

#include "runtime/wake_events.h"

namespace nm {
namespace {

namespace fs = std::filesystem;

bool hidden(const std::string& name) { return name.empty() || name[0] == '.'; }

class WatchedFolderSource final : public FrameSource {
 public:
  WatchedFolderSource(std::unique_ptr<WakeEvents> events, std::vector<fs::path> initial, int max_frames)
      : events_(std::move(events)), initial_(std::move(initial)), max_frames_(max_frames) {
    for (const fs::path& p : initial_) seen_.insert(p.filename().string());
  }

  std::optional<Frame> next() override { return next_if(nullptr); }
  std::optional<Frame> next_if(const FrameWanted& wanted) override {
    wanted_ = wanted;
    if (ended_ || (max_frames_ > 0 && index_ >= (uint64_t)max_frames_)) return std::nullopt;
    if (at_ < initial_.size()) return frame(initial_[at_++], "");
    for (;;) {
      Result<WakeEvent> e = events_->wait(-1);  // asleep until something happens
      if (!e.ok()) {  // the watch itself failed: reported as a frame, then the stream ends
        ended_ = true;
        Frame f;
        f.index = index_++;
        f.name = "(watching the folder)";
        f.image = e.status();
        return f;
      }
      switch (e->kind) {
        case WakeEvent::Kind::file: {
          const fs::path path(e->text);
          const std::string name = path.filename().string();
          std::error_code ec;
          if (hidden(name) || !fs::is_regular_file(path, ec) || !seen_.insert(name).second) continue;
          return frame(path, "");
        }
        case WakeEvent::Kind::line:
          if (latest_.empty()) continue;  // nothing to ask about yet
          return frame(latest_, ", asked again");
        case WakeEvent::Kind::end_of_input:
          ended_ = true;
          return std::nullopt;
        case WakeEvent::Kind::notify:
        case WakeEvent::Kind::timeout:
          continue;
      }
    }
  }

 private:
  Frame frame(const fs::path& path, const char* suffix) {
    Frame f;
    f.index = index_++;
    f.name = path.filename().string() + suffix;
    f.image = !wanted_ || wanted_(f.index) ? load_image(path.string()) : Result<Image>(not_decoded());
    latest_ = path;
    return f;
  }

  FrameWanted wanted_;  // of the next_if call in progress
  std::unique_ptr<WakeEvents> events_;
  std::vector<fs::path> initial_;
  size_t at_ = 0;
  int max_frames_;
  uint64_t index_ = 0;
  std::set<std::string> seen_;
  fs::path latest_;
  bool ended_ = false;
};

}  // namespace

Result<std::unique_ptr<FrameSource>> open_watched_folder_source(const std::string& dir, int lines_fd, int max_frames) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return error(ErrorCode::io_error, "'" + dir + "' is not a folder (--watch needs one)");
  NM_ASSIGN_OR_RETURN(std::unique_ptr<WakeEvents> events, WakeEvents::create());
  // Watch first, then list: a file arriving in between is seen by both and asked once.
  NM_RETURN_IF_ERROR(events->watch_folder(dir));
  if (lines_fd >= 0) NM_RETURN_IF_ERROR(events->watch_lines(lines_fd));
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!hidden(it->path().filename().string()) && it->is_regular_file(ec)) files.push_back(it->path());
  }
  if (ec) return error(ErrorCode::io_error, "cannot read the folder '" + dir + "': " + ec.message());
  std::sort(files.begin(), files.end());
  return std::unique_ptr<FrameSource>(new WatchedFolderSource(std::move(events), std::move(files), max_frames));
}

}  // namespace nm
