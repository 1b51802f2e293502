#include "cli/text_options.h"

#include <csignal>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <pthread.h>

#include "cli/default_model.h"
#include "cli/option_checks.h"
#include "cli/text_escape.h"
#include "backend/device_registry.h"
#include "core/gguf_reader.h"
#include "core/thread_pool.h"
#include "runtime/plan/auto_placement.h"
#include "tokenizer/chat_template.h"

namespace nm::cli {

void add_model_options(CLI::App& cmd, TextOptions& o) {
  o.sampling = nm_session_default_params().sampling;
  cmd.add_option("-m,--model", o.model_path,
                 "GGUF model file (default: the bundled demo vision-language model in models/)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--mmproj", o.mmproj_path,
                 "Vision encoder + projector GGUF (llama.cpp's mmproj) for --image (default with no -m: the demo's)")
      ->check(CLI::ExistingFile);
  cmd.add_option("-t,--threads", o.n_threads,
                 "Threads (default 0: one per core; more than the CPUs available are capped to that count, with a "
                 "warning: extra threads only slow decoding down)")
      ->check(int_in(0, NM_MAX_THREADS, "0 (one per core) or 1 to " + std::to_string(NM_MAX_THREADS)));
  cmd.add_option("-c,--ctx-size", o.n_ctx,
                 "Context size in tokens (default 0: the model's training context, at most 4096; above the training "
                 "context works, with a warning)")
      ->check(int_in(0, NM_MAX_CTX, "0 (the model's) or 1 to " + std::to_string(NM_MAX_CTX) + " tokens"));
  cmd.add_option("--kv-type", o.kv_type, "KV cache type (default f16)")->check(CLI::IsMember({"f16", "q8_0", "f32"}));
  cmd.add_flag("-v,--verbose", o.verbose, "Print timings, energy and model details to stderr");
  cmd.add_option("--power-profile", o.power_profile,
                 "Device profile for the energy estimate where no power sensor exists: rk3566, rk3588, "
                 "jetson-orin-nano, rpi5, x86-server-vcpu, a .json file, or none (default: NM_POWER_PROFILE, else "
                 "this machine's board, else x86-server-vcpu on x86-64)");
  cmd.add_flag("--no-repack", o.no_repack,
               "Run quantised matrices in the file's layout (default: a row-interleaved CPU copy where the "
               "type has one, faster; the file's pages are released so memory stays one copy)");
}

void add_sampling_options(CLI::App& cmd, TextOptions& o) {
  const nm_sampling_params d = nm_session_default_params().sampling;
  auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return std::string(buf);
  };
  cmd.add_option("--temp", o.sampling.temperature, "Temperature (0 = greedy; default " + num(d.temperature) + ")")
      ->check(real_in(0, HUGE_VAL, false, "0 (greedy) or a finite positive number"));
  cmd.add_option("--top-k", o.sampling.top_k, "Top-k (0 = off; default " + num(d.top_k) + ")")
      ->check(int_in(0, INT32_MAX, "0 (off) or a positive count of tokens"));
  cmd.add_option("--top-p", o.sampling.top_p, "Top-p (1 = off; default " + num(d.top_p) + ")")
      ->check(real_in(0, 1, false, "0 to 1 (1 = off)"));
  cmd.add_option("--min-p", o.sampling.min_p, "Min-p (0 = off; default " + num(d.min_p) + ")")
      ->check(real_in(0, 1, false, "0 (off) to 1"));
  cmd.add_option("--repeat-penalty", o.sampling.repeat_penalty,
                 "Repetition penalty (1 = off; default " + num(d.repeat_penalty) + ")")
      ->check(real_in(0, HUGE_VAL, true, "a finite number above 0 (1 = off)"));
  cmd.add_option("--repeat-last-n", o.sampling.repeat_last_n,
                 "Tokens the penalty looks back over (0 = off; default " + num(d.repeat_last_n) + ")")
      ->check(int_in(0, INT32_MAX, "0 (off) or a positive count of tokens"));
  cmd.add_option_function<std::string>(
         "-s,--seed",
         [&o](const std::string& v) { o.sampling.seed = v == "-1" ? NM_SEED_RANDOM : std::stoull(v); },
         "Random seed (default -1: a new random seed each run; -v prints it so a run can be repeated)")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            if (v == "-1") return {};
            char* end = nullptr;
            errno = 0;
            const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
            if (v.empty() || v[0] == '-' || end != v.c_str() + v.size() || errno == ERANGE || x == NM_SEED_RANDOM) {
              return "'" + v + "' is not a seed: -1 (random) or a whole number from 0 to " +
                     std::to_string(NM_SEED_RANDOM - 1);
            }
            return {};
          },
          "SEED"));
  cmd.add_option("--system", o.system_prompt, "System prompt (default: the chat template's)");
  cmd.add_flag("--parse-special", o.parse_special,
               "Read special-token text in the prompt (e.g. <|im_end|>) as control tokens (default: plain text, so "
               "a typed marker cannot end the turn or add an image; the chat template's own markers are always "
               "control tokens)");
  cmd.add_option("--template", o.chat_template,
                 "Chat template: " + std::string(ChatTemplate::known_names()) +
                     " (default: recognised from the model file)");
}

// Device placement (issue 5): a separate block, so that the model flags above stay untouched.
void add_device_option(CLI::App& cmd, TextOptions& o) {
  cmd.add_option("--device", o.devices,
                 "Where the bricks run: a device for all (opencl, cpu, cpu:big) or per brick, "
                 "text=opencl,vision=cpu:big (run with --audio: also audio= and asr=; default: where the planner puts them, see "
                 "--objective; list: nanomind devices)");
  cmd.add_option("--objective", o.objective,
                 "Without --device, the bricks go where the planner predicts the least latency, energy or edp "
                 "(energy x delay), from this machine's calibration (nanomind calibrate) or a built-in estimate")
      ->check(CLI::IsMember({"latency", "energy", "edp"}))
      ->capture_default_str();
  cmd.add_option("--residency", o.residency,
                 "keep: each brick's weights stay in memory from first use (default); on-demand: a brick's "
                 "weights, packed copies and graphs (and the text brick's KV cache) are given back after each "
                 "run and mapped again before the next, so bricks that take turns (--camera with --sequential) "
                 "are never all resident at once; an image encode also gives each weight back after its last "
                 "reader, so pipelined (--camera) the text brick shares memory with about one encoder layer")
      ->check(CLI::IsMember({"keep", "on-demand"}));
  cmd.add_option("--trace", o.trace_path,
                 "Write Chrome trace events of the bricks' runs to this JSON file (Perfetto, chrome://tracing): "
                 "a track per device, a slice per brick run, ring hand-offs as arrows (default: none, no trace)")
      ->check(writable_file());
}

TraceWriter::~TraceWriter() {
  if (path_.empty() || !session_) return;
  if (nm_session_trace_write(session_, path_.c_str()) != NM_OK) {
    std::fprintf(stderr, "error: %s\n", nm_session_last_error(session_));
  }
}

bool resolve_default_model(TextOptions& o) {
  if (!o.model_path.empty()) return true;
  const std::optional<DefaultModel> d = find_default_model();
  if (!d) {
    std::fprintf(stderr, "error: no model given (-m) and the bundled models (%s) are in none of: %s\n", kDemoLlmFile,
                 demo_model_search_path().c_str());
    return false;
  }
  o.model_path = d->llm;
  if (o.mmproj_path.empty()) o.mmproj_path = d->mmproj;
  if (d->toy) {
    std::fprintf(stderr, "no -m given: using the bundled demo model in %s. It is a toy: it only knows pictures of "
                 "coloured shapes (see models/samples); give -m MODEL.gguf for real use\n", d->models_dir.c_str());
    if (!d->missing_llm.empty()) {
      std::fprintf(stderr, "note: the default language model (%s) is not fetched yet: scripts/fetch-models.sh "
                   "'smollm2*' fetches it\n", d->missing_llm.c_str());
    }
  } else {
    std::fprintf(stderr, "no -m given: using the default model, SmolLM2-135M-Instruct (%s) with NanoMind's bundled "
                 "vision file (%s). Its vision only knows pictures of coloured shapes (see models/samples); "
                 "give -m MODEL.gguf --mmproj MMPROJ.gguf for other models\n", d->llm.c_str(), d->mmproj.c_str());
  }
  o.demo = true;
  o.demo_models_dir = d->models_dir;
  return true;
}

namespace {

// Issue 15 item 6: the planner's placement on this machine's devices when none is named.
// A failure (a model file the planner cannot read) leaves the default placement: loading
// the model reports it properly.
void place_automatically(TextOptions& o) {
  if (!o.devices.empty() || !o.automatic_placement) return;
  Result<GgufFile> llm = GgufFile::open(o.model_path);
  if (!llm.ok()) return;
  std::unique_ptr<GgufFile> mm;
  if (!o.mmproj_path.empty()) {
    Result<GgufFile> f = GgufFile::open(o.mmproj_path);
    if (!f.ok()) return;
    mm = std::make_unique<GgufFile>(std::move(f).value());
  }
  DeviceRegistryOptions ro;
  ro.log = [](const std::string&) {};  // the session's own registry reports the devices
  // Probing OpenCL may start the platform's threads (PoCL's workers), which inherit this
  // thread's signal mask: they must not take SIGINT/SIGTERM, which chat's Ctrl-C and the
  // server's sigwait expect on their own threads (the server died of SIGTERM otherwise).
  sigset_t stop_signals, old_mask;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
  DeviceRegistry reg = DeviceRegistry::create(ro);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  std::vector<Device*> all;
  for (const auto& d : reg.devices()) all.push_back(d.get());
  Result<plan::Objective> parsed = plan::parse_objective(o.objective);  // --objective checked its words
  const plan::Objective objective = parsed.ok() ? *parsed : plan::Objective::latency;
  Result<plan::AutoPlacement> a =
      plan::automatic_placement(*llm, mm.get(), objective, all, static_cast<int64_t>(std::time(nullptr)));
  if (!a.ok()) {
    std::fprintf(stderr, "nanomind: automatic placement failed (%s): every brick on the CPU (--device places them)\n",
                 a.status().message().c_str());
    return;
  }
  if (!a->calibrated) {
    std::fprintf(stderr, "nanomind: no calibration for this machine: bricks placed from the %s (%s; nanomind calibrate "
                 "measures this machine, --device overrides)\n", a->source.c_str(), a->placement.c_str());
  } else if (o.verbose) {
    std::fprintf(stderr, "nanomind: bricks placed by the planner (%s, profile %s): %s\n", o.objective.c_str(),
                 a->source.c_str(), a->placement.c_str());
  }
  o.devices = a->device_spec;
}

}  // namespace

nm_model* load_model_or_report(TextOptions& o) {
  if (!resolve_default_model(o)) return nullptr;
  place_automatically(o);
  const int n_cpus = usable_cpu_count();
  if (o.n_threads > n_cpus) {
    std::fprintf(stderr, "warning: -t %d is more than the %d CPU%s this process may use; using %d (more threads than "
                 "CPUs only slow decoding down)\n", o.n_threads, n_cpus, n_cpus == 1 ? "" : "s", n_cpus);
    o.n_threads = n_cpus;
  }
  nm_model_params mp = nm_model_default_params();
  mp.model_path = o.model_path.c_str();
  mp.mmproj_path = o.mmproj_path.empty() ? nullptr : o.mmproj_path.c_str();
  mp.n_threads = o.n_threads;
  mp.power_profile = o.power_profile.empty() ? nullptr : o.power_profile.c_str();
  nm_model* model = nullptr;
  char err[512];
  if (nm_model_load(&mp, &model, err, sizeof err) != NM_OK) {
    std::fprintf(stderr, "error: %s\n", terminal_safe(err).c_str());  // may quote the file's keys
    return nullptr;
  }
  return model;
}

nm_asr* load_asr_or_report(const std::string& path, const TextOptions& o) {
  nm_asr_params ap = nm_asr_default_params();
  ap.model_path = path.c_str();
  ap.n_threads = o.n_threads;
  ap.devices = o.devices.c_str();
  char err[1024] = "";
  nm_asr* asr = nullptr;
  if (nm_asr_load(&ap, &asr, err, sizeof err) != NM_OK) {
    std::fprintf(stderr, "error: %s\n", terminal_safe(err).c_str());
    return nullptr;
  }
  return asr;
}

nm_session_params session_params_from(const TextOptions& o) {
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
  sp.parse_special = o.parse_special ? 1 : 0;
  sp.ignore_eos = o.ignore_eos ? 1 : 0;
  sp.residency = o.residency == "on-demand" ? NM_RESIDENCY_ON_DEMAND : NM_RESIDENCY_KEEP;
  return sp;
}

nm_session* open_session_or_report(nm_model* model, const TextOptions& o) {
  nm_model_info info{};
  if (nm_model_get_info(model, &info) == NM_OK && o.n_ctx > info.n_ctx_train) {
    std::fprintf(stderr, "warning: -c %d is more than the %d tokens the model was trained on; past them its answers "
                 "degrade\n", o.n_ctx, info.n_ctx_train);
  }
  const nm_session_params sp = session_params_from(o);
  nm_session* session = nullptr;
  char err[512];
  if (nm_session_init(model, &sp, &session, err, sizeof err) != NM_OK) {
    std::fprintf(stderr, "error: %s\n", err);
    return nullptr;
  }
  if (!o.trace_path.empty() && nm_session_trace_start(session) != NM_OK) {
    std::fprintf(stderr, "error: %s\n", nm_session_last_error(session));
    nm_session_free(session);
    return nullptr;
  }
  if (o.verbose && o.sampling.temperature > 0) {
    std::fprintf(stderr, "sampling seed %llu (repeat this run with -s %llu)\n",
                 (unsigned long long)nm_session_seed(session), (unsigned long long)nm_session_seed(session));
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
  nm_energy e;
  if (nm_session_get_energy(session, &e) == NM_OK && e.valid) {
    std::fprintf(stderr, "[energy %s: %.4g J in %.4g s (%.4g W) | ", e.measured ? "measured" : "ESTIMATED", e.joules,
                 e.seconds, e.seconds > 0 ? e.joules / e.seconds : 0.0);
    if (t.n_images > 0) std::fprintf(stderr, "vision %.4g J | ", e.vision_joules);
    std::fprintf(stderr, "prefill %.4g J (%.4g J/tok) | decode %.4g J (%.4g J/tok) | source: %s]\n", e.prefill_joules,
                 e.prefill_joules_per_token, e.decode_joules, e.decode_joules_per_token, e.source);
  } else {
    std::fprintf(stderr, "[energy: not reported (no power sensor and no device profile; see --power-profile)]\n");
  }
}

}  // namespace nm::cli
