#include "runtime/multimodal_prompt.h"

#include <string>

namespace nm {

ImageWrap image_wrap_for(ProjectorKind projector) {
  if (projector == ProjectorKind::idefics3) return {"<fake_token_around_image><global-img>", "<fake_token_around_image>"};
  return {"", "\n"};
}

Result<std::vector<PromptPart>> tokenize_with_images(const Tokenizer& tok, std::string_view text, std::string_view marker,
                                                     int n_images, bool add_bos, const ImageWrap& wrap) {
  if (marker.empty()) return error(ErrorCode::invalid_argument, "the image marker is empty");
  std::vector<PromptPart> parts;
  int n_found = 0;
  size_t at = 0;
  bool first = true;
  while (true) {
    const size_t hit = text.find(marker, at);
    std::string run(text.substr(at, hit == std::string_view::npos ? std::string_view::npos : hit - at));
    if (!first) run = wrap.end + run;
    if (hit != std::string_view::npos) run += wrap.begin;
    if (!run.empty() || (first && add_bos)) {
      EncodeOptions o;
      o.add_special = first && add_bos;
      o.parse_special = true;
      NM_ASSIGN_OR_RETURN(std::vector<TokenId> ids, tok.encode(run, o));
      if (!ids.empty()) parts.push_back(PromptPart{std::move(ids), -1});
    }
    first = false;
    if (hit == std::string_view::npos) break;
    parts.push_back(PromptPart{{}, n_found++});
    at = hit + marker.size();
  }
  if (n_found != n_images) {
    return error(ErrorCode::invalid_argument, "the prompt has " + std::to_string(n_found) + " image marker(s) but " +
                                                  std::to_string(n_images) + " image(s) were given");
  }
  return parts;
}

Status eval_prompt_parts(TextContext& ctx, std::span<const PromptPart> parts, std::span<const std::vector<float>> images,
                         ThreadPool& pool) {
  for (const PromptPart& p : parts) {
    if (p.image < 0) {
      NM_RETURN_IF_ERROR(ctx.eval_tokens(p.tokens, pool));
      continue;
    }
    if ((size_t)p.image >= images.size()) {
      return error(ErrorCode::invalid_argument, "image " + std::to_string(p.image) + " is missing");
    }
    // eval_embeddings checks the width and the room left in the context.
    NM_RETURN_IF_ERROR(ctx.eval_embeddings(images[(size_t)p.image], pool));
  }
  return Status();
}

}  // namespace nm
