#include "runtime/multimodal_prompt.h"

#include <algorithm>
#include <string>

namespace nm {

ImageLayout image_layout_for(ProjectorKind projector, const ImagePlan& plan) {
  if (projector != ProjectorKind::idefics3) return {{"", 0, plan.n_tokens}, {"\n", 0, 0}};
  const std::string fake = "<fake_token_around_image>";
  ImageLayout out;
  std::string text;
  const int rows = plan.kind == ImagePlan::Kind::split ? plan.rows : 0;
  const int cols = plan.kind == ImagePlan::Kind::split ? plan.cols : 0;
  int at = 0;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      text += fake + "<row_" + std::to_string(r + 1) + "_col_" + std::to_string(c + 1) + ">";
      out.push_back({text, at, plan.tile_tokens});
      text.clear();
      at += plan.tile_tokens;
    }
    text += "\n";
  }
  if (rows > 0) text += "\n";
  out.push_back({text + fake + "<global-img>", at, plan.n_tokens - at});
  out.push_back({fake, 0, 0});
  return out;
}

Result<std::vector<PromptPart>> tokenize_with_images(const Tokenizer& tok, std::string_view text, std::string_view marker,
                                                     std::span<const ImageLayout> images, bool add_bos,
                                                     const std::vector<TextSpan>& plain) {
  if (marker.empty()) return error(ErrorCode::invalid_argument, "the image marker is empty");
  std::vector<PromptPart> parts;
  bool first = true;
  std::string run;
  std::vector<TextSpan> run_plain;  // `plain` in run's coordinates
  auto flush = [&]() -> Status {
    if (run.empty() && !(first && add_bos)) return Status();
    EncodeOptions o;
    o.add_special = first && add_bos;
    o.parse_special = true;
    o.plain_spans = std::move(run_plain);
    NM_ASSIGN_OR_RETURN(std::vector<TokenId> ids, tok.encode(run, o));
    if (!ids.empty()) parts.push_back(PromptPart{std::move(ids), -1});
    run.clear();
    run_plain.clear();
    first = false;
    return Status();
  };
  // Appends text[b, e) to the run, carrying the plain ranges inside it along.
  auto append_text = [&](size_t b, size_t e) {
    for (const TextSpan& s : plain) {
      if (s.end <= b || s.begin >= e) continue;
      run_plain.push_back({run.size() + std::max(s.begin, b) - b, run.size() + std::min(s.end, e) - b});
    }
    run.append(text.substr(b, e - b));
  };
  size_t n_found = 0, at = 0, search = 0;
  while (true) {
    const size_t hit = text.find(marker, search);
    if (hit != std::string_view::npos && overlaps_any(plain, hit, hit + marker.size())) {
      search = hit + 1;  // typed by a user: text, not an image
      continue;
    }
    append_text(at, hit == std::string_view::npos ? text.size() : hit);
    if (hit == std::string_view::npos) break;
    if (n_found < images.size()) {
      for (const ImagePiece& p : images[n_found]) {
        run += p.text;
        if (p.count <= 0) continue;
        NM_RETURN_IF_ERROR(flush());
        first = false;
        parts.push_back(PromptPart{{}, (int)n_found, p.first, p.count});
      }
    }
    ++n_found;
    at = search = hit + marker.size();
  }
  NM_RETURN_IF_ERROR(flush());
  if (n_found != images.size()) {
    return error(ErrorCode::invalid_argument, "the prompt has " + std::to_string(n_found) + " image marker(s) but " +
                                                  std::to_string(images.size()) + " image(s) were given");
  }
  return parts;
}

std::vector<PromptPosition> token_positions(std::span<const TokenId> tokens) {
  std::vector<PromptPosition> out;
  out.reserve(tokens.size());
  for (TokenId t : tokens) out.push_back(PromptPosition::of_token(t));
  return out;
}

Result<std::vector<PromptPosition>> prompt_positions(std::span<const PromptPart> parts, std::span<const int> image_ids,
                                                     std::span<const int> image_tokens) {
  std::vector<PromptPosition> out;
  for (const PromptPart& p : parts) {
    if (p.image < 0) {
      for (TokenId t : p.tokens) out.push_back(PromptPosition::of_token(t));
      continue;
    }
    if ((size_t)p.image >= image_ids.size() || (size_t)p.image >= image_tokens.size()) {
      return error(ErrorCode::invalid_argument, "image " + std::to_string(p.image) + " is missing");
    }
    const int n_tok = image_tokens[(size_t)p.image];
    const int count = p.count < 0 ? n_tok - p.first : p.count;
    if (p.first < 0 || count < 0 || p.first + count > n_tok) {
      return error(ErrorCode::invalid_argument, "image " + std::to_string(p.image) + " has " + std::to_string(n_tok) +
                                                    " embeddings; the prompt asks for [" + std::to_string(p.first) + ", " +
                                                    std::to_string(p.first + count) + ")");
    }
    for (int r = p.first; r < p.first + count; ++r) out.push_back({-1, image_ids[(size_t)p.image], r});
  }
  return out;
}

}  // namespace nm
