#include "server/metrics.h"

#include <cstdio>

namespace nm::server {
namespace {

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, " %.17g\n", v);
  out += name + buf;
}

}  // namespace

void Metrics::count_request(const std::string& endpoint, int http_status) {
  std::lock_guard<std::mutex> lock(mu_);
  requests_[{endpoint, http_status}]++;
}

void Metrics::count_answer(const JobResult& r) {
  std::lock_guard<std::mutex> lock(mu_);
  answers_++;
  prompt_tokens_ += (uint64_t)r.n_prompt;
  generated_tokens_ += (uint64_t)r.n_generated;
  images_ += (uint64_t)r.timings.n_images;
  const std::string text_dev = r.timings.text_device[0] ? r.timings.text_device : "cpu";
  brick_seconds_[{"text_prefill", text_dev}] += r.timings.prompt_ms / 1000.0;
  brick_seconds_[{"text_decode", text_dev}] += r.timings.generate_ms / 1000.0;
  if (r.timings.n_images > 0) {
    const std::string vdev = r.timings.vision_device[0] ? r.timings.vision_device : "cpu";
    brick_seconds_[{"vision_preprocess", vdev}] += r.timings.preprocess_ms / 1000.0;
    brick_seconds_[{"vision", vdev}] += r.timings.vision_ms / 1000.0;
  }
  if (!r.speech.transcripts.empty()) {
    const SpeechIn& sp = r.speech;
    audio_parts_ += sp.transcripts.size();
    audio_seconds_ += sp.audio_seconds;
    brick_seconds_[{"audio", sp.audio_device}] += (sp.decode_audio_ms + sp.mel_ms + sp.encode_ms) / 1000.0;
    brick_seconds_[{"asr", sp.asr_device}] += sp.asr_ms / 1000.0;
  }
  if (r.energy.valid) {
    const std::string how = r.energy.measured ? "measured" : "estimated";
    brick_joules_[{"text_prefill", text_dev, how}] += r.energy.prefill_joules;
    brick_joules_[{"text_decode", text_dev, how}] += r.energy.decode_joules;
    if (r.timings.n_images > 0) {
      brick_joules_[{"vision", r.timings.vision_device[0] ? r.timings.vision_device : "cpu", how}] += r.energy.vision_joules;
    }
  }
}

void Metrics::count_cancelled() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_++;
}

std::string Metrics::render(const SchedulerGauges& g) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  header(out, "nanomind_requests_total", "counter", "HTTP requests by endpoint and status.");
  for (const auto& [key, n] : requests_) {
    sample(out, "nanomind_requests_total{endpoint=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"}",
           (double)n);
  }
  header(out, "nanomind_answers_total", "counter", "Answers generated to the end (stop or length).");
  sample(out, "nanomind_answers_total", (double)answers_);
  header(out, "nanomind_answers_cancelled_total", "counter", "Answers cancelled because the client left.");
  sample(out, "nanomind_answers_cancelled_total", (double)cancelled_);
  header(out, "nanomind_prompt_tokens_total", "counter", "Prompt positions of finished answers (image embeddings included).");
  sample(out, "nanomind_prompt_tokens_total", (double)prompt_tokens_);
  header(out, "nanomind_generated_tokens_total", "counter", "Tokens generated in finished answers.");
  sample(out, "nanomind_generated_tokens_total", (double)generated_tokens_);
  header(out, "nanomind_images_total", "counter", "Images encoded.");
  sample(out, "nanomind_images_total", (double)images_);
  header(out, "nanomind_audio_parts_total", "counter", "Audio parts transcribed (--asr) in finished answers.");
  sample(out, "nanomind_audio_parts_total", (double)audio_parts_);
  header(out, "nanomind_audio_seconds_total", "counter", "Seconds of audio transcribed in finished answers.");
  sample(out, "nanomind_audio_seconds_total", audio_seconds_);
  header(out, "nanomind_queue_depth", "gauge", "Requests waiting for a slot.");
  sample(out, "nanomind_queue_depth", g.queue_depth);
  header(out, "nanomind_slots_busy", "gauge", "Slots generating an answer.");
  sample(out, "nanomind_slots_busy", g.slots_busy);
  header(out, "nanomind_slots_total", "gauge", "Slots (--parallel).");
  sample(out, "nanomind_slots_total", g.slots_total);
  header(out, "nanomind_brick_seconds_total", "counter", "Time each brick ran, by the device it ran on.");
  for (const auto& [key, s] : brick_seconds_) {
    sample(out, "nanomind_brick_seconds_total{brick=\"" + key.first + "\",device=\"" + key.second + "\"}", s);
  }
  header(out, "nanomind_brick_joules_total", "counter",
         "Energy each brick used, by device; how=measured (a power sensor) or estimated (a device profile).");
  for (const auto& [key, j] : brick_joules_) {
    sample(out, "nanomind_brick_joules_total{brick=\"" + std::get<0>(key) + "\",device=\"" + std::get<1>(key) +
                    "\",how=\"" + std::get<2>(key) + "\"}", j);
  }
  return out;
}

}  // namespace nm::server
