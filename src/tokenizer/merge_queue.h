// The merge loop shared by the SentencePiece and BPE encoders: symbols form a linked list
// over a byte string; the best adjacent pair is popped from a priority queue, merged,
// and the new neighbour pairs offered back. Internal to src/tokenizer/.
#pragma once

#include <cstdint>
#include <queue>
#include <vector>

namespace nm {

struct MergeSymbol {
  int32_t prev;
  int32_t next;
  uint32_t offset;
  uint32_t n;  // bytes; 0 once merged into its left neighbour
};

// Bigram needs members left, right, size and an operator< giving the best pair on top;
// try_add(left, right) pushes the pair if it may merge.
template <class Bigram, class TryAdd>
void run_merges(std::priority_queue<Bigram>& queue, std::vector<MergeSymbol>& sym, TryAdd try_add) {
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    MergeSymbol& l = sym[b.left];
    MergeSymbol& r = sym[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size || l.next != b.right) continue;  // stale: a side changed
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
}

}  // namespace nm
