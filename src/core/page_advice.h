// Page advice on whole pages of a range: a tensor rarely starts or ends on a page
// boundary, and the page it shares with a neighbouring tensor is left alone.
#pragma once

#include <cstddef>

namespace nm {

// Takes the whole pages inside [p, p + bytes) out of the resident set (MADV_DONTNEED).
// Pages of a read-only private or a shared mapping of a file come back from the file
// (page cache) when touched again; anonymous pages come back zeroed.
void drop_whole_pages(const void* p, size_t bytes);
// Marks them MADV_RANDOM: the range gets its own VMA, so faults in neighbouring ranges no
// longer map its pages by fault-around.
void advise_random_whole_pages(const void* p, size_t bytes);

}  // namespace nm
