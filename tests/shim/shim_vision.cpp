// Vision brick entry points for the reference tests: load an mmproj file (or report why
// it cannot be loaded) and encode a normalised planar image into projected embeddings.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bricks/vision/mmproj.h"
#include "bricks/vision/vision_encoder.h"
#include "tests/shim/shim.h"

namespace {

void copy_message(const std::string& s, char* msg, int cap) {
  if (!msg || cap <= 0) return;
  const size_t n = std::min(s.size(), (size_t)cap - 1);
  std::memcpy(msg, s.data(), n);
  msg[n] = 0;
}

}  // namespace

// 0 if the file loads (and, when n_embd_llm > 0, its projector width matches); else 1
// with the error message in msg.
NM_SHIM int nm_shim_vision_check(const char* path, int n_embd_llm, char* msg, int cap) {
  auto m = nm::MmprojModel::load(path);
  if (!m.ok()) {
    copy_message(m.status().to_string(), msg, cap);
    return 1;
  }
  if (n_embd_llm > 0) {
    nm::Status s = m.value()->check_llm_width(n_embd_llm);
    if (!s.ok()) {
      copy_message(s.to_string(), msg, cap);
      return 1;
    }
  }
  copy_message("", msg, cap);
  return 0;
}

// Encodes chw [3, height, width]; out must hold max_out floats. Writes the token count
// and width. static_shape: only the file's image size is accepted.
NM_SHIM int nm_shim_vision_encode(const char* path, const float* chw, int width, int height, int static_shape,
                                  int n_threads, int isa, float* out, int64_t max_out, int* n_tokens, int* n_embd_out,
                                  char* msg, int cap) {
  auto m = nm::MmprojModel::load(path);
  if (!m.ok()) {
    copy_message(m.status().to_string(), msg, cap);
    return 1;
  }
  nm::VisionEncoderParams p;
  p.static_shape = static_shape != 0;
  if (isa >= 0) p.isa = static_cast<nm::Isa>(isa);
  auto enc = nm::VisionEncoder::create(*m.value(), p);
  if (!enc.ok()) {
    copy_message(enc.status().to_string(), msg, cap);
    return 2;
  }
  nm::EncoderInput in;
  in.width = width;
  in.height = height;
  in.chw.assign(chw, chw + (size_t)3 * width * height);
  nm::ThreadPool pool(n_threads);
  std::vector<float> emb;
  nm::Status s = enc.value()->encode(in, pool, emb);
  if (!s.ok()) {
    copy_message(s.to_string(), msg, cap);
    return 3;
  }
  if ((int64_t)emb.size() > max_out) return 4;
  std::memcpy(out, emb.data(), emb.size() * sizeof(float));
  *n_embd_out = enc.value()->n_embd_out();
  *n_tokens = (int)(emb.size() / (size_t)*n_embd_out);
  copy_message("", msg, cap);
  return 0;
}
