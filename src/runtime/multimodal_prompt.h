// Mixed text + image prompts: split a rendered chat prompt at the chat template's image
// marker (ChatRenderOptions::image_marker) into token runs and image slots, and feed
// them to a TextContext — tokens through eval_tokens, each image's projected embeddings
// (VisionEncoder output) through eval_embeddings, so images never round-trip through
// tokens. Stateless functions; the context is the caller's (not thread-safe).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bricks/text/text_context.h"
#include "bricks/vision/mmproj.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace nm {

struct PromptPart {
  std::vector<TokenId> tokens;  // a text run (empty for an image part)
  int image = -1;               // index into the image list, or -1 for text
};

// Text a model family puts around each image's embeddings: a newline after each image for
// LLaVA's mlp projector (LLaVA's "<image>\n" prompt layout, which its chat templates and
// NanoMind's demo model use); "<fake_token_around_image><global-img>" before and
// "<fake_token_around_image>" after for SmolVLM / Idefics3 (one tile, no splitting).
struct ImageWrap {
  std::string begin, end;
};
ImageWrap image_wrap_for(ProjectorKind projector);

// Splits `text` at each `marker` (images numbered in order of appearance) and tokenizes
// the text runs with parse_special; BOS (if the vocab adds one) only before the first run
// when add_bos. Error when the number of markers differs from n_images.
// `wrap` text is tokenized with the neighbouring runs.
Result<std::vector<PromptPart>> tokenize_with_images(const Tokenizer& tok, std::string_view text, std::string_view marker,
                                                     int n_images, bool add_bos, const ImageWrap& wrap = {});

// Appends the parts to ctx in order. images[i] holds n_tokens_i * n_embd floats; its
// width must match the text model (MmprojModel::check_llm_width at load catches it first).
Status eval_prompt_parts(TextContext& ctx, std::span<const PromptPart> parts, std::span<const std::vector<float>> images,
                         ThreadPool& pool);

}  // namespace nm
