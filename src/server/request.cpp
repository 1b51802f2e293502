#include "server/request.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <iterator>

#include <nlohmann/json.hpp>

#include "nanomind/nanomind.h"
#include "server/base64.h"
#include "server/json_mode.h"

namespace nm::server {
namespace {

using json = nlohmann::json;
constexpr int kMaxJsonDepth = 32;

// A JSON number field read into a float within [lo, hi].
std::optional<ApiError> read_float(const json& body, const char* name, float lo, float hi, std::optional<float>& out) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return bad_request(std::string("'") + name + "' must be a number", name);
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "'%s' must be between %g and %g", name, (double)lo, (double)hi);
    return bad_request(msg, name);
  }
  out = (float)v;
  return std::nullopt;
}

// A JSON integer field within [lo, hi] (a float such as 1e10 is refused, not truncated).
std::optional<ApiError> read_int(const json& body, const char* name, int64_t lo, int64_t hi, std::optional<int64_t>& out) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) return bad_request(std::string("'") + name + "' must be an integer", name);
  // nlohmann stores every non-negative literal as unsigned, and ones past INT64_MAX only so.
  const bool in_range = it->is_number_unsigned()
                            ? it->get<uint64_t>() <= (uint64_t)hi && (lo <= 0 || it->get<uint64_t>() >= (uint64_t)lo)
                            : it->get<int64_t>() >= lo && it->get<int64_t>() <= hi;
  if (!in_range) {
    return bad_request(std::string("'") + name + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi),
                       name);
  }
  out = it->get<int64_t>();
  return std::nullopt;
}

std::optional<ApiError> read_bool(const json& body, const char* name, bool& out) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return bad_request(std::string("'") + name + "' must be true or false", name);
  out = it->get<bool>();
  return std::nullopt;
}

// Reads a local image named by a file:// URL, only inside the allowed folder.
Expected<std::vector<uint8_t>> read_local_image(const std::string& path, const RequestLimits& limits,
                                                const std::string& param) {
  if (limits.allow_local_files.empty()) {
    return bad_request("local image files are not served (start the server with --allow-local-files DIR)", param);
  }
  // Both sides resolved (symlinks, "..") before the containment check.
  char* dir = realpath(limits.allow_local_files.c_str(), nullptr);
  char* file = realpath(path.c_str(), nullptr);
  std::string d = dir ? dir : "", f = file ? file : "";
  std::free(dir);
  std::free(file);
  if (d.empty() || f.empty() || f.size() <= d.size() || f.compare(0, d.size(), d) != 0 ||
      (d != "/" && f[d.size()] != '/')) {
    return bad_request("the image file is not inside the folder given with --allow-local-files, or does not exist", param);
  }
  // Opened without blocking and checked to be a regular file: a FIFO in the folder would
  // otherwise hold this request's thread forever (and a device read without end).
  const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return bad_request("cannot read the image file", param);
  struct stat st {};
  std::vector<uint8_t> bytes;
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= limits.max_image_bytes;
  for (uint8_t buf[65536]; ok;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0 && bytes.size() + (size_t)n <= limits.max_image_bytes;
    if (ok) bytes.insert(bytes.end(), buf, buf + n);
  }
  ::close(fd);
  if (!ok) return bad_request("the image file is not a regular file of at most " +
                              std::to_string(limits.max_image_bytes) + " bytes", param);
  return bytes;
}

// An image_url: a data: URI with base64 data, or (when allowed) a local file.
Expected<std::vector<uint8_t>> read_image_url(const std::string& url, const RequestLimits& limits,
                                              const std::string& param) {
  std::vector<uint8_t> bytes;
  if (url.rfind("data:", 0) == 0) {
    const size_t comma = url.find(',');
    if (comma == std::string::npos || comma < 12 || url.compare(comma - 7, 7, ";base64") != 0) {
      return bad_request("an image data URI must look like data:image/png;base64,...", param);
    }
    if ((url.size() - comma - 1) / 4 * 3 > limits.max_image_bytes) return bad_request("the image is too large", param);
    auto decoded = base64_decode(std::string_view(url).substr(comma + 1));
    if (!decoded) return bad_request("the image data is not valid base64", param);
    bytes = std::move(*decoded);
  } else if (url.rfind("file://", 0) == 0) {
    auto r = read_local_image(url.substr(7), limits, param);
    if (!r.ok()) return r.error();
    bytes = std::move(r.value());
  } else {
    return bad_request("image URLs are not fetched: send the image as a data: URI (base64)", param);
  }
  int32_t w = 0, h = 0;
  if (nm_image_probe(bytes.data(), bytes.size(), &w, &h) != NM_OK) {
    // stb_image also refuses headers whose pixels would pass 2^30 bytes (20000 x 20000 RGB).
    return bad_request("the image cannot be read: not a JPEG, PNG or BMP file, or too large (over the pixel limit)",
                       param);
  }
  if (w <= 0 || h <= 0 || (int64_t)w * h > limits.max_image_pixels) {
    return bad_request("the image is " + std::to_string(w) + "x" + std::to_string(h) + " pixels; the limit is " +
                           std::to_string(limits.max_image_pixels) + " pixels",
                       param);
  }
  return bytes;
}

// Text parts joined by "\n" (an empty text before the first non-empty one adds nothing).
std::string join_parts(const std::vector<std::string>& parts) {
  std::string text;
  for (const std::string& p : parts) {
    if (!text.empty()) text += "\n";
    text += p;
  }
  return text;
}

// An input_audio part, as OpenAI sends it: {"type": "input_audio", "input_audio":
// {"data": "<base64>", "format": "wav" | "mp3"}}. The bytes are checked only for size and
// base64 here; decoding (and the length limit) come with transcription.
Expected<AudioIn> read_input_audio(const json& part, const std::string& pat, const RequestLimits& limits,
                                   int n_before) {
  if (limits.max_audios <= 0) {
    return bad_request("this server has no speech recogniser: start it with --asr WHISPER to send input_audio", pat);
  }
  if (n_before >= limits.max_audios) {
    return bad_request("at most " + std::to_string(limits.max_audios) + " audio parts per request", pat);
  }
  auto ia = part.find("input_audio");
  if (ia == part.end() || !ia->is_object()) {
    return bad_request(pat + ".input_audio must be an object with 'data' (base64) and 'format'", pat + ".input_audio");
  }
  auto data = ia->find("data");
  if (data == ia->end() || !data->is_string()) {
    return bad_request(pat + ".input_audio.data must be a base64 string", pat + ".input_audio.data");
  }
  AudioIn a;
  a.param = pat;
  if (auto f = ia->find("format"); f != ia->end() && !f->is_null()) {
    if (!f->is_string()) return bad_request(pat + ".input_audio.format must be a string", pat + ".input_audio.format");
    a.format = f->get<std::string>();
    static const char* const kFormats[] = {"wav", "mp3", "flac", "ogg", "opus"};
    if (std::find(std::begin(kFormats), std::end(kFormats), a.format) == std::end(kFormats)) {
      return bad_request("audio format '" + a.format.substr(0, 32) + "' is not supported (wav, mp3, flac, ogg, opus)",
                         pat + ".input_audio.format");
    }
  }
  const std::string& b64 = data->get_ref<const std::string&>();
  if (b64.size() / 4 * 3 > limits.max_audio_bytes) {
    return bad_request("the audio is larger than " + std::to_string(limits.max_audio_bytes) + " bytes",
                       pat + ".input_audio.data");
  }
  auto decoded = base64_decode(b64);
  if (!decoded) return bad_request("the audio data is not valid base64", pat + ".input_audio.data");
  if (decoded->empty()) return bad_request("the audio data is empty", pat + ".input_audio.data");
  a.bytes = std::move(*decoded);
  return a;
}

// One chat message: role and content (a string, or an array of text, image_url and
// input_audio parts).
std::optional<ApiError> read_message(const json& m, size_t index, const RequestLimits& limits, InferenceRequest& req) {
  const std::string at = "messages[" + std::to_string(index) + "]";
  if (!m.is_object()) return bad_request(at + " must be an object", at);
  auto role = m.find("role");
  if (role == m.end() || !role->is_string()) return bad_request(at + ".role must be a string", at + ".role");
  MessageIn msg;
  msg.role = role->get<std::string>();
  if (msg.role == "developer") msg.role = "system";  // OpenAI's newer name for the system role
  if (msg.role != "system" && msg.role != "user" && msg.role != "assistant") {
    return bad_request(at + ".role '" + msg.role + "' is not supported (system, user, assistant)", at + ".role");
  }
  auto content = m.find("content");
  if (content == m.end() || content->is_null()) {
    if (msg.role != "assistant") return bad_request(at + ".content is missing", at + ".content");
  } else if (content->is_string()) {
    msg.text = content->get<std::string>();
  } else if (content->is_array()) {
    bool has_audio = false;
    for (size_t k = 0; k < content->size(); ++k) {
      const json& part = (*content)[k];
      const std::string pat = at + ".content[" + std::to_string(k) + "]";
      auto type = part.is_object() ? part.find("type") : part.end();
      if (!part.is_object() || type == part.end() || !type->is_string()) {
        return bad_request(pat + " must be an object with a 'type'", pat);
      }
      const std::string t = type->get<std::string>();
      if (t == "text") {
        auto text = part.find("text");
        if (text == part.end() || !text->is_string()) return bad_request(pat + ".text must be a string", pat + ".text");
        msg.parts.push_back(text->get<std::string>());
      } else if (t == "image_url") {
        auto iu = part.find("image_url");
        const json* url = nullptr;
        if (iu != part.end() && iu->is_string()) url = &*iu;
        if (iu != part.end() && iu->is_object() && iu->contains("url")) url = &(*iu)["url"];
        if (!url || !url->is_string()) return bad_request(pat + ".image_url.url must be a string", pat + ".image_url");
        if ((int)req.images.size() >= limits.max_images) {
          return bad_request("at most " + std::to_string(limits.max_images) + " images per request", pat);
        }
        auto bytes = read_image_url(url->get<std::string>(), limits, pat + ".image_url");
        if (!bytes.ok()) return bytes.error();
        req.images.push_back(std::move(bytes.value()));
        msg.n_images++;
      } else if (t == "input_audio") {
        auto audio = read_input_audio(part, pat, limits, (int)req.audios.size());
        if (!audio.ok()) return audio.error();
        audio.value().message = index;
        audio.value().part = msg.parts.size();
        req.audios.push_back(std::move(audio.value()));
        msg.parts.emplace_back();  // the transcript goes here
        has_audio = true;
      } else {
        return bad_request(pat + ": content part type '" + t + "' is not supported", pat + ".type");
      }
    }
    msg.text = join_parts(msg.parts);
    if (!has_audio) msg.parts.clear();
  } else {
    return bad_request(at + ".content must be a string or an array of parts", at + ".content");
  }
  if (msg.n_images > 0 && msg.role != "user") return bad_request("only user messages may carry images", at);
  if (!msg.parts.empty() && msg.role != "user") return bad_request("only user messages may carry audio", at);
  req.messages.push_back(std::move(msg));
  return std::nullopt;
}

std::optional<ApiError> read_stop(const json& body, const RequestLimits& limits, InferenceRequest& req) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return std::nullopt;
  std::vector<std::string> stops;
  if (it->is_string()) {
    stops.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    if ((int)it->size() > limits.max_stop) {
      return bad_request("at most " + std::to_string(limits.max_stop) + " stop strings", "stop");
    }
    for (const json& s : *it) {
      if (!s.is_string()) return bad_request("'stop' must be a string or an array of strings", "stop");
      stops.push_back(s.get<std::string>());
    }
  } else {
    return bad_request("'stop' must be a string or an array of strings", "stop");
  }
  for (const std::string& s : stops) {
    if (s.size() > limits.max_stop_bytes) return bad_request("a stop string is too long", "stop");
    if (!s.empty()) req.stop.push_back(s);
  }
  return std::nullopt;
}

std::optional<ApiError> read_options(const json& body, const RequestLimits& limits, InferenceRequest& req) {
  if (auto m = body.find("model"); m != body.end() && !m->is_null()) {
    if (!m->is_string()) return bad_request("'model' must be a string", "model");
    req.model = m->get<std::string>();
  }
  std::optional<int64_t> n, max_tokens, seed, top_k;
  if (auto e = read_int(body, "n", 1, 1, n)) {
    e->message = "only n = 1 is supported";
    return e;
  }
  if (auto e = read_int(body, "max_completion_tokens", 1, limits.max_tokens, max_tokens)) return e;
  if (auto e = read_int(body, "max_tokens", 1, limits.max_tokens, max_tokens)) return e;
  req.max_tokens = max_tokens ? (int)*max_tokens : limits.default_max_tokens;
  if (auto e = read_int(body, "seed", INT64_MIN, INT64_MAX, seed)) return e;
  if (seed) req.seed = (uint64_t)*seed;
  if (auto e = read_int(body, "top_k", 0, 1000000, top_k)) return e;
  if (top_k) req.top_k = (int)*top_k;
  if (auto e = read_float(body, "temperature", 0.0f, 2.0f, req.temperature)) return e;
  if (auto e = read_float(body, "top_p", 0.0f, 1.0f, req.top_p)) return e;
  if (auto e = read_float(body, "min_p", 0.0f, 1.0f, req.min_p)) return e;
  if (auto e = read_float(body, "repeat_penalty", 0.0f, 10.0f, req.repeat_penalty)) return e;
  if (auto e = read_bool(body, "stream", req.stream)) return e;
  if (auto e = read_bool(body, "ignore_eos", req.ignore_eos)) return e;
  if (auto so = body.find("stream_options"); so != body.end() && !so->is_null()) {
    if (!so->is_object()) return bad_request("'stream_options' must be an object", "stream_options");
    if (auto e = read_bool(*so, "include_usage", req.include_usage)) return e;
  }
  if (auto rf = body.find("response_format"); rf != body.end() && !rf->is_null()) {
    const json* type = rf->is_object() && rf->contains("type") ? &(*rf)["type"] : nullptr;
    const std::string t = type && type->is_string() ? type->get<std::string>() : "";
    if (t != "text" && t != "json_object") {
      return bad_request("response_format must be {\"type\": \"text\"} or {\"type\": \"json_object\"} "
                         "(json_schema is not supported)", "response_format");
    }
    req.json_object = t == "json_object";
  }
  for (const char* unsupported : {"tools", "functions", "logprobs", "logit_bias"}) {
    auto it = body.find(unsupported);
    if (it != body.end() && !it->is_null() && !(it->is_boolean() && !it->get<bool>())) {
      return bad_request(std::string("'") + unsupported + "' is not supported", unsupported);
    }
  }
  return read_stop(body, limits, req);
}

// Whether the prompt mentions JSON (any case).
bool asks_for_json(const InferenceRequest& r) {
  auto mentions = [](const std::string& text) {
    for (size_t i = 0; i + 4 <= text.size(); ++i) {
      if ((text[i] | 0x20) == 'j' && (text[i + 1] | 0x20) == 's' && (text[i + 2] | 0x20) == 'o' &&
          (text[i + 3] | 0x20) == 'n') {
        return true;
      }
    }
    return false;
  };
  if (r.kind == RequestKind::completion) return mentions(r.prompt);
  for (const MessageIn& m : r.messages)
    if (mentions(m.text)) return true;
  return false;
}

}  // namespace

void join_transcripts(InferenceRequest& request, const std::vector<std::string>& transcripts) {
  for (size_t i = 0; i < request.audios.size() && i < transcripts.size(); ++i) {
    const AudioIn& a = request.audios[i];
    request.messages[a.message].parts[a.part] = transcripts[i];
  }
  for (MessageIn& m : request.messages)
    if (!m.parts.empty()) m.text = join_parts(m.parts);
}

int json_nesting_depth(std::string_view text) {
  JsonScanner scan;
  int deepest = 0;
  for (const char c : text)
    if (scan.step(c) > 0) deepest = std::max(deepest, scan.depth);
  return deepest;
}

Expected<InferenceRequest> parse_request(std::string_view body, RequestKind kind, const RequestLimits& limits) {
  if (body.size() > limits.max_body_bytes) {
    return ApiError{413, "the request body is larger than " + std::to_string(limits.max_body_bytes) + " bytes",
                    "invalid_request_error", {}, "request_too_large"};
  }
  if (json_nesting_depth(body) > kMaxJsonDepth) return bad_request("the JSON body is nested too deeply");
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad_request("the body is not valid JSON (or not valid UTF-8)");
  if (!j.is_object()) return bad_request("the body must be a JSON object");
  InferenceRequest req;
  req.kind = kind;
  try {
    if (auto e = read_options(j, limits, req)) return *e;
    if (kind == RequestKind::chat) {
      auto msgs = j.find("messages");
      if (msgs == j.end() || !msgs->is_array() || msgs->empty()) {
        return bad_request("'messages' must be a non-empty array", "messages");
      }
      if ((int)msgs->size() > limits.max_messages) {
        return bad_request("at most " + std::to_string(limits.max_messages) + " messages", "messages");
      }
      for (size_t i = 0; i < msgs->size(); ++i)
        if (auto e = read_message((*msgs)[i], i, limits, req)) return *e;
    } else {
      auto p = j.find("prompt");
      if (p != j.end() && p->is_array() && p->size() == 1 && (*p)[0].is_string()) p = p->begin();
      if (p == j.end() || !p->is_string()) return bad_request("'prompt' must be a string", "prompt");
      req.prompt = p->get<std::string>();
      if (req.prompt.empty()) return bad_request("'prompt' is empty", "prompt");
    }
  } catch (const json::exception& e) {  // a type mismatch missed above: still the client's error
    return bad_request(std::string("malformed request: ") + e.what());
  }
  if (req.json_object && !asks_for_json(req)) {
    // OpenAI's rule: without a grammar, only the prompt makes the model write JSON.
    return bad_request("with response_format json_object the messages must ask for JSON (say \"JSON\" in them)",
                       "response_format");
  }
  return req;
}

}  // namespace nm::server
