// The JSON NanoMind answers with, in OpenAI's shapes: whole responses for chat and text
// completions, the server-sent-event chunks of a streamed answer (role, content pieces,
// the finish reason, the usage chunk), errors, and the model list. Each answer also
// carries a "nanomind" object with per-brick device, time, tokens/s and energy (labelled
// "not measured" where no meter or profile covers the brick), and the transcripts of its
// audio parts, for the chat page; OpenAI clients ignore it.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "server/job.h"
#include "server/request.h"

namespace nm::server {

struct AnswerIds {
  std::string id;       // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;  // Unix seconds
  std::string model;
};

nlohmann::json usage_json(const JobResult& r);
nlohmann::json bricks_json(const JobResult& r);
// A whole (non-streamed) answer.
nlohmann::json answer_json(RequestKind kind, const AnswerIds& ids, const std::string& text, const JobResult& r);
// One streamed chunk: a content piece (finish_reason empty), or the last chunk (with the
// finish reason and the bricks). first: the chat chunk that opens with the role.
nlohmann::json chunk_json(RequestKind kind, const AnswerIds& ids, const std::string& piece,
                          const std::string& finish_reason, bool first);
// The chunk after the last, with the usage and no choices (stream_options.include_usage).
nlohmann::json usage_chunk_json(RequestKind kind, const AnswerIds& ids, const JobResult& r);
// "data: <json>\n\n"
std::string sse_event(const nlohmann::json& j);

}  // namespace nm::server
