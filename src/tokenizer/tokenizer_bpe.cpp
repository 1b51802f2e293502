// Byte-level BPE encoding (GPT-2 family, LLaMA 3, Qwen2): pre-tokenize into words, map
// each byte to its GPT-2 stand-in character, then repeatedly merge the adjacent pair
// with the lowest merge rank (ties: leftmost), as Hugging Face tokenizers and llama.cpp.
#include <queue>

#include "tokenizer/merge_queue.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace nm {

namespace {

struct BpeBigram {
  int32_t left;
  int32_t right;
  int32_t rank;
  uint32_t size;
  bool operator<(const BpeBigram& o) const {  // priority_queue top = lowest rank, then leftmost
    return rank > o.rank || (rank == o.rank && left > o.left);
  }
};

}  // namespace

Status Tokenizer::encode_bpe(std::string_view text, std::vector<TokenId>& out) const {
  std::vector<MergeSymbol> sym;
  std::string word;
  for (std::string_view raw : pre_tokenize(pre_, text)) {
    word.clear();
    sym.clear();
    for (char c : raw) {
      const std::string& u = byte_to_unicode_[static_cast<uint8_t>(c)];
      const auto i = static_cast<int32_t>(sym.size());
      sym.push_back({i - 1, i + 1, static_cast<uint32_t>(word.size()), static_cast<uint32_t>(u.size())});
      word += u;
    }
    if (sym.empty()) continue;
    sym.back().next = -1;
    if (ignore_merges_) {
      const TokenId whole = token_id(word);
      if (whole != k_no_token) {
        out.push_back(whole);
        continue;
      }
    }

    auto piece = [&](int32_t i) { return std::string_view(word).substr(sym[i].offset, sym[i].n); };
    std::priority_queue<BpeBigram> queue;
    auto try_add = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) return;
      const int32_t rank = merge_rank(piece(left), piece(right));
      if (rank >= 0) queue.push({left, right, rank, sym[left].n + sym[right].n});
    };
    for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);

    run_merges(queue, sym, try_add);

    for (int32_t i = 0; i != -1; i = sym[i].next) {
      const TokenId id = token_id(piece(i));
      if (id != k_no_token) {
        out.push_back(id);
        continue;
      }
      // Not a token (a merge whose result is missing from the vocab): fall back to the
      // single-byte tokens of the bytes this symbol covers.
      const std::string_view p = piece(i);
      for (const Utf8Unit& u : utf8_units(p)) {
        const auto it = unicode_to_byte_.find(u.cp);
        const std::string byte(1, it == unicode_to_byte_.end() ? '?' : static_cast<char>(it->second));
        NM_RETURN_IF_ERROR(push_bytes(byte, out));
      }
    }
  }
  return Status::ok_status();
}

}  // namespace nm
