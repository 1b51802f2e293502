// TokenRing (runtime/token_ring.h): the slot state machine refuses every illegal
// transition; readers get slots oldest first; block waits for a release and drop_oldest
// drops exactly the oldest READY slot; close() wakes every waiter; and a producer/consumer
// stress run (also under ThreadSanitizer: scripts/build.sh tsan) never hands a reader a
// slot that is being written, checked by a per-slot pattern the writer fills last to first.
#include "runtime/token_ring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <random>
#include <thread>
#include <vector>

namespace nm {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<TokenRing> ring(int n, Backpressure b = Backpressure::block, size_t bytes = 4096) {
  auto r = TokenRing::create(n, bytes, b);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? std::move(r).value() : nullptr;
}

TEST(TokenRing, RefusesIllegalTransitions) {
  auto r = ring(2);
  // FREE: only acquire_write leaves it.
  EXPECT_FALSE(r->commit(0).ok());
  EXPECT_FALSE(r->release(0).ok());
  EXPECT_FALSE(r->abort_write(0).ok());
  auto w = r->acquire_write(4, 8, 7);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(r->state(*w), SlotState::writing);
  EXPECT_EQ(r->tag(*w), 7u);
  EXPECT_EQ(r->data(*w).size(), 32u);
  // WRITING: not readable, not releasable.
  EXPECT_FALSE(r->release(*w).ok());
  EXPECT_FALSE(r->try_acquire_read(0).ok());
  ASSERT_TRUE(r->commit(*w).ok());
  EXPECT_FALSE(r->commit(*w).ok());       // READY twice
  EXPECT_FALSE(r->abort_write(*w).ok());  // READY is not WRITING
  EXPECT_FALSE(r->release(*w).ok());      // READY is not READING
  auto rd = r->acquire_read();
  ASSERT_TRUE(rd.ok());
  EXPECT_EQ(*rd, *w);
  EXPECT_EQ(r->state(*rd), SlotState::reading);
  EXPECT_FALSE(r->commit(*rd).ok());
  ASSERT_TRUE(r->release(*rd).ok());
  EXPECT_FALSE(r->release(*rd).ok());
  EXPECT_EQ(r->state(*rd), SlotState::free);
  // Bad slot numbers and sizes.
  EXPECT_FALSE(r->commit(-1).ok());
  EXPECT_FALSE(r->release(2).ok());
  EXPECT_EQ(r->acquire_write(1025, 1).status().code(), ErrorCode::out_of_range);  // 4100 bytes > one 4 KiB slot
  EXPECT_FALSE(r->acquire_write(0, 8).ok());
  EXPECT_FALSE(TokenRing::create(0, 64, Backpressure::block).ok());
  EXPECT_FALSE(TokenRing::create(2, 0, Backpressure::block).ok());
  const RingStats s = r->stats();
  EXPECT_EQ(s.handoffs, 1u);
  EXPECT_EQ(s.peak_bytes, 4u * 8 * sizeof(float));
}

TEST(TokenRing, ReadersGetTheOldestFirstAndAbortFreesTheSlot) {
  auto r = ring(3);
  auto a = r->acquire_write(1, 1, 1);
  auto b = r->acquire_write(1, 1, 2);
  auto c = r->acquire_write(1, 1, 3);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_TRUE(r->commit(*b).ok());
  ASSERT_TRUE(r->abort_write(*c).ok());
  ASSERT_TRUE(r->commit(*a).ok());
  // Commit order, not slot order: b then a; c was never READY.
  EXPECT_EQ(r->tag(r->acquire_read().value()), 2u);
  EXPECT_EQ(r->tag(r->acquire_read().value()), 1u);
  EXPECT_EQ(r->try_acquire_read(10).status().code(), ErrorCode::out_of_range);
  EXPECT_EQ(r->state(*c), SlotState::free);
}

TEST(TokenRing, BlockWaitsForARelease) {
  auto r = ring(1);
  auto w = r->acquire_write(1, 1, 1);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(r->commit(*w).ok());
  std::atomic<bool> got{false};
  auto producer = std::async(std::launch::async, [&] {
    auto s = r->acquire_write(1, 1, 2);
    got = true;
    return s;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(got.load()) << "acquire_write did not wait for the only slot";
  auto rd = r->acquire_read();
  ASSERT_TRUE(rd.ok());
  ASSERT_TRUE(r->release(*rd).ok());
  ASSERT_EQ(producer.wait_for(5s), std::future_status::ready);
  auto s = producer.get();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(r->tag(*s), 2u);
  EXPECT_EQ(r->stats().drops, 0u);
}

// A waiter with a hook (a stream's worker lending its core to the other pool) calls it
// instead of sleeping, and still takes the slot once the other side hands one over.
TEST(TokenRing, WaitersCallTheirHookUntilTheRingChanges) {
  auto r = ring(1);
  std::atomic<int> read_calls{0}, write_calls{0};
  r->set_wait_hooks([&] { read_calls++; std::this_thread::sleep_for(1ms); },
                    [&] { write_calls++; std::this_thread::sleep_for(1ms); });
  auto reader = std::async(std::launch::async, [&] { return r->acquire_read(); });
  std::this_thread::sleep_for(30ms);
  EXPECT_GT(read_calls.load(), 0) << "the reader slept instead of calling its hook";
  EXPECT_EQ(write_calls.load(), 0);
  auto w = r->acquire_write(1, 1, 7);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(r->commit(*w).ok());
  ASSERT_EQ(reader.wait_for(5s), std::future_status::ready);
  auto rd = reader.get();
  ASSERT_TRUE(rd.ok());
  EXPECT_EQ(r->tag(*rd), 7u);
  // The only slot is being read: a writer waits, calling its hook, until it is released.
  auto writer = std::async(std::launch::async, [&] { return r->acquire_write(1, 1, 8); });
  std::this_thread::sleep_for(30ms);
  EXPECT_GT(write_calls.load(), 0) << "the writer slept instead of calling its hook";
  ASSERT_TRUE(r->release(*rd).ok());
  ASSERT_EQ(writer.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(writer.get().ok());
  // close() ends a hooked wait too.
  auto late = std::async(std::launch::async, [&] { return r->acquire_read(); });
  std::this_thread::sleep_for(10ms);
  r->close();
  ASSERT_EQ(late.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(late.get().ok());
  r->set_wait_hooks(nullptr, nullptr);
}

TEST(TokenRing, DropOldestDropsOnlyTheOldestReadySlot) {
  auto r = ring(3, Backpressure::drop_oldest);
  std::vector<uint64_t> dropped;
  r->set_drop_callback([&](int, uint64_t tag) { dropped.push_back(tag); });
  // Frames 1..3 fill the ring; frame 2 is being read, so it may not be dropped.
  for (uint64_t f = 1; f <= 3; ++f) {
    auto w = r->acquire_write(1, 1, f);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(r->commit(*w).ok());
  }
  auto first = r->acquire_read();  // frame 1
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(r->tag(*first), 1u);
  auto held_writer = r->acquire_write(1, 1, 4);  // no free slot: drops frame 2 (oldest READY)
  ASSERT_TRUE(held_writer.ok());
  EXPECT_EQ(dropped, (std::vector<uint64_t>{2}));
  auto next = r->acquire_write(1, 1, 5);  // drops frame 3, not the WRITING frame 4 or the READING frame 1
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(dropped, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(r->state(*first), SlotState::reading);
  EXPECT_EQ(r->tag(*held_writer), 4u);
  ASSERT_TRUE(r->commit(*next).ok());
  ASSERT_TRUE(r->commit(*held_writer).ok());
  // Readers see what was kept, in commit order.
  EXPECT_EQ(r->tag(r->acquire_read().value()), 5u);
  EXPECT_EQ(r->tag(r->acquire_read().value()), 4u);
  EXPECT_EQ(r->stats().drops, 2u);
  ASSERT_TRUE(r->release(*first).ok());
}

TEST(TokenRing, CloseWakesEveryWaiter) {
  auto r = ring(1);
  auto w = r->acquire_write(1, 1);
  ASSERT_TRUE(w.ok());
  auto reader = std::async(std::launch::async, [&] { return r->acquire_read(); });
  auto writer = std::async(std::launch::async, [&] { return r->acquire_write(1, 1); });
  std::this_thread::sleep_for(30ms);
  r->close();
  ASSERT_EQ(reader.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(writer.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(reader.get().status().code(), ErrorCode::io_error);
  EXPECT_EQ(writer.get().status().code(), ErrorCode::io_error);
}

// Producers fill slots with tag-derived values from the last float to the first, so a
// reader that saw a slot before its writer finished would find a wrong first value; the
// reader checks every value and the count of slots. Run both policies.
void stress(Backpressure policy) {
  const int n_frames = 2000, width = 64;
  auto r = ring(3, policy, 16 * width * sizeof(float));
  std::atomic<uint64_t> dropped{0};
  r->set_drop_callback([&](int, uint64_t) { dropped++; });
  std::atomic<int> bad{0};
  std::thread producer([&] {
    std::mt19937 rng(1);
    for (int f = 1; f <= n_frames; ++f) {
      const int rows = 1 + (int)(rng() % 16);
      auto w = r->acquire_write(rows, width, (uint64_t)f);
      if (!w.ok()) {
        bad++;
        return;
      }
      std::span<float> d = r->data(*w);
      for (size_t i = d.size(); i-- > 0;) d[i] = (float)(f * 1000 + (int)(i % 997));
      if (!r->commit(*w).ok()) bad++;
    }
    r->close();
  });
  uint64_t seen = 0, last = 0;
  for (;;) {
    auto rd = r->acquire_read();
    if (!rd.ok()) break;
    const uint64_t f = r->tag(*rd);
    if (f <= last) bad++;  // oldest first, never twice
    last = f;
    std::span<float> d = r->data(*rd);
    for (size_t i = 0; i < d.size(); ++i) {
      if (d[i] != (float)(f * 1000 + (uint64_t)(i % 997))) {
        bad++;
        break;
      }
    }
    ++seen;
    if (!r->release(*rd).ok()) bad++;
  }
  producer.join();
  EXPECT_EQ(bad.load(), 0);
  if (policy == Backpressure::block) {
    EXPECT_EQ(seen, (uint64_t)n_frames);
    EXPECT_EQ(dropped.load(), 0u);
  } else {
    EXPECT_EQ(seen + dropped.load(), (uint64_t)n_frames);
  }
  EXPECT_EQ(r->stats().drops, dropped.load());
}

TEST(TokenRing, ProducerConsumerStressBlock) { stress(Backpressure::block); }
TEST(TokenRing, ProducerConsumerStressDropOldest) { stress(Backpressure::drop_oldest); }

}  // namespace
}  // namespace nm
