// Include first in an *_avx512.cpp file. gcc 12's AVX-512 headers build some intrinsics
// from _mm512_undefined_*() and then warn that the undefined value is used (a known false
// positive in avx512fintrin.h); this silences those two warnings for the including file.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
