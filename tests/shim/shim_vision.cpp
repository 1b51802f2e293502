// Vision brick entry points for the reference tests: load an mmproj file (or report why
// it cannot be loaded) and encode a normalised planar image into projected embeddings.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bricks/text/text_context.h"
#include "bricks/text/text_model.h"
#include "bricks/vision/mmproj.h"
#include "bricks/vision/image_embedder.h"
#include "bricks/vision/vision_encoder.h"
#include "core/image.h"
#include "runtime/multimodal_prompt.h"
#include "tests/shim/shim.h"

namespace {

void copy_message(const std::string& s, char* msg, int cap) {
  if (!msg || cap <= 0) return;
  const size_t n = std::min(s.size(), (size_t)cap - 1);
  std::memcpy(msg, s.data(), n);
  msg[n] = 0;
}

// An mmproj file's vision brick and an image for it; the model outlives the embedder.
struct EmbedderCase {
  std::unique_ptr<nm::MmprojModel> model;
  std::unique_ptr<nm::ImageEmbedder> embedder;
  nm::Image image;
};

nm::Result<EmbedderCase> embedder_case(const char* path, const uint8_t* rgb, int width, int height, int static_w,
                                       int static_h) {
  EmbedderCase c;
  NM_ASSIGN_OR_RETURN(c.model, nm::MmprojModel::load(path));
  nm::ImageEmbedderParams p;
  p.static_width = static_w;
  p.static_height = static_h;
  NM_ASSIGN_OR_RETURN(c.embedder, nm::ImageEmbedder::create(*c.model, p));
  NM_ASSIGN_OR_RETURN(c.image, nm::image_from_rgb(rgb, width, height));
  return c;
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

// Splits a prompt at "<__image__>" with the LLM's tokenizer: out gets the tokens, and
// -(first + 1) for each image part (its first embedding; -1 for a whole image). add_bos
// as tokenize_with_images; idefics3: SmolVLM's markers, split into rows x cols tiles of
// tile_tokens each (0 x 0: one image). Returns 1 with msg on error.
NM_SHIM int nm_shim_vision_split(const char* llm_path, const char* text, int n_images, int add_bos, int idefics3, int rows,
                                 int cols, int tile_tokens, int32_t* out, int cap, int* n_out, char* msg, int msg_cap) {
  auto m = nm::TextModel::load(llm_path);
  if (!m.ok()) return 2;
  nm::ImagePlan plan;
  plan.tile_tokens = std::max(tile_tokens, 1);
  if (rows > 0 && cols > 0) {
    plan.kind = nm::ImagePlan::Kind::split;
    plan.rows = rows;
    plan.cols = cols;
  }
  plan.n_tokens = (rows * cols + 1) * plan.tile_tokens;
  const nm::ImageLayout layout =
      nm::image_layout_for(idefics3 ? nm::ProjectorKind::idefics3 : nm::ProjectorKind::mlp, plan);
  const std::vector<nm::ImageLayout> layouts((size_t)std::max(n_images, 0), layout);
  auto parts = nm::tokenize_with_images(m.value()->tokenizer(), text, "<__image__>", layouts, add_bos != 0);
  if (!parts.ok()) {
    copy_message(parts.status().to_string(), msg, msg_cap);
    return 1;
  }
  int n = 0;
  for (const nm::PromptPart& p : parts.value()) {
    if (p.image >= 0) {
      if (n < cap) out[n] = -(p.first + 1);
      ++n;
    }
    for (int32_t t : p.tokens) {
      if (n < cap) out[n] = t;
      ++n;
    }
  }
  *n_out = n;
  return n > cap ? 3 : 0;
}

// The whole vision brick on an RGB image (ImageEmbedder): out gets n_tokens x n_embd
// floats; plan[0..6] = kind (0 single, 1 anyres, 2 split), n_tokens, tile_tokens,
// n_encodes, tiles_x or cols, tiles_y or rows, 0. static_w/h > 0: static-shape mode.
NM_SHIM int nm_shim_vision_embed_image(const char* path, const uint8_t* rgb, int width, int height, int static_w,
                                       int static_h, int n_threads, float* out, int64_t max_out, int* plan, char* msg,
                                       int cap) {
  auto report = [&](const nm::Status& s, int rc) {
    copy_message(s.to_string(), msg, cap);
    return rc;
  };
  auto c = embedder_case(path, rgb, width, height, static_w, static_h);
  if (!c.ok()) return report(c.status(), 2);
  nm::ThreadPool pool(n_threads);
  nm::ImageEmbedding e;
  if (nm::Status s = c->embedder->embed(c->image, pool, e); !s.ok()) return report(s, 3);
  if ((int64_t)e.data.size() > max_out) return report(nm::error(nm::ErrorCode::out_of_range, "output too small"), 4);
  std::memcpy(out, e.data.data(), e.data.size() * sizeof(float));
  const nm::ImagePlan& pl = e.plan;
  const bool split = pl.kind == nm::ImagePlan::Kind::split;
  const int v[7] = {(int)pl.kind, pl.n_tokens, pl.tile_tokens, pl.n_encodes, split ? pl.cols : pl.grid.tiles_x,
                    split ? pl.rows : pl.grid.tiles_y, 0};
  std::memcpy(plan, v, sizeof v);
  copy_message("", msg, cap);
  return 0;
}

// End to end: prompt tokens with -1 marking where each image (in order) goes, images
// given as n_images normalised chw planes of width x height; n_gen greedy tokens to out.
NM_SHIM int nm_shim_vision_greedy(const char* llm_path, const char* mmproj_path, const int32_t* prompt, int n_prompt,
                                  const float* chw, int n_images, int width, int height, int n_gen, int n_threads,
                                  int32_t* out, char* msg, int cap) {
  auto report = [&](const nm::Status& s, int rc) {
    copy_message(s.to_string(), msg, cap);
    return rc;
  };
  auto llm = nm::TextModel::load(llm_path);
  if (!llm.ok()) return report(llm.status(), 1);
  auto mm = nm::MmprojModel::load(mmproj_path);
  if (!mm.ok()) return report(mm.status(), 1);
  if (nm::Status s = mm.value()->check_llm_width(llm.value()->hparams().n_embd); !s.ok()) return report(s, 1);
  auto enc = nm::VisionEncoder::create(*mm.value(), {});
  if (!enc.ok()) return report(enc.status(), 2);
  nm::TextContextParams tp;
  tp.kv_type = nm::DType::F32;
  auto ctx = nm::TextContext::create(*llm.value(), tp);
  if (!ctx.ok()) return report(ctx.status(), 2);
  nm::ThreadPool pool(n_threads);

  std::vector<std::vector<float>> images((size_t)n_images);
  const size_t plane = (size_t)3 * width * height;
  for (int i = 0; i < n_images; ++i) {
    nm::EncoderInput in;
    in.width = width;
    in.height = height;
    in.chw.assign(chw + plane * i, chw + plane * (i + 1));
    if (nm::Status s = enc.value()->encode(in, pool, images[(size_t)i]); !s.ok()) return report(s, 3);
  }
  std::vector<nm::PromptPart> parts;
  int next_image = 0;
  for (int i = 0; i < n_prompt; ++i) {
    if (prompt[i] < 0) {
      parts.push_back(nm::PromptPart{{}, next_image++});
    } else {
      if (parts.empty() || parts.back().image >= 0) parts.push_back(nm::PromptPart{});
      parts.back().tokens.push_back(prompt[i]);
    }
  }
  nm::TextContext& c = *ctx.value();
  if (nm::Status s = nm::eval_prompt_parts(c, parts, images, pool); !s.ok()) return report(s, 4);
  const int n_vocab = llm.value()->hparams().n_vocab;
  for (int step = 0; step < n_gen; ++step) {
    const float* l = c.logits();
    const int32_t best = (int32_t)(std::max_element(l, l + n_vocab) - l);
    out[step] = best;
    if (step + 1 < n_gen) {
      if (nm::Status s = c.eval_tokens({&best, 1}, pool); !s.ok()) return report(s, 5);
    }
  }
  return 0;
}

// The encoder's input images for an RGB image (ImageEmbedder::tiles_for): n_tiles images
// of tile_w x tile_h packed RGB into out (max_bytes). Returns 1 with msg on error.
NM_SHIM int nm_shim_vision_tiles(const char* path, const uint8_t* rgb, int width, int height, int static_w, int static_h,
                                 uint8_t* out, int64_t max_bytes, int* n_tiles, int* tile_w, int* tile_h, char* msg,
                                 int cap) {
  auto report = [&](const nm::Status& s, int rc) {
    copy_message(s.to_string(), msg, cap);
    return rc;
  };
  auto c = embedder_case(path, rgb, width, height, static_w, static_h);
  if (!c.ok()) return report(c.status(), 1);
  auto plan = c->embedder->plan(width, height);
  if (!plan.ok()) return report(plan.status(), 1);
  auto tiles = c->embedder->tiles_for(c->image, plan.value());
  if (!tiles.ok()) return report(tiles.status(), 1);
  int64_t at = 0;
  for (const nm::Image& t : tiles.value()) {
    if (at + (int64_t)t.rgb.size() > max_bytes) return report(nm::error(nm::ErrorCode::out_of_range, "out too small"), 2);
    std::memcpy(out + at, t.rgb.data(), t.rgb.size());
    at += (int64_t)t.rgb.size();
  }
  *n_tiles = (int)tiles.value().size();
  *tile_w = tiles.value().empty() ? 0 : tiles.value()[0].width;
  *tile_h = tiles.value().empty() ? 0 : tiles.value()[0].height;
  copy_message("", msg, cap);
  return 0;
}
