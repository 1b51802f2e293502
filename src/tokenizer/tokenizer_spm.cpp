// SentencePiece-style encoding as llama.cpp's SPM tokenizer: space -> "▁", start from
// one symbol per UTF-8 character, repeatedly merge the adjacent pair whose concatenation
// is a token with the highest score (ties: leftmost), then resegment symbols that are
// not tokens back into the pieces they were merged from, ending in <0xXX> byte tokens.
#include <queue>

#include "tokenizer/merge_queue.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace nm {

namespace {

struct SpmBigram {
  int32_t left;
  int32_t right;
  float score;
  uint32_t size;
  bool operator<(const SpmBigram& o) const {  // priority_queue top = highest score, then leftmost
    return score < o.score || (score == o.score && left > o.left);
  }
};

}  // namespace

Status Tokenizer::encode_spm(std::string_view raw, std::vector<TokenId>& out) const {
  std::string text;
  text.reserve(raw.size() + raw.size() / 2);
  for (char c : raw) {
    if (c == ' ') {
      text += "\xE2\x96\x81";
    } else {
      text += c;
    }
  }
  std::vector<MergeSymbol> sym;
  for (const Utf8Unit& u : utf8_units(text)) {
    const auto i = static_cast<int32_t>(sym.size());
    sym.push_back({i - 1, i + 1, u.offset, u.length});
  }
  if (sym.empty()) return Status::ok_status();
  sym.back().next = -1;

  std::priority_queue<SpmBigram> queue;
  // piece text -> the two symbols' texts it was last merged from, for resegmentation
  std::unordered_map<std::string, std::pair<std::string, std::string>> rev_merge;
  auto piece = [&](int32_t i) { return std::string_view(text).substr(sym[i].offset, sym[i].n); };
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const std::string joined = std::string(piece(left)) + std::string(piece(right));
    const TokenId id = token_id(joined);
    if (id == k_no_token) return;
    const float score = vocab_.scores.empty() ? 0.0f : vocab_.scores[static_cast<size_t>(id)];
    queue.push({left, right, score, sym[left].n + sym[right].n});
    rev_merge[joined] = {std::string(piece(left)), std::string(piece(right))};
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);

  run_merges(queue, sym, try_add);

  // Resegment: a symbol that is a token is emitted; otherwise split it into the pair it
  // was merged from, down to single characters, which fall back to byte tokens.
  std::vector<std::string> stack;
  for (int32_t i = 0; i != -1; i = sym[i].next) {
    stack.emplace_back(piece(i));
    while (!stack.empty()) {
      const std::string s = std::move(stack.back());
      stack.pop_back();
      const TokenId id = token_id(s);
      if (id != k_no_token) {
        out.push_back(id);
        continue;
      }
      auto it = rev_merge.find(s);
      if (it != rev_merge.end()) {
        stack.push_back(it->second.second);  // right after left: the stack pops left first
        stack.push_back(it->second.first);
        continue;
      }
      NM_RETURN_IF_ERROR(push_bytes(s, out));
    }
  }
  return Status::ok_status();
}

}  // namespace nm
