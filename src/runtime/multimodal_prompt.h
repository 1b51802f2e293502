// Mixed text + image prompts: split a rendered chat prompt at the chat template's image
// marker (ChatRenderOptions::image_marker) into token runs and image parts, and turn them
// into the positions the text brick's context must hold (PromptPosition: a token, or one
// row of an image's embeddings), which Pipeline::prefill compares with what the context
// already holds, so images never round-trip through tokens and a turn evaluates only what
// is new. Stateless functions.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bricks/vision/image_plan.h"
#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace nm {

struct PromptPart {
  std::vector<TokenId> tokens;  // a text run (empty for an image part)
  int image = -1;               // index into the image list, or -1 for text
  int first = 0, count = -1;    // image part: embeddings [first, first + count) of it; -1 = all
};

// One step of how an image appears in the prompt: text (tokenized together with the
// neighbouring text), then a run of the image's embeddings (none when count is 0).
struct ImagePiece {
  std::string text;
  int first = 0, count = 0;
};
using ImageLayout = std::vector<ImagePiece>;

// The model family's image markers around an image's embeddings:
// - mlp (LLaVA): the embeddings, then "\n" (LLaVA's "<image>\n" prompt layout);
// - idefics3 (SmolVLM), one image: "<fake_token_around_image><global-img>" embeddings
//   "<fake_token_around_image>";
// - idefics3 split into rows x cols tiles (Hugging Face's Idefics3 processor): for each
//   tile "<fake_token_around_image><row_R_col_C>" (1-based) and its embeddings, "\n"
//   after each row, then "\n<fake_token_around_image><global-img>", the global image's
//   embeddings and "<fake_token_around_image>".
ImageLayout image_layout_for(ProjectorKind projector, const ImagePlan& plan);

// Splits `text` at each `marker` (images numbered in order of appearance) and tokenizes
// the text runs with parse_special; BOS (if the vocab adds one) only before the first run
// when add_bos. images[i] says how image i is laid out. `plain` (sorted, disjoint byte
// ranges of text, e.g. RenderedPrompt::content) is plain text: a marker or special-token
// text inside it is not one. Error when the number of markers differs from the number of images.
Result<std::vector<PromptPart>> tokenize_with_images(const Tokenizer& tok, std::string_view text, std::string_view marker,
                                                     std::span<const ImageLayout> images, bool add_bos,
                                                     const std::vector<TextSpan>& plain = {});

// One position of the text brick's context: a token, or row `row` of the embeddings of
// image `image` (an id the caller chose, stable across turns).
struct PromptPosition {
  int32_t token = -1;
  int32_t image = -1;
  int32_t row = 0;
  bool operator==(const PromptPosition&) const = default;
  static PromptPosition of_token(int32_t t) { return {t, -1, 0}; }
};

std::vector<PromptPosition> token_positions(std::span<const TokenId> tokens);

// The positions `parts` occupy. Image part i of the prompt refers to image image_ids[i],
// which has image_tokens[i] embeddings. Error when a part names a missing image or rows
// outside it.
Result<std::vector<PromptPosition>> prompt_positions(std::span<const PromptPart> parts, std::span<const int> image_ids,
                                                     std::span<const int> image_tokens);

}  // namespace nm
