// The C API's promise that no call aborts on bad input: every nm_* function is called with
// NULL in each pointer parameter and with out-of-range values, and must return its
// documented error (never crash; ASan/UBSan run this too). A model freed before its session
// stays alive for the session (reference counting). The last test reads the public header
// and fails when a function declared there is not exercised in this file.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/audio.h"
#include "nanomind/nanomind.h"

namespace {

const std::string kModels = std::string(NM_SOURCE_DIR) + "/models/";
const std::string kLlm = kModels + "nanomind-demo-llm.gguf";
const std::string kMmproj = kModels + "nanomind-demo-mmproj.gguf";

nm_model* load_demo(bool with_mmproj = true) {
  nm_model_params mp = nm_model_default_params();
  mp.model_path = kLlm.c_str();
  mp.mmproj_path = with_mmproj ? kMmproj.c_str() : nullptr;
  mp.n_threads = 1;
  nm_model* m = nullptr;
  char err[256];
  if (nm_model_load(&mp, &m, err, sizeof err) != NM_OK) ADD_FAILURE() << err;
  return m;
}

nm_session* open(nm_model* m, nm_session_params sp) {
  nm_session* s = nullptr;
  char err[256];
  if (nm_session_init(m, &sp, &s, err, sizeof err) != NM_OK) ADD_FAILURE() << err;
  return s;
}

nm_session* open_greedy(nm_model* m) {
  nm_session_params sp = nm_session_default_params();
  sp.sampling.temperature = 0;
  return open(m, sp);
}

// nm_session_init with sp must fail with INVALID_ARGUMENT, a NULL handle and a message naming `what`.
void expect_refused(nm_model* m, const nm_session_params& sp, const std::string& what) {
  nm_session* s = reinterpret_cast<nm_session*>(0x1);  // must be overwritten with NULL
  char err[256] = "unchanged";
  EXPECT_EQ(nm_session_init(m, &sp, &s, err, sizeof err), NM_ERR_INVALID_ARGUMENT) << what;
  EXPECT_EQ(s, nullptr) << what;
  EXPECT_NE(std::string(err).find(what), std::string::npos) << "message '" << err << "' does not name " << what;
}

TEST(CApiBadInput, ModelLoadChecksEveryPointer) {
  nm_model_params mp = nm_model_default_params();
  nm_model* m = reinterpret_cast<nm_model*>(0x1);
  char err[128];
  EXPECT_EQ(nm_model_load(nullptr, &m, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(m, nullptr);
  EXPECT_EQ(nm_model_load(&mp, &m, err, sizeof err), NM_ERR_INVALID_ARGUMENT);  // model_path NULL
  EXPECT_NE(std::string(err), "");
  mp.model_path = kLlm.c_str();
  EXPECT_EQ(nm_model_load(&mp, nullptr, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  mp.model_path = "/no/such/model.gguf";
  EXPECT_NE(nm_model_load(&mp, &m, nullptr, 0), NM_OK);  // err NULL is allowed
  EXPECT_NE(nm_model_load(&mp, &m, err, 1), NM_OK);      // a 1-byte buffer gets just the NUL
  EXPECT_EQ(err[0], '\0');
  mp.model_path = kLlm.c_str();
  for (int bad : {-1, NM_MAX_THREADS + 1, INT32_MIN}) {
    mp.n_threads = bad;
    EXPECT_EQ(nm_model_load(&mp, &m, err, sizeof err), NM_ERR_INVALID_ARGUMENT) << bad;
    EXPECT_NE(std::string(err).find("n_threads"), std::string::npos) << err;
    EXPECT_EQ(m, nullptr);
  }
  mp.n_threads = 0;
  mp.power_profile = "rk9999";  // neither a shipped profile nor a file
  EXPECT_EQ(nm_model_load(&mp, &m, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(err).find("rk9999"), std::string::npos) << err;
  EXPECT_EQ(m, nullptr);
  nm_model_free(nullptr);
}

TEST(CApiBadInput, TokenizerCallsCheckEveryPointer) {
  nm_model* m = load_demo(false);
  ASSERT_NE(m, nullptr);
  int32_t toks[64];
  // The crashes of the issue: NULL output buffers with a positive size.
  EXPECT_EQ(nm_tokenize(m, "hello", 1, 0, nullptr, 100), NM_BAD_ARGUMENT);
  EXPECT_EQ(nm_token_to_piece(m, 5, nullptr, 8), NM_BAD_ARGUMENT);
  EXPECT_EQ(nm_tokenize(nullptr, "hello", 1, 0, toks, 64), NM_BAD_ARGUMENT);
  EXPECT_EQ(nm_tokenize(m, nullptr, 1, 0, toks, 64), NM_BAD_ARGUMENT);
  EXPECT_EQ(nm_tokenize(m, "hello", 1, 0, toks, -1), NM_BAD_ARGUMENT);
  // A size query: NULL with 0 room gives -(needed), which the real call then matches.
  const int32_t need = nm_tokenize(m, "hello world", 1, 0, nullptr, 0);
  ASSERT_LT(need, 0);
  ASSERT_GT(need, NM_BAD_ARGUMENT);
  EXPECT_EQ(nm_tokenize(m, "hello world", 1, 0, toks, 64), -need);
  char buf[64];
  EXPECT_EQ(nm_token_to_piece(nullptr, 5, buf, 64), NM_BAD_ARGUMENT);
  EXPECT_EQ(nm_token_to_piece(m, -1, buf, 64), NM_BAD_ARGUMENT);
  EXPECT_EQ(nm_token_to_piece(m, nm_model_n_vocab(m), buf, 64), NM_BAD_ARGUMENT);
  EXPECT_EQ(nm_token_to_piece(m, 5, buf, -1), NM_BAD_ARGUMENT);
  const int32_t piece = nm_token_to_piece(m, toks[1], nullptr, 0);  // size query
  EXPECT_LE(piece, 0);
  EXPECT_EQ(nm_token_to_piece(m, toks[1], buf, 64), -piece);
  EXPECT_EQ(nm_model_n_vocab(nullptr), 0);
  nm_model_info info;
  EXPECT_EQ(nm_model_get_info(nullptr, &info), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_model_get_info(m, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_model_get_info(m, &info), NM_OK);
  EXPECT_EQ(info.n_vocab, nm_model_n_vocab(m));
  nm_model_free(m);
}

TEST(CApiBadInput, SessionInitChecksPointersAndReturnsNullOnFailure) {
  nm_model* m = load_demo();
  ASSERT_NE(m, nullptr);
  const nm_session_params sp = nm_session_default_params();
  nm_session* s = reinterpret_cast<nm_session*>(0x1);
  char err[256];
  EXPECT_EQ(nm_session_init(nullptr, &sp, &s, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(s, nullptr);
  EXPECT_NE(std::string(err), "");
  EXPECT_EQ(nm_session_init(m, &sp, nullptr, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  // params NULL means the defaults; err NULL is allowed.
  ASSERT_EQ(nm_session_init(m, nullptr, &s, nullptr, 0), NM_OK);
  ASSERT_NE(s, nullptr);
  nm_session_free(s);
  nm_session_free(nullptr);
  EXPECT_STREQ(nm_session_last_error(nullptr), "");
  EXPECT_EQ(nm_session_seed(nullptr), 0u);
  EXPECT_STREQ(nm_session_chat_template(nullptr), "");
  nm_model_free(m);
}

TEST(CApiBadInput, EverySessionParameterIsRangeChecked) {
  nm_model* m = load_demo();
  ASSERT_NE(m, nullptr);
  const nm_session_params d = nm_session_default_params();
  auto with = [&](auto edit) {
    nm_session_params p = d;
    edit(p);
    return p;
  };
  for (int32_t bad : {99, -1}) {
    // As a C caller stores it (an int); a C++ cast to the enum would itself be undefined.
    expect_refused(m, with([bad](nm_session_params& p) { std::memcpy(&p.kv_type, &bad, sizeof bad); }), "kv_type");
  }
  expect_refused(m, with([](nm_session_params& p) { p.n_ctx = -1; }), "n_ctx");
  expect_refused(m, with([](nm_session_params& p) { p.n_ctx = NM_MAX_CTX + 1; }), "n_ctx");
  for (float t : {NAN, INFINITY, -1.0f}) {
    expect_refused(m, with([t](nm_session_params& p) { p.sampling.temperature = t; }), "temperature");
  }
  expect_refused(m, with([](nm_session_params& p) { p.sampling.top_k = -3; }), "top_k");
  for (float v : {5.0f, -1.0f, NAN}) {
    expect_refused(m, with([v](nm_session_params& p) { p.sampling.top_p = v; }), "top_p");
    expect_refused(m, with([v](nm_session_params& p) { p.sampling.min_p = v; }), "min_p");
  }
  for (float v : {0.0f, -1.0f, NAN, INFINITY}) {
    expect_refused(m, with([v](nm_session_params& p) { p.sampling.repeat_penalty = v; }), "repeat_penalty");
  }
  expect_refused(m, with([](nm_session_params& p) { p.sampling.repeat_last_n = -5; }), "repeat_last_n");
  expect_refused(m, with([](nm_session_params& p) { p.image_width = 64; }), "image_width");
  // The demo encoder's patches are 32 pixels: sizes must be multiples, and not absurdly thin.
  expect_refused(m, with([](nm_session_params& p) { p.image_width = p.image_height = 100; }), "multiple of 32");
  expect_refused(m, with([](nm_session_params& p) { p.image_width = 32, p.image_height = 3200; }), "too thin");
  expect_refused(m, with([](nm_session_params& p) { p.image_width = p.image_height = NM_MAX_IMAGE_SIDE + 32; }),
                 "multiple of 32");
  expect_refused(m, with([](nm_session_params& p) { p.chat_template = "no-such-template"; }), "no-such-template");
  expect_refused(m, with([](nm_session_params& p) { p.devices = "text=nowhere"; }), "nowhere");
  expect_refused(m, with([](nm_session_params& p) { p.residency = 2; }), "residency");
  expect_refused(m, with([](nm_session_params& p) { p.residency = -1; }), "residency");
  // The edges of every range are accepted.
  for (auto edit : std::vector<void (*)(nm_session_params&)>{
           [](nm_session_params& p) { p.sampling.temperature = 0; },
           [](nm_session_params& p) { p.sampling.top_p = 0, p.sampling.min_p = 1; },
           [](nm_session_params& p) { p.sampling.top_p = 1, p.sampling.min_p = 0, p.sampling.top_k = 0; },
           [](nm_session_params& p) { p.sampling.repeat_last_n = 0, p.sampling.repeat_penalty = 1e-3f; },
           [](nm_session_params& p) { p.image_width = 32, p.image_height = 512; },
           [](nm_session_params& p) { p.n_ctx = 1; },
           [](nm_session_params& p) { p.residency = NM_RESIDENCY_ON_DEMAND; }}) {
    nm_session* s = open(m, with(edit));
    EXPECT_NE(s, nullptr);
    nm_session_free(s);
  }
  nm_model_free(m);
}

int count_pieces(const char*, int32_t, void* n) {
  ++*static_cast<int*>(n);
  return 0;
}

TEST(CApiBadInput, SessionCallsCheckEveryPointer) {
  nm_model* m = load_demo();
  ASSERT_NE(m, nullptr);
  nm_session* s = open_greedy(m);
  ASSERT_NE(s, nullptr);
  const std::string png = kModels + "samples/scene_3.png";
  const nm_image img{png.c_str(), nullptr, 0, 0};
  const nm_image empty{nullptr, nullptr, 0, 0};

  EXPECT_EQ(nm_session_chat(nullptr, "hi", 4, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_chat(s, nullptr, 4, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(nm_session_last_error(s)), "");
  EXPECT_EQ(nm_session_chat(s, "hi", -1, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(nm_session_last_error(s)).find("n_predict"), std::string::npos);
  EXPECT_EQ(nm_session_chat_images(nullptr, "hi", &img, 1, 4, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_chat_images(s, nullptr, &img, 1, 4, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_chat_images(s, "hi", nullptr, 1, 4, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_chat_images(s, "hi", &img, -1, 4, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_chat_images(s, "hi", &empty, 1, 4, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_chat_images(s, "hi", &img, 1, -2, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  int32_t n_tok = 0, n_embd = 0;
  EXPECT_EQ(nm_session_encode_image(nullptr, &img, nullptr, 0, &n_tok, &n_embd), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_encode_image(s, nullptr, nullptr, 0, &n_tok, &n_embd), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_encode_image(s, &img, nullptr, 0, nullptr, &n_embd), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_encode_image(s, &img, nullptr, 0, &n_tok, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_encode_image(s, &img, nullptr, -1, &n_tok, &n_embd), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_complete(nullptr, "x", 2, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_complete(s, nullptr, 2, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_complete(s, "x", -5, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  int32_t tok = 1;
  EXPECT_EQ(nm_session_eval(nullptr, &tok, 1), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_eval(s, nullptr, 1), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_eval(s, &tok, 0), NM_ERR_INVALID_ARGUMENT);
  int32_t bad_tok = nm_model_n_vocab(m);
  EXPECT_EQ(nm_session_eval(s, &bad_tok, 1), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_sample(nullptr, &tok), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_sample(s, nullptr), NM_ERR_INVALID_ARGUMENT);
  std::vector<float> logits((size_t)nm_model_n_vocab(m));
  EXPECT_EQ(nm_session_get_logits(nullptr, logits.data(), (int32_t)logits.size()), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_get_logits(s, nullptr, (int32_t)logits.size()), NM_ERR_INVALID_ARGUMENT);
  nm_timings t;
  EXPECT_EQ(nm_session_get_timings(nullptr, &t), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_get_timings(s, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_n_past(nullptr), 0);
  EXPECT_EQ(nm_session_n_ctx(nullptr), 0);
  nm_session_reset(nullptr);
  EXPECT_EQ(nm_measure_read_bandwidth(-1), 0.0);
  EXPECT_EQ(nm_measure_read_bandwidth(NM_MAX_THREADS + 1), 0.0);
  EXPECT_GE(nm_default_threads(), 1);
  nm_stream_params sp = nm_stream_default_params();
  EXPECT_EQ(sp.question, nullptr);
  EXPECT_EQ(nm_session_run_stream(s, kModels.c_str(), &sp, nullptr, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  sp.question = "How many shapes?";
  EXPECT_EQ(nm_session_run_stream(nullptr, kModels.c_str(), &sp, nullptr, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_run_stream(s, nullptr, &sp, nullptr, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_run_stream(s, kModels.c_str(), nullptr, nullptr, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  nm_stream* stream = nullptr;
  EXPECT_EQ(nm_stream_begin(nullptr, &sp, nullptr, nullptr, &stream), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_stream_begin(s, &sp, nullptr, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_stream_push(nullptr, &img, "x"), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_stream_end(nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  for (void (*bad)(nm_stream_params&) : {+[](nm_stream_params& p) { p.every = -1; },
                                          +[](nm_stream_params& p) { p.n_predict = -1; },
                                          +[](nm_stream_params& p) { p.max_frames = -2; }}) {
    nm_stream_params b = sp;
    bad(b);
    nm_stream* none = nullptr;
    EXPECT_EQ(nm_stream_begin(s, &b, nullptr, nullptr, &none), NM_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(none, nullptr);
    EXPECT_NE(std::string(nm_session_last_error(s)).find("must not be negative"), std::string::npos);
  }
  // The power policy's battery spec and mode: a bad one is refused before the stream starts.
  for (void (*bad)(nm_stream_params&) : {+[](nm_stream_params& p) { p.battery = "sim:-5mAh"; },
                                          +[](nm_stream_params& p) { p.battery = "sim:2000mAh,start=150%"; },
                                          +[](nm_stream_params& p) { p.battery = "\x01\xff"; },
                                          +[](nm_stream_params& p) { p.power_mode = "turbo"; },
                                          +[](nm_stream_params& p) { p.t_high = 30, p.t_low = 40; },
                                          +[](nm_stream_params& p) { p.t_high = 99; },
                                          +[](nm_stream_params& p) { p.t_low = -1; },
                                          +[](nm_stream_params& p) { p.t_high = NAN; }}) {
    nm_stream_params b = sp;
    bad(b);
    nm_stream* none = nullptr;
    EXPECT_EQ(nm_stream_begin(s, &b, nullptr, nullptr, &none), NM_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(none, nullptr);
    EXPECT_EQ(nm_session_run_stream(s, kModels.c_str(), &b, nullptr, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  }
  {
    nm_stream_params b = sp;  // watching: a descriptor below -1, and a source that is no folder
    b.watch = 1;
    b.watch_fd = -5;
    EXPECT_EQ(nm_session_run_stream(s, kModels.c_str(), &b, nullptr, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
    b.watch_fd = -1;
    const std::string file = kModels + "nanomind-demo-llm.gguf";
    EXPECT_NE(nm_session_run_stream(s, file.c_str(), &b, nullptr, nullptr, nullptr), NM_OK);
    EXPECT_NE(std::string(nm_session_last_error(s)).find("not a folder"), std::string::npos);
  }
  ASSERT_EQ(nm_stream_begin(s, &sp, nullptr, nullptr, &stream), NM_OK);  // no callback: answers are dropped
  EXPECT_EQ(nm_stream_push(stream, nullptr, "x"), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_stream_push(stream, &img, nullptr), NM_OK);
  nm_stream_stats stats{};
  EXPECT_EQ(nm_stream_end(stream, &stats), NM_OK);
  EXPECT_EQ(stats.answered, 1);
  EXPECT_EQ(nm_session_trace_start(nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_trace_write(nullptr, "t.json"), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_trace_write(s, "t.json"), NM_ERR_INVALID_ARGUMENT);  // not started
  EXPECT_NE(std::string(nm_session_last_error(s)).find("nm_session_trace_start"), std::string::npos);
  ASSERT_EQ(nm_session_trace_start(s), NM_OK);
  EXPECT_EQ(nm_session_trace_write(s, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_trace_write(s, ""), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_trace_write(s, "/no/such/dir/t.json"), NM_ERR_IO);

  // After all that the session still works; a NULL callback generates silently.
  EXPECT_EQ(nm_session_chat(s, "How many shapes?", 3, nullptr, nullptr), NM_OK) << nm_session_last_error(s);
  EXPECT_EQ(nm_session_get_timings(s, &t), NM_OK);
  EXPECT_GT(t.n_prompt_tokens, 0);
  nm_energy e;
  EXPECT_EQ(nm_session_get_energy(nullptr, &e), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_get_energy(s, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_get_energy(s, &e), NM_OK);
  if (e.valid) {  // a sensor, or a profile for this machine: the turn's energy, never negative
    EXPECT_GE(e.joules, e.prefill_joules + e.decode_joules - 1e-9);
    EXPECT_GE(e.prefill_joules, 0.0);
    EXPECT_NE(std::string(e.source), "");
  }
  // Power modes: a NULL session or another mode is refused; on demand gives the bricks back
  // and the next turn, with one thread, answers as before (threads do not change the bits).
  EXPECT_EQ(nm_session_set_power_mode(nullptr, NM_POWER_PARALLEL, 1), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_set_power_mode(s, NM_POWER_NONE, 1), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_set_power_mode(s, 3, 1), NM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(nm_session_last_error(s)).find("power mode"), std::string::npos);
  std::string kept, on_demand;
  auto keep_text = [](const char* piece, int32_t, void* u) { *static_cast<std::string*>(u) += piece; return 0; };
  nm_session_reset(s);
  ASSERT_EQ(nm_session_chat(s, "How many shapes?", 4, keep_text, &kept), NM_OK) << nm_session_last_error(s);
  ASSERT_EQ(nm_session_set_power_mode(s, NM_POWER_ON_DEMAND, 1), NM_OK) << nm_session_last_error(s);
  nm_session_reset(s);
  ASSERT_EQ(nm_session_chat(s, "How many shapes?", 4, keep_text, &on_demand), NM_OK) << nm_session_last_error(s);
  EXPECT_EQ(on_demand, kept);
  EXPECT_EQ(nm_session_set_power_mode(s, NM_POWER_PARALLEL, 1 << 20), NM_OK);  // clamped to the session's threads
  nm_session_free(s);
  nm_model_free(m);
}

TEST(CApiBadInput, ModelFreedBeforeItsSessionStaysAliveForIt) {
  // Before: heap-use-after-free in Tokenizer::bos via TextSession::chat (ASan).
  nm_model* m = load_demo();
  ASSERT_NE(m, nullptr);
  nm_session* a = open_greedy(m);
  nm_session* b = open_greedy(m);
  ASSERT_TRUE(a && b);
  nm_model_free(m);
  int pieces = 0;
  EXPECT_EQ(nm_session_chat(a, "How many shapes are there?", 4, count_pieces, &pieces), NM_OK)
      << nm_session_last_error(a);
  nm_session_free(a);
  const std::string png = kModels + "samples/scene_3.png";
  const nm_image img{png.c_str(), nullptr, 0, 0};
  EXPECT_EQ(nm_session_chat_images(b, "How many shapes are there?", &img, 1, 4, count_pieces, &pieces), NM_OK)
      << nm_session_last_error(b);
  nm_timings t;
  EXPECT_EQ(nm_session_get_timings(b, &t), NM_OK);
  EXPECT_GT(t.load_ms, 0);
  nm_session_free(b);  // the last reference: frees the model
}

TEST(CApiBadInput, RandomSeedByDefaultAndAGivenSeedIsKept) {
  nm_model* m = load_demo(false);
  ASSERT_NE(m, nullptr);
  nm_session_params sp = nm_session_default_params();
  EXPECT_EQ(sp.sampling.seed, NM_SEED_RANDOM);
  nm_session* a = open(m, sp);
  nm_session* b = open(m, sp);
  ASSERT_TRUE(a && b);
  // Two draws from a 64-bit random source are equal with probability 2^-64.
  EXPECT_NE(nm_session_seed(a), nm_session_seed(b));
  sp.sampling.seed = 7;
  nm_session* c = open(m, sp);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(nm_session_seed(c), 7u);
  nm_session_free(a);
  nm_session_free(b);
  nm_session_free(c);
  nm_model_free(m);
}

TEST(CApiBadInput, StepwiseGenerationChecksEveryPointerAndValue) {
  nm_model* m = load_demo();
  ASSERT_NE(m, nullptr);
  nm_session* s = open_greedy(m);
  ASSERT_NE(s, nullptr);
  const nm_chat_message msg{"user", "How many shapes?", 0};
  const nm_chat_message no_role{nullptr, "x", 0};
  const nm_chat_message one_image{"user", "x", 1};
  nm_generate_params gp = nm_generate_default_params();
  gp.n_predict = 4;
  gp.sampling.temperature = 0;
  EXPECT_EQ(nm_session_begin_chat(nullptr, &msg, 1, nullptr, 0, &gp), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_begin_chat(s, nullptr, 1, nullptr, 0, &gp), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_begin_chat(s, &msg, 0, nullptr, 0, &gp), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_begin_chat(s, &msg, 1, nullptr, 0, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_begin_chat(s, &no_role, 1, nullptr, 0, &gp), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_begin_chat(s, &one_image, 1, nullptr, 0, &gp), NM_ERR_INVALID_ARGUMENT);  // 1 named, 0 given
  const uint8_t junk[4] = {1, 2, 3, 4};
  const nm_image_bytes bad{junk, sizeof junk};
  EXPECT_NE(nm_session_begin_chat(s, &one_image, 1, &bad, 1, &gp), NM_OK);
  nm_generate_params bad_gp = gp;
  bad_gp.n_predict = -1;
  EXPECT_EQ(nm_session_begin_chat(s, &msg, 1, nullptr, 0, &bad_gp), NM_ERR_INVALID_ARGUMENT);
  bad_gp = gp;
  bad_gp.n_stop = 1;  // and no list
  EXPECT_EQ(nm_session_begin_chat(s, &msg, 1, nullptr, 0, &bad_gp), NM_ERR_INVALID_ARGUMENT);
  const char* null_stop[1] = {nullptr};
  bad_gp.stop = null_stop;  // a list holding NULL
  EXPECT_EQ(nm_session_begin_chat(s, &msg, 1, nullptr, 0, &bad_gp), NM_ERR_INVALID_ARGUMENT);
  bad_gp = gp;
  bad_gp.sampling.temperature = -1;
  EXPECT_EQ(nm_session_begin_completion(s, "x", &bad_gp), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_begin_completion(nullptr, "x", &gp), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_begin_completion(s, nullptr, &gp), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_begin_completion(s, "", &gp), NM_ERR_INVALID_ARGUMENT);
  const char* piece = nullptr;
  int32_t token = 0;
  nm_finish fin = NM_FINISH_NONE;
  EXPECT_EQ(nm_session_next(nullptr, &piece, &token, &fin), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_next(s, nullptr, &token, &fin), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_next(s, &piece, &token, &fin), NM_ERR_INVALID_ARGUMENT);  // nothing begun
  EXPECT_EQ(nm_sessions_decode(nullptr, 1), NM_ERR_INVALID_ARGUMENT);
  nm_session* none[1] = {nullptr};
  EXPECT_EQ(nm_sessions_decode(none, 1), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_sessions_decode(&s, -1), NM_ERR_INVALID_ARGUMENT);
  int32_t w = 0, h = 0;
  EXPECT_EQ(nm_image_probe(nullptr, 0, &w, &h), NM_ERR_INVALID_FILE);
  EXPECT_EQ(nm_image_probe(junk, sizeof junk, nullptr, &h), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_image_probe(junk, sizeof junk, &w, &h), NM_ERR_INVALID_FILE);
  int32_t n_prompt = -1, n_gen = -1;
  nm_session_usage(nullptr, &n_prompt, &n_gen);
  EXPECT_EQ(n_prompt, 0);
  EXPECT_EQ(n_gen, 0);

  // After all that the session still answers, step by step: 4 tokens, end tokens ignored.
  gp.ignore_eos = 1;
  ASSERT_EQ(nm_session_begin_chat(s, &msg, 1, nullptr, 0, &gp), NM_OK) << nm_session_last_error(s);
  fin = NM_FINISH_NONE;
  for (int i = 0; i < 8 && fin == NM_FINISH_NONE; ++i) {
    ASSERT_EQ(nm_session_next(s, &piece, &token, &fin), NM_OK) << nm_session_last_error(s);
    if (fin == NM_FINISH_NONE) {
      ASSERT_EQ(nm_sessions_decode(&s, 1), NM_OK) << nm_session_last_error(s);
    }
  }
  EXPECT_EQ(fin, NM_FINISH_LENGTH);
  nm_session_usage(s, &n_prompt, &n_gen);
  EXPECT_GT(n_prompt, 0);
  EXPECT_EQ(n_gen, 4);
  nm_session_free(s);
  nm_model_free(m);
}

// Speech recognition (nm_asr_*): a tiny random-weight Whisper file from the fuzz corpus.
TEST(CApiBadInput, AsrCallsCheckEveryPointerAndValue) {
  const std::string whisper = std::string(NM_SOURCE_DIR) + "/tests/fuzz/corpus/whisper_fuzz/tiny_q4_0.bin";
  nm_asr_params ap = nm_asr_default_params();
  nm_asr* asr = nullptr;
  char err[256];
  EXPECT_EQ(nm_asr_load(nullptr, &asr, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_asr_load(&ap, &asr, err, sizeof err), NM_ERR_INVALID_ARGUMENT);  // no model_path
  EXPECT_EQ(asr, nullptr);
  ap.model_path = whisper.c_str();
  EXPECT_EQ(nm_asr_load(&ap, nullptr, nullptr, 0), NM_ERR_INVALID_ARGUMENT);
  ap.n_threads = -1;
  EXPECT_EQ(nm_asr_load(&ap, &asr, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  ap.n_threads = 1;
  ap.max_sequences = 99;
  EXPECT_EQ(nm_asr_load(&ap, &asr, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  ap.max_sequences = 2;
  ap.model_path = whisper.c_str();
  for (const char* bad : {"speaker=cpu", "asr=no-such-device", "audio=", "audio=cpu,audio=cpu"}) {
    ap.devices = bad;  // an unknown brick or device, an empty name, a brick named twice
    EXPECT_NE(nm_asr_load(&ap, &asr, err, sizeof err), NM_OK) << bad;
    EXPECT_EQ(asr, nullptr);
  }
  ap.devices = nullptr;
  ap.model_path = "/nonexistent/ggml-base.bin";
  EXPECT_EQ(nm_asr_load(&ap, &asr, err, sizeof err), NM_ERR_IO);
  EXPECT_EQ(asr, nullptr);
  ap.model_path = whisper.c_str();
  ASSERT_EQ(nm_asr_load(&ap, &asr, err, sizeof err), NM_OK) << err;
  EXPECT_NE(std::string(nm_asr_describe(asr)).find("Whisper"), std::string::npos);

  std::vector<float> pcm(1600, 0.0f);
  nm_transcribe_params tp = nm_transcribe_default_params();
  tp.beam_size = 1;
  EXPECT_EQ(nm_asr_transcribe_pcm(nullptr, pcm.data(), 1600, 1, 16000, &tp, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_asr_transcribe_pcm(asr, nullptr, 1600, 1, 16000, &tp, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_asr_transcribe_pcm(asr, pcm.data(), -5, 1, 16000, &tp, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_asr_transcribe_pcm(asr, pcm.data(), 1600, 0, 16000, &tp, nullptr, nullptr), NM_ERR_INVALID_FILE);
  EXPECT_EQ(nm_asr_transcribe_pcm(asr, pcm.data(), 1600, 1, 0, &tp, nullptr, nullptr), NM_ERR_INVALID_FILE);
  for (auto bad : {&nm_transcribe_params::entropy_threshold, &nm_transcribe_params::logprob_threshold,
                   &nm_transcribe_params::no_speech_threshold, &nm_transcribe_params::duration_s}) {
    nm_transcribe_params b = tp;
    b.*bad = NAN;
    EXPECT_EQ(nm_asr_transcribe_pcm(asr, pcm.data(), 1600, 1, 16000, &b, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  }
  nm_transcribe_params b = tp;
  b.beam_size = 0;
  EXPECT_EQ(nm_asr_transcribe_pcm(asr, pcm.data(), 1600, 1, 16000, &b, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  b = tp;
  b.beam_size = 5;  // more sequences than the handle was loaded for (2)
  EXPECT_EQ(nm_asr_transcribe_pcm(asr, pcm.data(), 1600, 1, 16000, &b, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  b = tp;
  b.language = "xx";
  EXPECT_EQ(nm_asr_transcribe_pcm(asr, pcm.data(), 1600, 1, 16000, &b, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(nm_asr_last_error(asr)).find("unknown language"), std::string::npos);
  for (int32_t bad : {-2, INT32_MIN, 1501, INT32_MAX}) {  // encoder positions: -1 (fitted), 0 (all) or 1..1500
    b = tp;
    b.audio_ctx = bad;
    EXPECT_EQ(nm_asr_transcribe_pcm(asr, pcm.data(), 1600, 1, 16000, &b, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT) << bad;
    EXPECT_NE(std::string(nm_asr_last_error(asr)).find("audio_ctx"), std::string::npos);
  }
  b = tp;
  b.vad = 1;
  b.vad_model = "/nonexistent/silero.safetensors";
  EXPECT_EQ(nm_asr_transcribe_pcm(asr, pcm.data(), 1600, 1, 16000, &b, nullptr, nullptr), NM_ERR_IO);
  EXPECT_EQ(nm_asr_transcribe_file(asr, nullptr, &tp, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_asr_transcribe_file(nullptr, "x.wav", &tp, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_asr_transcribe_file(asr, "/dev/zero", &tp, nullptr, nullptr), NM_ERR_IO);
  EXPECT_EQ(nm_asr_transcribe_mic(asr, nullptr, &tp, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_asr_transcribe_mic(nullptr, "default", &tp, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  // Valid input with NULL params and callbacks: defaults (greedy would need beam 1; 2 fits).
  nm_transcribe_params ok = nm_transcribe_default_params();
  ok.beam_size = 2;
  ok.best_of = 2;
  ASSERT_EQ(nm_asr_transcribe_pcm(asr, pcm.data(), 1600, 1, 16000, &ok, nullptr, nullptr), NM_OK) << nm_asr_last_error(asr);
  EXPECT_GE(nm_asr_get_text(asr, nullptr, 0), 0);
  EXPECT_EQ(nm_asr_get_text(nullptr, nullptr, 0), -1);
  char text[8];
  EXPECT_GE(nm_asr_get_text(asr, text, sizeof text), 0);
  EXPECT_EQ(nm_asr_get_segment(asr, -1, nullptr, nullptr, nullptr, 0), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_asr_get_segment(asr, nm_asr_n_segments(asr), nullptr, nullptr, nullptr, 0), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_asr_get_segment(nullptr, 0, nullptr, nullptr, nullptr, 0), NM_ERR_INVALID_ARGUMENT);
  if (nm_asr_n_segments(asr) > 0) {
    EXPECT_EQ(nm_asr_get_segment(asr, 0, nullptr, nullptr, nullptr, 0), NM_OK);
  }
  EXPECT_EQ(nm_asr_n_segments(nullptr), 0);
  EXPECT_STRNE(nm_asr_language(asr), "");
  EXPECT_STREQ(nm_asr_language(nullptr), "");
  EXPECT_STREQ(nm_asr_describe(nullptr), "");
  EXPECT_NE(nm_asr_last_error(nullptr), nullptr);
  nm_asr_timings t;
  nm_asr_get_timings(asr, &t);
  EXPECT_EQ(t.n_windows, 1);
  nm_asr_get_timings(asr, nullptr);
  nm_asr_get_timings(nullptr, &t);
  EXPECT_EQ(t.n_windows, 0);
  // Speech into a session: NULL session / NULL asr are refused before anything runs.
  EXPECT_EQ(nm_session_chat_audio(nullptr, asr, pcm.data(), 1600, 1, 16000, 8, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  nm_model* m = load_demo(false);
  nm_session* s = open(m, nm_session_default_params());
  EXPECT_EQ(nm_session_chat_audio(s, nullptr, pcm.data(), 1600, 1, 16000, 8, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_session_chat_audio(s, asr, nullptr, 1600, 1, 16000, 8, nullptr, nullptr), NM_ERR_INVALID_ARGUMENT);
  nm_session_free(s);
  nm_model_free(m);
  nm_asr_free(asr);
  nm_asr_free(nullptr);
}

// A 16-bit mono WAV file in memory: n samples of a sine at `rate` Hz.
std::vector<uint8_t> wav_file(int rate, int n, std::vector<int16_t>* pcm_out = nullptr) {
  std::vector<int16_t> pcm((size_t)n);
  for (int i = 0; i < n; ++i) pcm[(size_t)i] = (int16_t)std::lround(12000.0 * std::sin(0.05 * i));
  auto u32 = [](std::vector<uint8_t>& v, uint32_t x) { for (int k = 0; k < 4; ++k) v.push_back((uint8_t)(x >> (8 * k))); };
  auto u16 = [](std::vector<uint8_t>& v, uint16_t x) { v.push_back((uint8_t)x); v.push_back((uint8_t)(x >> 8)); };
  std::vector<uint8_t> f = {'R', 'I', 'F', 'F'};
  u32(f, 36 + 2 * (uint32_t)n);
  for (char c : std::string("WAVEfmt ")) f.push_back((uint8_t)c);
  u32(f, 16); u16(f, 1); u16(f, 1); u32(f, (uint32_t)rate); u32(f, 2 * (uint32_t)rate); u16(f, 2); u16(f, 16);
  for (char c : std::string("data")) f.push_back((uint8_t)c);
  u32(f, 2 * (uint32_t)n);
  for (int16_t x : pcm) u16(f, (uint16_t)x);
  if (pcm_out) *pcm_out = pcm;
  return f;
}

// Audio files in memory (nm_audio_decode): pointers, rates and limits checked; a 16 kHz WAV
// decoded at 16 kHz is its samples / 32768 exactly (no resampling); the length limit holds.
TEST(CApiBadInput, AudioDecodeChecksEveryPointerAndValue) {
  std::vector<int16_t> pcm;
  const std::vector<uint8_t> wav = wav_file(16000, 8000, &pcm);
  float* out = nullptr;
  int64_t n = -1;
  char err[256];
  EXPECT_EQ(nm_audio_decode(nullptr, 10, 16000, 0, &out, &n, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_audio_decode(wav.data(), wav.size(), 16000, 0, nullptr, &n, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_audio_decode(wav.data(), wav.size(), 16000, 0, &out, nullptr, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_audio_decode(wav.data(), wav.size(), 999, 0, &out, &n, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_audio_decode(wav.data(), wav.size(), 768001, 0, &out, &n, nullptr, 0), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_audio_decode(wav.data(), wav.size(), 16000, -1, &out, &n, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(nm_audio_decode(wav.data(), wav.size(), 16000, NAN, &out, &n, err, sizeof err), NM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(out, nullptr);
  EXPECT_EQ(n, 0);
  // Without libsndfile (the aarch64 cross build) no bytes decode at all: the rest needs it.
  if (!nm::audio_files_supported()) GTEST_SKIP() << "this build decodes no audio files (no libsndfile)";
  EXPECT_EQ(nm_audio_decode(wav.data(), 0, 16000, 0, &out, &n, err, sizeof err), NM_ERR_INVALID_FILE);
  const uint8_t junk[] = "this is not an audio file at all, just some text bytes";
  EXPECT_EQ(nm_audio_decode(junk, sizeof junk, 16000, 0, &out, &n, err, sizeof err), NM_ERR_INVALID_FILE);
  EXPECT_NE(std::string(err).find("not an audio file"), std::string::npos) << err;
  EXPECT_EQ(nm_audio_decode(wav.data(), 44, 16000, 0, &out, &n, err, sizeof err), NM_ERR_INVALID_FILE);  // no samples
  // Half a second of audio against a limit of 0.25 s: refused, from the declared length.
  EXPECT_EQ(nm_audio_decode(wav.data(), wav.size(), 16000, 0.25, &out, &n, err, sizeof err), NM_ERR_INVALID_FILE);
  EXPECT_NE(std::string(err).find("limit of 0.25 seconds"), std::string::npos) << err;
  ASSERT_EQ(nm_audio_decode(wav.data(), wav.size(), 16000, 0.5, &out, &n, err, sizeof err), NM_OK) << err;
  ASSERT_EQ(n, 8000);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], (float)pcm[(size_t)i] / 32768.0f) << i;
  nm_audio_free(out);
  // Resampled: 8 kHz in, 16 kHz out, twice the samples (within the resampler's edge).
  const std::vector<uint8_t> low = wav_file(8000, 4000);
  ASSERT_EQ(nm_audio_decode(low.data(), low.size(), 16000, 0, &out, &n, err, sizeof err), NM_OK) << err;
  EXPECT_NEAR((double)n, 8000.0, 2.0);
  nm_audio_free(out);
  nm_audio_free(nullptr);
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(CApiBadInput, EveryFunctionOfTheHeaderIsExercisedHere) {
  const std::string header = read_text(std::string(NM_SOURCE_DIR) + "/include/nanomind/nanomind.h");
  const std::string self = read_text(std::string(NM_SOURCE_DIR) + "/tests/api/c_api_bad_input_test.cpp");
  ASSERT_FALSE(header.empty());
  ASSERT_FALSE(self.empty());
  // Each declaration: "NM_API <type> nm_name(" (std::regex is avoided: GCC 12 warns inside it at -O2).
  std::set<std::string> missing;
  int n = 0;
  for (size_t at = header.find("NM_API "); at != std::string::npos; at = header.find("NM_API ", at + 1)) {
    const size_t paren = header.find('(', at);
    const size_t name_at = header.rfind("nm_", paren);
    if (paren == std::string::npos || name_at == std::string::npos || name_at < at) continue;  // the #define
    const std::string name = header.substr(name_at, paren - name_at);
    if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_0123456789") != std::string::npos) continue;
    ++n;
    if (self.find(name + "(") == std::string::npos) missing.insert(name);
  }
  EXPECT_GT(n, 20);
  for (const std::string& name : missing) ADD_FAILURE() << name << " is declared in nanomind.h but not called here";
}

// The fields of every nm_*_params struct in the header (comments removed).
std::vector<std::string> params_fields(const std::string& header) {
  std::string text;
  for (size_t i = 0; i < header.size();) {  // drop /* ... */ comments
    if (header.compare(i, 2, "/*") == 0) {
      const size_t end = header.find("*/", i + 2);
      i = end == std::string::npos ? header.size() : end + 2;
    } else {
      text += header[i++];
    }
  }
  auto ident_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  std::vector<std::string> fields;
  for (size_t at = text.find("typedef struct nm_"); at != std::string::npos; at = text.find("typedef struct nm_", at + 1)) {
    const size_t open = text.find('{', at), close = text.find('}', at);
    if (open == std::string::npos || close == std::string::npos || open > close) continue;
    const std::string name = text.substr(at + 15, open - at - 15);
    if (name.find(';') != std::string::npos) continue;  // "typedef struct nm_model nm_model;"
    if (name.find("_params") == std::string::npos) continue;  // outputs (info, timings) are written, not checked
    std::stringstream body(text.substr(open + 1, close - open - 1));
    for (std::string decl; std::getline(body, decl, ';');) {
      std::stringstream parts(decl);
      for (std::string part; std::getline(parts, part, ',');) {  // "int32_t image_width, image_height"
        size_t e = part.size();
        while (e > 0 && !ident_char(part[e - 1])) --e;
        size_t b = e;
        while (b > 0 && ident_char(part[b - 1])) --b;
        if (b < e) fields.push_back(part.substr(b, e - b));
      }
    }
  }
  return fields;
}

// Fields for which every value the type can hold means something: nothing to refuse.
const std::set<std::string> kAnyValueIsValid = {
    "seed",            // any 64-bit seed (NM_SEED_RANDOM: draw one)
    "system_prompt",   // any text, or NULL for none
    "initial_prompt",  // any text, or NULL for none
    "no_repack", "parse_special", "ignore_eos", "translate", "timestamps", "no_fallback", "vad",  // C truth values
    "sequential", "drop_frames", "copy_embeddings", "watch", "replan",                                    // C truth values
    "sampling",        // a struct: its fields are checked one by one
};

TEST(CApiBadInput, EveryParameterFieldIsTriedHere) {
  // The class of item 7 in the C API: a field added to an nm_*_params struct must be given
  // a bad value in this file (touched as .field or ::field) or be listed above.
  const std::string header = read_text(std::string(NM_SOURCE_DIR) + "/include/nanomind/nanomind.h");
  const std::string self = read_text(std::string(NM_SOURCE_DIR) + "/tests/api/c_api_bad_input_test.cpp");
  const std::vector<std::string> fields = params_fields(header);
  EXPECT_GT(fields.size(), 15u);
  auto touched = [&](const std::string& f) {
    for (const std::string& prefix : {std::string("."), std::string("::")}) {
      for (size_t at = self.find(prefix + f); at != std::string::npos; at = self.find(prefix + f, at + 1)) {
        const size_t end = at + prefix.size() + f.size();
        if (end >= self.size() || !(std::isalnum(static_cast<unsigned char>(self[end])) || self[end] == '_')) return true;
      }
    }
    return false;
  };
  for (const std::string& f : fields) {
    if (!kAnyValueIsValid.count(f) && !touched(f)) {
      ADD_FAILURE() << "nm_*_params field '" << f << "' is never given a bad value here (or listed in kAnyValueIsValid)";
    }
  }
}

}  // namespace
