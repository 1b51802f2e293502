#include "core/page_advice.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace nm {
namespace {

void advise_whole_pages(const void* p, size_t bytes, int advice) {
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t lo = ((uintptr_t)p + page - 1) / page * page, hi = ((uintptr_t)p + bytes) / page * page;
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, advice);
}

}  // namespace

void drop_whole_pages(const void* p, size_t bytes) { advise_whole_pages(p, bytes, MADV_DONTNEED); }

void advise_random_whole_pages(const void* p, size_t bytes) { advise_whole_pages(p, bytes, MADV_RANDOM); }

}  // namespace nm
