// Where a stream's pictures come from: a folder of image files (in name order), a video
// device (V4L2: /dev/videoN, YUYV or MJPEG frames converted to RGB), or frames pushed by
// the application (the C API). A frame that cannot be read carries its error, so the
// stream answers the other frames and reports that one.
// Thread-safety: a source is read by one thread; PushSource::push/close may be called
// from any thread while another reads.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/image.h"
#include "core/status.h"

namespace nm {

struct Frame {
  uint64_t index = 0;    // 0, 1, 2, ... in arrival order
  std::string name;      // file name, "video0 frame 12", or the application's label
  Result<Image> image = error(ErrorCode::invalid_argument, "no image");
};

// Which frames a reader will use, by index (a stream asking every K-th frame, a throttled
// one asking fewer).
using FrameWanted = std::function<bool(uint64_t index)>;

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // The next frame, or nullopt at the end of the stream.
  virtual std::optional<Frame> next() = 0;
  // The next frame, its picture decoded only when wanted(index): a frame the reader skips
  // comes with its index and name and image = not_decoded(), so that skipping costs no
  // decoding. Sources that decode (files, a camera) override it; by default every frame is
  // decoded (frames handed over already decoded).
  virtual std::optional<Frame> next_if(const FrameWanted& wanted) {
    (void)wanted;
    return next();
  }
};

// The image of a frame skipped by next_if.
Status not_decoded();

// Every regular file of `dir` (sorted by name; subfolders and hidden files skipped) is a
// frame; one that is not a readable JPEG/PNG/BMP image gives a frame with its error.
// max_frames > 0 stops after that many. Error when dir is not a readable folder or holds
// no file.
Result<std::unique_ptr<FrameSource>> open_folder_source(const std::string& dir, int max_frames = 0);

// A V4L2 capture device (e.g. /dev/video0), streaming max_frames frames (0 = until the
// device stops). Error when it is not a video capture device or offers neither YUYV nor
// MJPEG.
Result<std::unique_ptr<FrameSource>> open_v4l2_source(const std::string& device, int max_frames = 0);

// A folder or a device, chosen by what `path` is (a character device: V4L2).
Result<std::unique_ptr<FrameSource>> open_frame_source(const std::string& path, int max_frames = 0);

// The camera's picture now, for a question asked now (`nanomind assist`): a folder's last
// image in name order (a camera that writes numbered frames into it; a file that cannot
// be read yet, e.g. half written, gives way to the one before), or one frame captured from
// a V4L2 device. Error when there is none.
Result<Frame> grab_frame(const std::string& camera);

// Frames handed over by the application; next() waits for one until close().
class PushSource final : public FrameSource {
 public:
  void push(std::string name, Result<Image> image);
  void close();
  std::optional<Frame> next() override;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Frame> frames_;
  uint64_t next_index_ = 0;
  bool closed_ = false;
};

// Frames from a list of images in memory (benchmarks), `repeat` times round.
class ListSource final : public FrameSource {
 public:
  ListSource(std::vector<Image> images, int n_frames) : images_(std::move(images)), n_frames_(n_frames) {}
  std::optional<Frame> next() override;

 private:
  std::vector<Image> images_;
  int n_frames_;
  uint64_t at_ = 0;
};

}  // namespace nm
