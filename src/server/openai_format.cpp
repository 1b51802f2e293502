#include "server/openai_format.h"

namespace nm::server {
namespace {

using json = nlohmann::json;

// count: what the brick produced, in `unit`s (tokens; images for the vision brick).
// joules: the brick's share of the answer's energy (e.energy: "measured" from a power
// sensor, "estimated" from a device profile, or "not measured" without either).
json brick(const char* name, const char* device, double ms, double tokens, const nm_energy& e, double joules,
           const char* unit = "tokens") {
  // Counts are whole numbers except seconds of audio.
  const json count = std::string(unit) == "seconds" ? json(tokens) : json((int64_t)tokens);
  json b = {{"brick", name}, {"device", device[0] ? device : "cpu"}, {"ms", ms}, {"tokens", count}, {"unit", unit}};
  b["tokens_per_s"] = ms > 0 && tokens > 0 ? json(tokens * 1000.0 / ms) : json(nullptr);
  b["joules"] = e.valid ? json(joules) : json(nullptr);
  b["joules_per_token"] = e.valid && tokens > 0 && std::string(unit) == "tokens" ? json(joules / tokens) : json(nullptr);
  b["energy"] = !e.valid ? "not measured" : e.measured ? "measured" : "estimated";
  return b;
}

json header(RequestKind kind, const AnswerIds& ids, bool chunk) {
  const char* object = kind == RequestKind::chat ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                                 : "text_completion";
  return {{"id", ids.id}, {"object", object}, {"created", ids.created}, {"model", ids.model}};
}

}  // namespace

json usage_json(const JobResult& r) {
  return {{"prompt_tokens", r.n_prompt},
          {"completion_tokens", r.n_generated},
          {"total_tokens", r.n_prompt + r.n_generated}};
}

json bricks_json(const JobResult& r) {
  const nm_timings& t = r.timings;
  json bricks = json::array();
  const nm_energy& e = r.energy;
  const SpeechIn& sp = r.speech;
  if (!sp.transcripts.empty()) {
    // Whisper's bricks: `audio` (decoding the file, log-mel, encoder; its rate is seconds of
    // audio per second) and `asr` (the decoder). No energy meter covers them yet.
    const nm_energy none{};
    bricks.push_back(brick("audio", sp.audio_device.c_str(), sp.decode_audio_ms + sp.mel_ms + sp.encode_ms,
                           sp.audio_seconds, none, 0, "seconds"));
    bricks.push_back(brick("asr", sp.asr_device.c_str(), sp.asr_ms, sp.n_asr_tokens, none, 0));
  }
  if (t.n_images > 0) {
    bricks.push_back(brick("vision", t.vision_device, t.preprocess_ms + t.vision_ms, t.n_images, e, e.vision_joules,
                           "images"));
  }
  bricks.push_back(brick("text prefill", t.text_device, t.prompt_ms, t.n_prompt_tokens, e, e.prefill_joules));
  bricks.push_back(brick("text decode", t.text_device, t.generate_ms, t.n_generated, e, e.decode_joules));
  json n = {{"bricks", bricks},
            {"first_token_ms", t.first_token_ms},
            {"prompt_tokens_reused", std::max(0, r.n_prompt - t.n_prompt_tokens)}};
  if (r.time_limit_reached) n["time_limit_reached"] = true;
  if (!sp.transcripts.empty()) n["transcripts"] = sp.transcripts;
  if (r.json_mode) {
    n["json_object"] = {{"valid", r.json_valid}, {"started", r.json_started}, {"closed", r.json_closed},
                        {"dropped_bytes", r.json_dropped_bytes}};
  }
  if (e.valid) {
    n["energy"] = {{"joules", e.joules}, {"seconds", e.seconds}, {"how", e.measured ? "measured" : "estimated"},
                   {"source", e.source}};
  }
  return n;
}

json answer_json(RequestKind kind, const AnswerIds& ids, const std::string& text, const JobResult& r) {
  json j = header(kind, ids, false);
  json choice = {{"index", 0}, {"finish_reason", r.finish_reason}, {"logprobs", nullptr}};
  if (kind == RequestKind::chat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  j["choices"] = json::array({choice});
  j["usage"] = usage_json(r);
  j["nanomind"] = bricks_json(r);
  return j;
}

json chunk_json(RequestKind kind, const AnswerIds& ids, const std::string& piece, const std::string& finish_reason,
                bool first) {
  json j = header(kind, ids, true);
  json choice = {{"index", 0}, {"logprobs", nullptr}};
  choice["finish_reason"] = finish_reason.empty() ? json(nullptr) : json(finish_reason);
  if (kind == RequestKind::chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!piece.empty() || (first && finish_reason.empty())) delta["content"] = piece;
    choice["delta"] = delta;
  } else {
    choice["text"] = piece;
  }
  j["choices"] = json::array({choice});
  return j;
}

json usage_chunk_json(RequestKind kind, const AnswerIds& ids, const JobResult& r) {
  json j = header(kind, ids, true);
  j["choices"] = json::array();
  j["usage"] = usage_json(r);
  return j;
}

std::string sse_event(const json& j) {
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace nm::server
