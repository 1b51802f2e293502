// Runs a frame stream (runtime/frame_stream.h) under a watchdog, for the runtime tests: a
// hang fails the test instead of blocking ctest.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <vector>

#include "runtime/frame_stream.h"

namespace nm::test {

inline Result<FrameStreamStats> run_bounded(TextSession& s, FrameSource& src, const FrameStreamParams& p,
                                            std::vector<FrameAnswer>& out) {
  auto f = std::async(std::launch::async, [&] {
    return run_frame_stream(s, src, p, [&](const FrameAnswer& a) { out.push_back(a); });
  });
  if (f.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
    ADD_FAILURE() << "the stream did not finish in 120 s";
    std::abort();  // a hung worker cannot be joined; stop here rather than hang ctest
  }
  return f.get();
}

}  // namespace nm::test
