// V4L2 capture (Linux video devices such as USB cameras): memory-mapped streaming I/O,
// YUYV (4:2:2, converted with BT.601 limited-range coefficients) or MJPEG (decoded by the
// image decoder). No camera exists on the development machine: this path is compiled
// everywhere but only its refusals (a file that is not a capture device) are tested here.
#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/frame_source.h"

namespace nm {
namespace {

int xioctl(int fd, unsigned long req, void* arg) {
  int r;
  do r = ::ioctl(fd, req, arg);
  while (r < 0 && errno == EINTR);
  return r;
}

uint8_t clamp_u8(int v) { return (uint8_t)std::clamp(v, 0, 255); }

// YUYV: Y0 U Y1 V per two pixels.
Image yuyv_to_rgb(const uint8_t* p, int w, int h, size_t bytes_per_line) {
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize((size_t)w * h * 3);
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = p + (size_t)y * bytes_per_line;
    uint8_t* out = img.rgb.data() + (size_t)y * w * 3;
    for (int x = 0; x + 1 < w; x += 2) {
      const int u = row[x * 2 + 1] - 128, v = row[x * 2 + 3] - 128;
      for (int k = 0; k < 2; ++k) {
        const int c = 298 * (row[(x + k) * 2] - 16);
        out[(x + k) * 3 + 0] = clamp_u8((c + 409 * v + 128) >> 8);
        out[(x + k) * 3 + 1] = clamp_u8((c - 100 * u - 208 * v + 128) >> 8);
        out[(x + k) * 3 + 2] = clamp_u8((c + 516 * u + 128) >> 8);
      }
    }
  }
  return img;
}

class V4l2Source final : public FrameSource {
 public:
  ~V4l2Source() override {
    if (streaming_) {
      v4l2_buf_type t = V4L2_BUF_TYPE_VIDEO_CAPTURE;
      xioctl(fd_, VIDIOC_STREAMOFF, &t);
    }
    for (auto& [p, n] : buffers_) ::munmap(p, n);
    if (fd_ >= 0) ::close(fd_);
  }

  static Result<std::unique_ptr<FrameSource>> open(const std::string& device, int max_frames) {
    std::unique_ptr<V4l2Source> s(new V4l2Source());
    s->name_ = device.substr(device.find_last_of('/') + 1);
    s->max_frames_ = max_frames;
    s->fd_ = ::open(device.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (s->fd_ < 0) return error(ErrorCode::io_error, "cannot open '" + device + "': " + std::strerror(errno));
    v4l2_capability cap{};
    if (xioctl(s->fd_, VIDIOC_QUERYCAP, &cap) < 0 || !(cap.capabilities & V4L2_CAP_VIDEO_CAPTURE) ||
        !(cap.capabilities & V4L2_CAP_STREAMING)) {
      return error(ErrorCode::invalid_argument, "'" + device + "' is not a V4L2 video capture device with streaming I/O");
    }
    v4l2_format fmt{};
    fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    bool ok = false;
    for (uint32_t pix : {V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_MJPEG}) {
      fmt.fmt.pix.width = 640;
      fmt.fmt.pix.height = 480;
      fmt.fmt.pix.pixelformat = pix;
      fmt.fmt.pix.field = V4L2_FIELD_NONE;
      if (xioctl(s->fd_, VIDIOC_S_FMT, &fmt) == 0 && fmt.fmt.pix.pixelformat == pix) {
        ok = true;
        break;
      }
    }
    if (!ok) return error(ErrorCode::unsupported, "'" + device + "' offers neither YUYV nor MJPEG frames");
    s->format_ = fmt.fmt.pix;
    v4l2_requestbuffers req{};
    req.count = 4;
    req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    req.memory = V4L2_MEMORY_MMAP;
    if (xioctl(s->fd_, VIDIOC_REQBUFS, &req) < 0 || req.count < 2) {
      return error(ErrorCode::io_error, "'" + device + "': cannot get capture buffers");
    }
    for (uint32_t i = 0; i < req.count; ++i) {
      v4l2_buffer b{};
      b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
      b.memory = V4L2_MEMORY_MMAP;
      b.index = i;
      if (xioctl(s->fd_, VIDIOC_QUERYBUF, &b) < 0) return error(ErrorCode::io_error, "'" + device + "': VIDIOC_QUERYBUF failed");
      void* p = ::mmap(nullptr, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd_, b.m.offset);
      if (p == MAP_FAILED) return error(ErrorCode::io_error, "'" + device + "': cannot map a capture buffer");
      s->buffers_.emplace_back(p, b.length);
      if (xioctl(s->fd_, VIDIOC_QBUF, &b) < 0) return error(ErrorCode::io_error, "'" + device + "': VIDIOC_QBUF failed");
    }
    v4l2_buf_type t = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (xioctl(s->fd_, VIDIOC_STREAMON, &t) < 0) return error(ErrorCode::io_error, "'" + device + "': cannot start streaming");
    s->streaming_ = true;
    return std::unique_ptr<FrameSource>(std::move(s));
  }

  std::optional<Frame> next() override { return next_if(nullptr); }
  std::optional<Frame> next_if(const FrameWanted& wanted) override {
    if (max_frames_ > 0 && at_ >= (uint64_t)max_frames_) return std::nullopt;
    // A device that keeps failing ends the stream instead of producing errors forever.
    if (failures_in_a_row_ >= kMaxFailuresInARow) return std::nullopt;
    const bool decode = !wanted || wanted(at_);
    std::optional<Frame> f = read_frame(decode);
    // A skipped frame's not_decoded() is no failure of the device; one it could not deliver is.
    const bool failed = f && !f->image.ok() && (decode || f->image.status().code() == ErrorCode::io_error);
    failures_in_a_row_ = failed ? failures_in_a_row_ + 1 : 0;
    return f;
  }

 private:
  static constexpr int kMaxFailuresInARow = 8;

  // decode = false: the frame is dequeued (the device moves on) but not converted.
  std::optional<Frame> read_frame(bool decode) {
    Frame f;
    f.index = at_;
    f.name = name_ + " frame " + std::to_string(at_);
    ++at_;
    pollfd pfd{fd_, POLLIN, 0};
    const int r = ::poll(&pfd, 1, 5000);
    if (r <= 0) {
      if (r == 0) return std::nullopt;  // the device stopped sending: end of the stream
      f.image = error(ErrorCode::io_error, name_ + ": poll failed: " + std::strerror(errno));
      return f;
    }
    v4l2_buffer b{};
    b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    b.memory = V4L2_MEMORY_MMAP;
    if (xioctl(fd_, VIDIOC_DQBUF, &b) < 0 || b.index >= buffers_.size()) {
      f.image = error(ErrorCode::io_error, name_ + ": cannot dequeue a frame: " + std::strerror(errno));
      return f;
    }
    const auto* p = static_cast<const uint8_t*>(buffers_[b.index].first);
    const size_t n = std::min<size_t>(b.bytesused, buffers_[b.index].second);
    if (!decode) {
      f.image = not_decoded();
    } else if (format_.pixelformat == V4L2_PIX_FMT_YUYV) {
      const size_t line = format_.bytesperline ? format_.bytesperline : (size_t)format_.width * 2;
      if (n < line * format_.height) {
        f.image = error(ErrorCode::io_error, name_ + ": short frame (" + std::to_string(n) + " bytes)");
      } else {
        f.image = yuyv_to_rgb(p, (int)format_.width, (int)format_.height, line);
      }
    } else {
      f.image = decode_image(p, n, f.name);
    }
    xioctl(fd_, VIDIOC_QBUF, &b);
    return f;
  }

  V4l2Source() = default;
  int failures_in_a_row_ = 0;
  int fd_ = -1;
  bool streaming_ = false;
  std::string name_;
  int max_frames_ = 0;
  uint64_t at_ = 0;
  v4l2_pix_format format_{};
  std::vector<std::pair<void*, size_t>> buffers_;
};

}  // namespace

Result<std::unique_ptr<FrameSource>> open_v4l2_source(const std::string& device, int max_frames) {
  return V4l2Source::open(device, max_frames);
}

}  // namespace nm
