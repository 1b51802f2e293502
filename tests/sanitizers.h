// Which sanitizer a test program is built with, for GCC and clang alike: GCC defines
// __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__, clang answers __has_feature (the ASan + UBSan
// build uses clang where installed, the ThreadSanitizer build GCC).
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define NM_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NM_TEST_ASAN 1
#endif
#endif
#ifndef NM_TEST_ASAN
#define NM_TEST_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define NM_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NM_TEST_TSAN 1
#endif
#endif
#ifndef NM_TEST_TSAN
#define NM_TEST_TSAN 0
#endif
