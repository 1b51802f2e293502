// Vision encoder benchmark: encode time per image for an mmproj file (e.g. a generated
// SigLIP-so400m-shaped one: tools/make_tiny_mmproj.py --kind siglip-mlp --image-size 384
// --patch-size 14 --n-embd 1152 --n-ff 4304 --n-layer 27 --n-head 16 --n-embd-llm 2048)
// and the GFLOP/s that implies (the brick's own count: MmprojModel::encoder_flops), as a
// fraction of this machine's f32 FMA peak measured in the same run. Runs the encoder
// through the runtime's vision brick (ImageEncoder), as the pipeline does.
// Usage: bench_vision MMPROJ [--threads N] [--reps N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bricks/vision/mmproj.h"
#include "kernels/roofline.h"
#include "runtime/image_encoder.h"

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MMPROJ [--threads N] [--reps N]\n", argv[0]);
    return 2;
  }
  int threads = 2, reps = 3;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
  }
  auto m = nm::MmprojModel::load(argv[1]);
  if (!m.ok()) {
    std::fprintf(stderr, "%s\n", m.status().to_string().c_str());
    return 1;
  }
  const nm::VisionHparams& hp = m.value()->hparams();
  const double t0 = now_s();
  auto enc = nm::ImageEncoder::create(*m.value(), {});
  if (!enc.ok()) {
    std::fprintf(stderr, "%s\n", enc.status().to_string().c_str());
    return 1;
  }
  const double t_build = now_s() - t0;
  nm::EncoderInput in;
  in.width = in.height = hp.image_size;
  in.chw.resize((size_t)3 * hp.image_size * hp.image_size);
  for (size_t i = 0; i < in.chw.size(); ++i) in.chw[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
  nm::ThreadPool pool(threads);
  std::vector<float> out;
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t = now_s();
    if (nm::Status s = enc.value()->encoder().encode(in, pool, out); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.to_string().c_str());
      return 1;
    }
    best = std::min(best, now_s() - t);
  }
  const double flops = m.value()->encoder_flops(hp.image_size, hp.image_size);
  const double peak = nm::measure_fma_peak(pool, nm::best_isa());
  std::printf("vision %s+%s %dx%d patch %d width %d layers %d/%d threads %d: build %.2f s, encode %.3f s/image, "
              "%.1f GFLOP, %.1f GFLOP/s = %.0f%% of f32 FMA peak (%.1f GFLOP/s, %s), %zu tokens\n",
              m.value()->encoder_name(), hp.projector == nm::ProjectorKind::mlp ? "mlp" : "idefics3", hp.image_size,
              hp.image_size, hp.patch_size, hp.n_embd, hp.n_layer_run, hp.n_layer, threads, t_build, best, flops * 1e-9,
              flops * 1e-9 / best, 100 * flops / best / peak, peak * 1e-9, nm::isa_name(nm::best_isa()),
              out.size() / (size_t)hp.n_embd_out);
  return 0;
}
