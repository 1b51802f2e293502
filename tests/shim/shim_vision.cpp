// Vision brick entry points for the reference tests: load an mmproj file (or report why
// it cannot be loaded) and encode a normalised planar image into projected embeddings.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bricks/text/text_model.h"
#include "bricks/vision/image_plan.h"
#include "bricks/vision/mmproj.h"
#include "core/image.h"
#include "runtime/image_encoder.h"
#include "runtime/multimodal_prompt.h"
#include "runtime/pipeline.h"
#include "runtime/vision_encoder.h"
#include "tests/shim/shim.h"
#include "tokenizer/chat_template.h"

namespace {

// An mmproj file's vision brick and an image for it; the model outlives the encoder.
struct EncoderCase {
  std::unique_ptr<nm::MmprojModel> model;
  std::unique_ptr<nm::ImageEncoder> encoder;
  nm::Image image;
};

nm::Result<EncoderCase> encoder_case(const char* path, const uint8_t* rgb, int width, int height, int static_w,
                                     int static_h) {
  EncoderCase c;
  NM_ASSIGN_OR_RETURN(c.model, nm::MmprojModel::load(path));
  nm::ImageEncoderParams p;
  p.sizing = {static_w, static_h};
  NM_ASSIGN_OR_RETURN(c.encoder, nm::ImageEncoder::create(*c.model, p));
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
  if (isa >= 0) p.run.isa = static_cast<nm::Isa>(isa);
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

// The whole vision brick on an RGB image (ImageEncoder): out gets n_tokens x n_embd
// floats; plan[0..6] = kind (0 single, 1 anyres, 2 split), n_tokens, tile_tokens,
// n_encodes, tiles_x or cols, tiles_y or rows, 0. static_w/h > 0: static-shape mode.
NM_SHIM int nm_shim_vision_embed_image(const char* path, const uint8_t* rgb, int width, int height, int static_w,
                                       int static_h, int n_threads, float* out, int64_t max_out, int* plan, char* msg,
                                       int cap) {
  auto report = [&](const nm::Status& s, int rc) {
    copy_message(s.to_string(), msg, cap);
    return rc;
  };
  auto c = encoder_case(path, rgb, width, height, static_w, static_h);
  if (!c.ok()) return report(c.status(), 2);
  nm::ThreadPool pool(n_threads);
  auto planned = c->encoder->plan(width, height);
  if (!planned.ok()) return report(planned.status(), 3);
  const nm::ImagePlan& pl = planned.value();
  const int64_t n_floats = (int64_t)pl.n_tokens * c->encoder->n_embd_out();
  if (n_floats > max_out) return report(nm::error(nm::ErrorCode::out_of_range, "output too small"), 4);
  if (nm::Status s = c->encoder->encode(c->image, pl, pool, {out, (size_t)n_floats}); !s.ok()) return report(s, 3);
  const bool split = pl.kind == nm::ImagePlan::Kind::split;
  const int v[7] = {(int)pl.kind, pl.n_tokens, pl.tile_tokens, pl.n_encodes, split ? pl.cols : pl.grid.tiles_x,
                    split ? pl.rows : pl.grid.tiles_y, 0};
  std::memcpy(plan, v, sizeof v);
  copy_message("", msg, cap);
  return 0;
}

// End to end through the runtime's pipeline: prompt tokens with -1 marking where each image
// (in order) goes, images given as n_images normalised chw planes of width x height; n_gen
// greedy tokens to out.
NM_SHIM int nm_shim_vision_greedy(const char* llm_path, const char* mmproj_path, const int32_t* prompt, int n_prompt,
                                  const float* chw, int n_images, int width, int height, int n_gen, int n_threads,
                                  int32_t* out, char* msg, int cap) {
  auto report = [&](const nm::Status& s, int rc) {
    copy_message(s.to_string(), msg, cap);
    return rc;
  };
  auto models = nm::PipelineModels::load(llm_path, mmproj_path);
  if (!models.ok()) return report(models.status(), 1);
  nm::PipelineParams pp;
  pp.kv_type = nm::DType::F32;
  pp.n_threads = n_threads;
  auto pipe = nm::Pipeline::create(*models.value(), pp);
  if (!pipe.ok()) return report(pipe.status(), 2);
  nm::Pipeline& p = *pipe.value();

  auto n_img = p.models().vision->encoder_tokens(width, height);
  if (!n_img.ok()) return report(n_img.status(), 3);
  std::vector<nm::PromptPosition> positions;
  int next_image = 0;
  for (int i = 0; i < n_prompt; ++i) {
    if (prompt[i] >= 0) {
      positions.push_back(nm::PromptPosition::of_token(prompt[i]));
      continue;
    }
    for (int r = 0; r < n_img.value(); ++r) positions.push_back({-1, next_image, r});
    ++next_image;
  }
  if (next_image != n_images) return report(nm::error(nm::ErrorCode::invalid_argument, "image markers != images"), 4);
  const size_t plane = (size_t)3 * width * height;
  const nm::Pipeline::ImageSource encode = [&](int32_t id) -> nm::Result<int> {
    nm::EncoderInput in;
    in.width = width;
    in.height = height;
    in.chw.assign(chw + plane * id, chw + plane * (id + 1));
    NM_RETURN_IF_ERROR(p.encode_planar(in, (uint64_t)id).status());
    return p.take_image();
  };
  if (auto r = p.prefill(positions, encode); !r.ok()) return report(r.status(), 4);
  const int n_vocab = p.models().text->hparams().n_vocab;
  for (int step = 0; step < n_gen; ++step) {
    const float* l = p.text().logits();
    const int32_t best = (int32_t)(std::max_element(l, l + n_vocab) - l);
    out[step] = best;
    if (step + 1 < n_gen) {
      if (nm::Status s = p.append({&best, 1}); !s.ok()) return report(s, 5);
    }
  }
  return 0;
}

// The encoder's input images for an RGB image (image_tiles): n_tiles images
// of tile_w x tile_h packed RGB into out (max_bytes). Returns 1 with msg on error.
NM_SHIM int nm_shim_vision_tiles(const char* path, const uint8_t* rgb, int width, int height, int static_w, int static_h,
                                 uint8_t* out, int64_t max_bytes, int* n_tiles, int* tile_w, int* tile_h, char* msg,
                                 int cap) {
  auto report = [&](const nm::Status& s, int rc) {
    copy_message(s.to_string(), msg, cap);
    return rc;
  };
  auto c = encoder_case(path, rgb, width, height, static_w, static_h);
  if (!c.ok()) return report(c.status(), 1);
  auto plan = c->encoder->plan(width, height);
  if (!plan.ok()) return report(plan.status(), 1);
  auto tiles = nm::image_tiles(*c->model, c->image, plan.value());
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

// The token layout TextSession::chat_with_images gives a conversation whose first user
// message carries one image of `image_tokens` embeddings (mlp projector layout): the file's
// chat template, rendered and tokenized by the runtime's own functions. Used by the demo
// model's trainer (tools/demo_model/prompts.py) so that training sees exactly the prompts
// NanoMind evaluates. n_convs conversations; conversation i has n_msgs[i] messages taken in
// order from contents, roles alternating user, assistant, ...; gen_prompt adds the
// assistant header after the last message. out gets each conversation's tokens with -1 for
// every image row; offsets[i] .. offsets[i + 1] is conversation i (offsets has n_convs + 1
// entries). Returns 1 with msg on error, 3 when out is too small (offsets[n_convs] = need).
NM_SHIM int nm_shim_vision_chat_tokens(const char* llm_path, int n_convs, const int* n_msgs, const char** contents,
                                       int image_tokens, int gen_prompt, int32_t* out, int64_t cap, int64_t* offsets,
                                       char* msg, int msg_cap) {
  auto m = nm::TextModel::load(llm_path);
  if (!m.ok()) {
    copy_message(m.status().to_string(), msg, msg_cap);
    return 1;
  }
  const nm::Tokenizer& tok = m.value()->tokenizer();
  auto tmpl = nm::ChatTemplate::select("", tok);
  if (!tmpl.ok()) {
    copy_message(tmpl.status().to_string(), msg, msg_cap);
    return 1;
  }
  nm::ChatRenderOptions opts = nm::chat_options_for(tok);
  opts.add_generation_prompt = gen_prompt != 0;
  nm::ImagePlan plan;
  plan.tile_tokens = plan.n_tokens = image_tokens;
  const std::vector<nm::ImageLayout> layouts(1, nm::image_layout_for(nm::ProjectorKind::mlp, plan));
  int64_t n = 0, next = 0;
  for (int c = 0; c < n_convs; ++c) {
    offsets[c] = n;
    std::vector<nm::ChatMessage> msgs;
    for (int i = 0; i < n_msgs[c]; ++i) {
      msgs.push_back({std::string(i % 2 == 0 ? "user" : "assistant"), std::string(contents[next++]), i == 0 ? 1 : 0});
    }
    auto prompt = tmpl->render_with_spans(msgs, opts);
    if (!prompt.ok()) {
      copy_message(prompt.status().to_string(), msg, msg_cap);
      return 1;
    }
    auto parts = nm::tokenize_with_images(tok, prompt->text, opts.image_marker, layouts, false, prompt->content);
    if (!parts.ok()) {
      copy_message(parts.status().to_string(), msg, msg_cap);
      return 1;
    }
    auto positions = nm::prompt_positions(parts.value(), std::vector<int>{0}, std::vector<int>{image_tokens});
    if (!positions.ok()) {
      copy_message(positions.status().to_string(), msg, msg_cap);
      return 1;
    }
    for (const nm::PromptPosition& p : positions.value()) {
      if (n < cap) out[n] = p.image >= 0 ? -1 : p.token;
      ++n;
    }
  }
  offsets[n_convs] = n;
  copy_message("", msg, msg_cap);
  return n > cap ? 3 : 0;
}
