// The OpenAI request bodies NanoMind serves — POST /v1/chat/completions and
// POST /v1/completions — parsed and checked into an InferenceRequest before anything runs:
// wrong types, out-of-range numbers, unsupported options, images that are not data: URIs
// (or local files under --allow-local-files), undecodable base64, images over the pixel
// limit and audio parts a server without a speech recogniser cannot hear are each a 400
// with the field named. Audio parts stay encoded here (the HTTP layer transcribes them). Pure functions of the body and the limits
// (plus reading files under the allowed folder), so the fuzz target drives them directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/api_error.h"

namespace nm::server {

struct RequestLimits {
  size_t max_body_bytes = 32u << 20;  // the HTTP layer refuses larger bodies (413)
  int max_messages = 256;
  int max_images = 4;
  int64_t max_image_pixels = 4096ll * 4096;
  size_t max_image_bytes = 16u << 20;
  int max_tokens = 4096;              // largest max_tokens a request may ask for
  int default_max_tokens = 512;       // when the request names none
  int max_stop = 4;                   // OpenAI's limit on stop strings
  size_t max_stop_bytes = 256;
  std::string allow_local_files;      // folder that file:// image URLs may name; empty: none
  int max_audios = 4;                 // input_audio parts per request; 0: refused (no --asr)
  size_t max_audio_bytes = 16u << 20;
  double max_audio_seconds = 120;     // per audio part (checked when it is decoded)
};

struct MessageIn {
  std::string role;  // "system", "user", "assistant"
  std::string text;  // the text parts (and audio transcripts) joined by "\n"
  int n_images = 0;  // this message's images, next in InferenceRequest::images
  // Content parts in order, for messages with audio: the text of each text part, and ""
  // where an audio part's transcript goes (join_parts rebuilds `text`).
  std::vector<std::string> parts;
};

// An input_audio part: its encoded bytes, and where its transcript goes.
struct AudioIn {
  std::vector<uint8_t> bytes;
  std::string format;  // as the client declared it ("wav", "mp3", ...); the decoder reads the bytes
  size_t message = 0, part = 0;
  std::string param;   // "messages[i].content[k]", for errors
};

// What the speech recogniser made of a request's audio parts (filled by the HTTP layer).
struct SpeechIn {
  std::vector<std::string> transcripts;  // one per audio part, trimmed
  double audio_seconds = 0, decode_audio_ms = 0, mel_ms = 0, encode_ms = 0, asr_ms = 0;
  int n_asr_tokens = 0;
  std::string audio_device = "cpu", asr_device = "cpu";
};

enum class RequestKind { chat, completion };

struct InferenceRequest {
  RequestKind kind = RequestKind::chat;
  std::string model;
  std::vector<MessageIn> messages;           // chat
  std::vector<std::vector<uint8_t>> images;  // chat: encoded JPEG/PNG/BMP bytes, in message order
  std::vector<AudioIn> audios;               // chat: input_audio parts, in message order
  SpeechIn speech;                           // their transcripts, once transcribed
  std::string prompt;                        // completion
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with the token counts
  int max_tokens = 0;
  // Sampling; unset fields take the engine's defaults (those of `nanomind run`).
  std::optional<float> temperature, top_p, min_p, repeat_penalty;
  std::optional<int> top_k;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool ignore_eos = false;  // llama-server's extension: generate max_tokens whatever the model says
  bool json_object = false; // response_format {"type": "json_object"}: see server/json_mode.h
};

Expected<InferenceRequest> parse_request(std::string_view body, RequestKind kind, const RequestLimits& limits);

// Puts transcripts[i] in place of audio part i (request.audios[i]) and rebuilds the text of
// the messages that had audio. transcripts.size() must equal request.audios.size().
void join_transcripts(InferenceRequest& request, const std::vector<std::string>& transcripts);

// Deepest nesting of arrays and objects in a JSON text (strings skipped), computed without
// parsing, so that a hostile body cannot make a recursive parser or printer go deep.
int json_nesting_depth(std::string_view text);

}  // namespace nm::server
