#include "bricks/vision/image_resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace nm {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // fixed-point weights, as Pillow's 8-bit path

double filter_value(ResizeFilter f, double x) {
  x = std::fabs(x);
  switch (f) {
    case ResizeFilter::nearest: return x < 0.5 ? 1.0 : 0.0;  // unused: nearest is sampled directly
    case ResizeFilter::bilinear: return x < 1.0 ? 1.0 - x : 0.0;
    case ResizeFilter::lanczos: {  // sinc windowed by a 3-lobe sinc, as Pillow's LANCZOS
      auto sinc = [](double v) { return v == 0.0 ? 1.0 : std::sin(v * M_PI) / (v * M_PI); };
      return x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0;
    }
    case ResizeFilter::bicubic: {
      const double a = -0.5;  // Keys' cubic with a = -0.5, as Pillow
      if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
      if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
      return 0.0;
    }
  }
  return 0.0;
}

double filter_support(ResizeFilter f) {
  return f == ResizeFilter::lanczos ? 3.0 : f == ResizeFilter::bicubic ? 2.0 : 1.0;
}

// For every output index: the first input index and integer weights over a window.
struct Coefficients {
  int window = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;  // out_size * window
};

Coefficients compute_coefficients(int in_size, int out_size, ResizeFilter f) {
  const double scale = (double)in_size / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = filter_support(f) * filterscale;
  Coefficients c;
  c.window = (int)std::ceil(support) * 2 + 1;
  c.first.resize((size_t)out_size);
  c.count.resize((size_t)out_size);
  c.weights.assign((size_t)out_size * (size_t)c.window, 0);
  std::vector<double> w((size_t)c.window);
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    int lo = std::max((int)(center - support + 0.5), 0);
    int hi = std::min((int)(center + support + 0.5), in_size);
    const int n = hi - lo;
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += w[(size_t)i] = filter_value(f, (i + lo - center + 0.5) / filterscale);
    for (int i = 0; i < n; ++i) {
      const double v = sum != 0 ? w[(size_t)i] / sum : 0;
      c.weights[(size_t)o * c.window + i] = (int32_t)(v < 0 ? -0.5 + v * (1 << kPrecisionBits)
                                                            : 0.5 + v * (1 << kPrecisionBits));
    }
    c.first[(size_t)o] = lo;
    c.count[(size_t)o] = n;
  }
  return c;
}

uint8_t clip8(int64_t acc) {
  const int64_t v = acc >> kPrecisionBits;
  return (uint8_t)std::clamp<int64_t>(v, 0, 255);
}

// One separable pass along x (horizontal) or y.
Image resample_pass(const Image& in, int out_size, ResizeFilter f, bool horizontal) {
  const Coefficients c = compute_coefficients(horizontal ? in.width : in.height, out_size, f);
  Image out;
  out.width = horizontal ? out_size : in.width;
  out.height = horizontal ? in.height : out_size;
  out.rgb.resize((size_t)out.width * (size_t)out.height * 3);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      const int o = horizontal ? x : y;
      const int32_t* k = &c.weights[(size_t)o * c.window];
      for (int ch = 0; ch < 3; ++ch) {
        int64_t acc = 1 << (kPrecisionBits - 1);
        for (int i = 0; i < c.count[(size_t)o]; ++i) {
          const int src = c.first[(size_t)o] + i;
          acc += (int64_t)(horizontal ? in.at(src, y, ch) : in.at(x, src, ch)) * k[i];
        }
        out.rgb[((size_t)y * out.width + x) * 3 + ch] = clip8(acc);
      }
    }
  }
  return out;
}

Image resize_nearest(const Image& in, int w, int h) {
  Image out;
  out.width = w;
  out.height = h;
  out.rgb.resize((size_t)w * (size_t)h * 3);
  for (int y = 0; y < h; ++y) {
    const int sy = std::min((int)((y + 0.5) * in.height / h), in.height - 1);
    for (int x = 0; x < w; ++x) {
      const int sx = std::min((int)((x + 0.5) * in.width / w), in.width - 1);
      for (int ch = 0; ch < 3; ++ch) out.rgb[((size_t)y * w + x) * 3 + ch] = in.at(sx, sy, ch);
    }
  }
  return out;
}

}  // namespace

Image resize_image(const Image& src, int out_width, int out_height, ResizeFilter filter) {
  if (filter == ResizeFilter::nearest) return resize_nearest(src, out_width, out_height);
  const bool need_h = out_width != src.width;
  const bool need_v = out_height != src.height;
  if (!need_h && !need_v) return src;
  if (need_h && need_v) return resample_pass(resample_pass(src, out_width, filter, true), out_height, filter, false);
  return need_h ? resample_pass(src, out_width, filter, true) : resample_pass(src, out_height, filter, false);
}

}  // namespace nm
