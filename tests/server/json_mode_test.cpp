// JsonObjectFilter (server/json_mode.h) on fresh random JSON objects, dumped by nlohmann-json
// (an independent writer: strings with braces, brackets, quotes, backslashes and UTF-8),
// wrapped in the chatter a model adds (a preamble, a ```json fence, text after the object)
// and cut into random pieces as tokens arrive: the filter must let through exactly the
// object, close exactly at its end, and count every other byte as dropped. Seed printed;
// replay with NM_SEED.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "server/json_mode.h"

namespace {

using nlohmann::json;

uint64_t seed() {
  static const uint64_t s = [] {
    const char* e = std::getenv("NM_SEED");
    const uint64_t v = e ? std::strtoull(e, nullptr, 10) : std::random_device{}();
    std::printf("json_mode_test seed: %llu (replay with NM_SEED=%llu)\n", (unsigned long long)v, (unsigned long long)v);
    return v;
  }();
  return s;
}

std::string random_string(std::mt19937_64& rng) {
  static const std::string alphabet = "ab {}[]\"\\:,\n\t/x\xc3\xa9\xe2\x82\xac";
  std::string s;
  const int n = (int)(rng() % 12);
  for (int i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
  json probe = s;  // keep only valid UTF-8 (a lone byte of a multi-byte letter is not)
  try {
    (void)probe.dump();
  } catch (const json::exception&) {
    return "plain";
  }
  return s;
}

json random_value(std::mt19937_64& rng, int depth) {
  switch (depth <= 0 ? rng() % 4 : rng() % 6) {
    case 0: return (int64_t)(rng() % 2001) - 1000;
    case 1: return random_string(rng);
    case 2: return rng() % 2 == 0;
    case 3: return nullptr;
    case 4: {
      json a = json::array();
      for (int i = (int)(rng() % 4); i > 0; --i) a.push_back(random_value(rng, depth - 1));
      return a;
    }
    default: {
      json o = json::object();
      for (int i = (int)(rng() % 4); i > 0; --i) o[random_string(rng)] = random_value(rng, depth - 1);
      return o;
    }
  }
}

json random_object(std::mt19937_64& rng) {
  json o = json::object();
  for (int i = (int)(rng() % 4); i > 0; --i) o[random_string(rng)] = random_value(rng, 3);
  return o;
}

// Feeds text in random pieces (1 to 8 bytes, as tokens come); returns what got through.
std::string feed_in_pieces(nm::server::JsonObjectFilter& f, const std::string& text, std::mt19937_64& rng,
                           size_t* closed_at = nullptr) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t n = std::min(text.size() - pos, (size_t)(1 + rng() % 8));
    const bool was_closed = f.closed();
    out += f.feed(std::string_view(text).substr(pos, n));
    pos += n;
    if (!was_closed && f.closed() && closed_at) *closed_at = pos;
  }
  return out;
}

TEST(JsonObjectFilter, LetsThroughExactlyTheFirstObject) {
  std::mt19937_64 rng(seed());
  const char* before[] = {"", "Sure! Here it is:\n", "```json\n", "  \n", "The answer ] is \"quoted\": "};
  const char* after[] = {"", "\n```", "\nHope this helps {not json}", " ]]] }"};
  for (int iter = 0; iter < 3000; ++iter) {
    const std::string object = random_object(rng).dump(rng() % 2 ? -1 : 2);
    const std::string pre = before[rng() % 5], post = after[rng() % 4];
    nm::server::JsonObjectFilter f;
    size_t closed_at = 0;
    const std::string out = feed_in_pieces(f, pre + object + post, rng, &closed_at);
    ASSERT_EQ(out, object) << "seed " << seed() << " iteration " << iter;
    ASSERT_TRUE(f.started() && f.closed());
    ASSERT_TRUE(json::accept(out));
    ASSERT_EQ(f.dropped_bytes(), pre.size() + post.size());
    // It closed in the piece that held the object's last byte.
    ASSERT_GE(closed_at, pre.size() + object.size());
    ASSERT_LT(closed_at, pre.size() + object.size() + 8);
  }
}

TEST(JsonObjectFilter, AnObjectCutShortNeverCloses) {
  std::mt19937_64 rng(seed() + 1);
  for (int iter = 0; iter < 2000; ++iter) {
    const std::string object = random_object(rng).dump();
    const std::string cut = object.substr(0, object.size() - 1 - rng() % object.size() / 2);
    nm::server::JsonObjectFilter f;
    ASSERT_EQ(feed_in_pieces(f, cut, rng), cut) << "seed " << seed() + 1 << " iteration " << iter;
    ASSERT_FALSE(f.closed());
    ASSERT_EQ(f.dropped_bytes(), 0u);
  }
}

TEST(JsonObjectFilter, TextWithoutAnObjectIsDropped) {
  nm::server::JsonObjectFilter f;
  EXPECT_EQ(f.feed("I cannot answer ] that \"}\""), "");
  EXPECT_FALSE(f.started());
  EXPECT_EQ(f.dropped_bytes(), 26u);
  EXPECT_EQ(f.feed("ok {\"a\": \"}\\\"\"}"), "{\"a\": \"}\\\"\"}");
  EXPECT_TRUE(f.closed());
  EXPECT_EQ(f.feed("{\"b\": 1}"), "");  // a second object is not part of the answer
}

}  // namespace
