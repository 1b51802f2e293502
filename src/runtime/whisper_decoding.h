// Decoding one 30 s window with Whisper, as openai/whisper decoding.py does it: the prompt
// (previous text after <|startofprev|>, then <|startoftranscript|>, language, task and
// <|notimestamps|> when not timing), then tokens chosen by greedy search, beam search
// (beam 5, patience 1, as whisper.cpp) or sampling at a temperature (best of N), with the
// published logit rules: blank and non-speech suppression, and the timestamp rules
// (timestamps in pairs, never decreasing, the first within 1 s, text only when text
// outweighs every timestamp together). Candidates are ranked by mean log-probability.
// Also: language detection (the language tokens' probabilities after <|startoftranscript|>)
// and the no-speech probability (of <|nospeech|> at that position).
// Not thread-safe (uses one WhisperDecoder); the vocabulary is read-only.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "runtime/whisper_context.h"

namespace nm {

struct WhisperWindowOptions {
  int language_token = -1;   // required for multilingual models
  bool translate = false;    // task <|translate|> instead of <|transcribe|>
  bool timestamps = true;    // decode with timestamp tokens
  int beam_size = 5;         // at temperature 0; 1 = greedy
  int best_of = 5;           // samples at temperature > 0
  float temperature = 0.0f;
  bool suppress_blank = true;
  bool suppress_non_speech = true;  // the model's suppress list (Whisper's suppress_tokens=-1)
  float max_initial_timestamp = 1.0f;  // seconds
  int max_tokens = 224;      // sampled tokens at most (half the text context, as Whisper)
  // Tokens of earlier text to condition on (after <|startofprev|>), newest last.
  std::vector<int32_t> previous;
};

struct WhisperWindowResult {
  std::vector<int32_t> tokens;  // sampled, without the final <|endoftext|>
  double sum_logprob = 0.0;
  double avg_logprob = 0.0;     // sum / (tokens + 1), as Whisper
  double entropy = 0.0;         // of the last 32 tokens' counts (whisper.cpp's loop check)
  float no_speech_prob = 0.0f;
  bool ended = false;           // reached <|endoftext|> (else hit max_tokens / the context)
};

// The language tokens' probabilities after <|startoftranscript|> for the window whose
// cross K/V the decoder holds; returns the most likely language token and its probability.
Result<std::pair<int, float>> whisper_detect_language(WhisperDecoder& dec, ThreadPool& pool);

// Decodes the window whose cross K/V the decoder holds. `rng` drives sampling.
Result<WhisperWindowResult> whisper_decode_window(WhisperDecoder& dec, const WhisperWindowOptions& opt,
                                                  std::mt19937_64& rng, ThreadPool& pool);

// The logit rules applied to one sequence's logits before choosing (exposed for tests):
// `sampled` are the tokens chosen so far in this window.
void whisper_apply_rules(const WhisperModel& model, const WhisperWindowOptions& opt, std::span<const int32_t> sampled,
                         float* logits);

}  // namespace nm
