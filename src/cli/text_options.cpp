#include "cli/text_options.h"

#include <cstdio>
#include <filesystem>

#include "cli/default_model.h"

namespace nm::cli {

void add_model_options(CLI::App& cmd, TextOptions& o) {
  o.sampling = nm_session_default_params().sampling;
  cmd.add_option("-m,--model", o.model_path,
                 "GGUF model file (default: the bundled demo vision-language model in models/)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--mmproj", o.mmproj_path,
                 "Vision encoder + projector GGUF (llama.cpp's mmproj) for --image (default with no -m: the demo's)")
      ->check(CLI::ExistingFile);
  cmd.add_option("-t,--threads", o.n_threads, "Threads (default: one per core)")->check(CLI::NonNegativeNumber);
  cmd.add_option("-c,--ctx-size", o.n_ctx, "Context size in tokens (default: the model's, at most 4096)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--kv-type", o.kv_type, "KV cache type")->check(CLI::IsMember({"f16", "q8_0", "f32"}));
  cmd.add_flag("-v,--verbose", o.verbose, "Print timings and model details to stderr");
  cmd.add_flag("--no-repack", o.no_repack,
               "Run quantised matrices in the file's layout (default: a row-interleaved CPU copy where the "
               "type has one, faster; the file's pages are released so memory stays one copy)");
}

void add_sampling_options(CLI::App& cmd, TextOptions& o) {
  cmd.add_option("--temp", o.sampling.temperature, "Temperature (0 = greedy)");
  cmd.add_option("--top-k", o.sampling.top_k, "Top-k (0 = off)");
  cmd.add_option("--top-p", o.sampling.top_p, "Top-p (1 = off)");
  cmd.add_option("--min-p", o.sampling.min_p, "Min-p (0 = off)");
  cmd.add_option("--repeat-penalty", o.sampling.repeat_penalty, "Repetition penalty (1 = off)");
  cmd.add_option("--repeat-last-n", o.sampling.repeat_last_n, "Tokens the penalty looks back over");
  cmd.add_option("-s,--seed", o.sampling.seed, "Random seed");
  cmd.add_option("--system", o.system_prompt, "System prompt");
  cmd.add_option("--template", o.chat_template,
                 "Chat template: llama2, llama3, llama3.1, chatml, qwen2, gemma (default: recognised from the model file)");
}

// Device placement (issue 5): a separate block, so that the model flags above stay untouched.
void add_device_option(CLI::App& cmd, TextOptions& o) {
  cmd.add_option("--device", o.devices,
                 "Where the bricks run: a device for all (opencl, cpu, cpu:big) or per brick, "
                 "text=opencl,vision=cpu:big (default: cpu; list: nanomind devices)");
}

bool resolve_default_model(TextOptions& o) {
  if (!o.model_path.empty()) return true;
  const std::string dir = find_demo_model_dir();
  if (dir.empty()) {
    std::fprintf(stderr, "error: no model given (-m) and the bundled demo model (%s) is in none of: %s\n", kDemoLlmFile,
                 demo_model_search_path().c_str());
    return false;
  }
  const std::filesystem::path d(dir);
  o.model_path = (d / kDemoLlmFile).string();
  if (o.mmproj_path.empty() && std::filesystem::is_regular_file(d / kDemoMmprojFile)) {
    o.mmproj_path = (d / kDemoMmprojFile).string();
  }
  std::fprintf(stderr, "no -m given: using the bundled demo model in %s\n", dir.c_str());
  return true;
}

nm_model* load_model_or_report(TextOptions& o) {
  if (!resolve_default_model(o)) return nullptr;
  nm_model_params mp = nm_model_default_params();
  mp.model_path = o.model_path.c_str();
  mp.mmproj_path = o.mmproj_path.empty() ? nullptr : o.mmproj_path.c_str();
  mp.n_threads = o.n_threads;
  nm_model* model = nullptr;
  char err[512];
  if (nm_model_load(&mp, &model, err, sizeof err) != NM_OK) {
    std::fprintf(stderr, "error: %s\n", err);
    return nullptr;
  }
  return model;
}

nm_session* open_session_or_report(nm_model* model, const TextOptions& o) {
  nm_session_params sp = nm_session_default_params();
  sp.n_ctx = o.n_ctx;
  sp.kv_type = o.kv_type == "q8_0" ? NM_KV_Q8_0 : o.kv_type == "f32" ? NM_KV_F32 : NM_KV_F16;
  sp.system_prompt = o.system_prompt.empty() ? nullptr : o.system_prompt.c_str();
  sp.chat_template = o.chat_template.empty() ? nullptr : o.chat_template.c_str();
  sp.sampling = o.sampling;
  sp.image_width = o.image_width;
  sp.image_height = o.image_height;
  sp.devices = o.devices.empty() ? nullptr : o.devices.c_str();
  sp.no_repack = o.no_repack ? 1 : 0;
  nm_session* session = nullptr;
  if (nm_session_init(model, &sp, &session) != NM_OK) {
    std::fprintf(stderr, "error: %s\n", session ? nm_session_last_error(session) : "cannot create a session");
    nm_session_free(session);
    return nullptr;
  }
  return session;
}

void print_timings(const nm_session* session) {
  nm_timings t;
  nm_session_get_timings(session, &t);
  auto rate = [](int n, double ms) { return ms > 0 ? n * 1000.0 / ms : 0.0; };
  if (t.n_images > 0) {
    // Per-brick view: where the time of an image question went, and on which device.
    std::fprintf(stderr, "\n[preprocess %.1f ms (%d image%s) | vision+projector %.1f ms on %s | prefill %.1f ms on %s | "
                 "decode %.1f ms on %s]",
                 t.preprocess_ms, t.n_images, t.n_images > 1 ? "s" : "", t.vision_ms, t.vision_device, t.prompt_ms,
                 t.text_device, t.generate_ms, t.text_device);
  } else {
    std::fprintf(stderr, "\n[text brick on %s]", t.text_device);
  }
  std::fprintf(stderr,
               "\n[load %.1f ms | prompt %d tok, %.1f ms, %.1f tok/s | gen %d tok, %.1f ms, %.1f tok/s | "
               "first token %.1f ms | context %d/%d]\n",
               t.load_ms, t.n_prompt_tokens, t.prompt_ms, rate(t.n_prompt_tokens, t.prompt_ms), t.n_generated,
               t.generate_ms, rate(t.n_generated, t.generate_ms), t.first_token_ms, nm_session_n_past(session),
               nm_session_n_ctx(session));
}

}  // namespace nm::cli
