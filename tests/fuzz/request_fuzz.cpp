// libFuzzer target: arbitrary bytes as the body of POST /v1/chat/completions and
// /v1/completions, through the server's request parser (JSON -> InferenceRequest: types,
// ranges, content parts, base64 image data URIs, image headers, input_audio parts). Checks
// that an accepted request respects every limit, that its audio parts' transcripts land in
// their messages, and that a refusal is a 4xx whose body is valid OpenAI error
// JSON; also that base64 decodes what it encodes. Traps on any violation.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/base64.h"
#include "server/request.h"

namespace {

std::string base64_encode(const uint8_t* data, size_t n) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < n ? (uint32_t)data[i + 1] << 8 : 0) | (i + 2 < n ? data[i + 2] : 0);
    out += a[v >> 18 & 63];
    out += a[v >> 12 & 63];
    out += i + 1 < n ? a[v >> 6 & 63] : '=';
    out += i + 2 < n ? a[v & 63] : '=';
  }
  return out;
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  nm::server::RequestLimits limits;
  limits.max_body_bytes = 1 << 16;
  for (auto kind : {nm::server::RequestKind::chat, nm::server::RequestKind::completion}) {
    auto r = nm::server::parse_request(body, kind, limits);
    if (r.ok()) {
      const nm::server::InferenceRequest& q = r.value();
      check(q.max_tokens >= 1 && q.max_tokens <= limits.max_tokens);
      check((int)q.images.size() <= limits.max_images && (int)q.stop.size() <= limits.max_stop);
      if (kind == nm::server::RequestKind::chat) {
        check(!q.messages.empty());
        size_t named = 0;
        for (const auto& m : q.messages) named += (size_t)m.n_images;
        check(named == q.images.size());
        // Each audio part names an empty slot of a user message; transcripts fill exactly those.
        check((int)q.audios.size() <= limits.max_audios);
        for (const auto& a : q.audios) {
          check(a.message < q.messages.size() && a.part < q.messages[a.message].parts.size());
          check(q.messages[a.message].role == "user" && q.messages[a.message].parts[a.part].empty());
          check(!a.bytes.empty() && a.bytes.size() <= limits.max_audio_bytes);
        }
        nm::server::InferenceRequest heard = q;
        nm::server::join_transcripts(heard, std::vector<std::string>(q.audios.size(), "\x01heard\x01"));
        size_t found = 0;
        for (const auto& m : heard.messages)
          for (size_t at = m.text.find("\x01heard\x01"); at != std::string::npos; at = m.text.find("\x01heard\x01", at + 1))
            found++;
        check(found >= q.audios.size());
      } else {
        check(!q.prompt.empty());
      }
      if (q.temperature) check(*q.temperature >= 0.0f && *q.temperature <= 2.0f);
    } else {
      const auto& e = r.error();
      check(e.http_status == 400 || e.http_status == 413);
      const auto j = nlohmann::json::parse(e.to_json(), nullptr, false);
      check(!j.is_discarded() && j.contains("error") && j["error"]["message"].is_string());
    }
  }
  const auto decoded = nm::server::base64_decode(base64_encode(data, size));
  check(decoded && decoded->size() == size && std::equal(decoded->begin(), decoded->end(), data));
  return 0;
}
