// Folder, pushed and in-memory frame sources (V4L2: frame_source_v4l2.cpp).
#include "runtime/frame_source.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

namespace nm {
namespace {

namespace fs = std::filesystem;

class FolderSource final : public FrameSource {
 public:
  explicit FolderSource(std::vector<fs::path> files) : files_(std::move(files)) {}
  std::optional<Frame> next() override { return next_if(nullptr); }
  std::optional<Frame> next_if(const FrameWanted& wanted) override {
    if (at_ >= files_.size()) return std::nullopt;
    Frame f;
    f.index = at_;
    f.name = files_[at_].filename().string();
    f.image = !wanted || wanted(f.index) ? load_image(files_[at_].string()) : Result<Image>(not_decoded());
    ++at_;
    return f;
  }

 private:
  std::vector<fs::path> files_;
  size_t at_ = 0;
};

}  // namespace

namespace {

// The folder's frames: regular files, not hidden, in name order.
Result<std::vector<fs::path>> folder_frames(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return error(ErrorCode::io_error, "'" + dir + "' is not a folder");
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || !it->is_regular_file(ec)) continue;
    files.push_back(it->path());
  }
  if (ec) return error(ErrorCode::io_error, "cannot read the folder '" + dir + "': " + ec.message());
  if (files.empty()) return error(ErrorCode::invalid_argument, "the folder '" + dir + "' holds no image file");
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

Result<std::unique_ptr<FrameSource>> open_folder_source(const std::string& dir, int max_frames) {
  NM_ASSIGN_OR_RETURN(std::vector<fs::path> files, folder_frames(dir));
  if (max_frames > 0 && files.size() > (size_t)max_frames) files.resize((size_t)max_frames);
  return std::unique_ptr<FrameSource>(new FolderSource(std::move(files)));
}

Result<std::unique_ptr<FrameSource>> open_frame_source(const std::string& path, int max_frames) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return error(ErrorCode::io_error, "no such folder or video device: '" + path + "'");
  if (S_ISCHR(st.st_mode)) return open_v4l2_source(path, max_frames);
  return open_folder_source(path, max_frames);
}

Result<Frame> grab_frame(const std::string& camera) {
  struct stat st {};
  if (::stat(camera.c_str(), &st) != 0) return error(ErrorCode::io_error, "no such folder or video device: '" + camera + "'");
  if (S_ISCHR(st.st_mode)) {
    NM_ASSIGN_OR_RETURN(std::unique_ptr<FrameSource> dev, open_v4l2_source(camera, 1));
    std::optional<Frame> f = dev->next();
    if (!f) return error(ErrorCode::io_error, "the camera '" + camera + "' gave no frame");
    if (!f->image.ok()) return f->image.status();
    return std::move(*f);
  }
  NM_ASSIGN_OR_RETURN(std::vector<fs::path> files, folder_frames(camera));
  Status first_error;
  for (size_t i = files.size(); i-- > 0;) {
    Frame f;
    f.index = i;
    f.name = files[i].filename().string();
    f.image = load_image(files[i].string());
    if (f.image.ok()) return f;
    if (first_error.ok()) first_error = f.image.status();
  }
  return first_error;
}

void PushSource::push(std::string name, Result<Image> image) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    Frame f;
    f.index = next_index_++;
    f.name = std::move(name);
    f.image = std::move(image);
    frames_.push_back(std::move(f));
  }
  cv_.notify_all();
}

void PushSource::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

std::optional<Frame> PushSource::next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !frames_.empty() || closed_; });
  if (frames_.empty()) return std::nullopt;
  Frame f = std::move(frames_.front());
  frames_.pop_front();
  return f;
}

Status not_decoded() { return error(ErrorCode::invalid_argument, "frame skipped: not decoded"); }

std::optional<Frame> ListSource::next() {
  if (images_.empty() || at_ >= (uint64_t)n_frames_) return std::nullopt;
  Frame f;
  f.index = at_;
  f.name = "frame " + std::to_string(at_);
  f.image = images_[(size_t)(at_ % images_.size())];
  ++at_;
  return f;
}

}  // namespace nm
