// `nanomind battery`: how long a battery lasts for a duty cycle ("camera question every
// 60s") in each power mode, with the arithmetic shown. The joules come from a device
// profile (shipped board or a file) and the model files' costs, and are labelled as an
// estimate from that profile; nothing here is measured on this machine.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/option_checks.h"
#include "cli/default_model.h"
#include "core/gguf_reader.h"
#include "runtime/energy/battery.h"
#include "runtime/energy/battery_life.h"
#include "runtime/energy/event_work.h"
#include "runtime/energy/mode_costs.h"
#include "runtime/energy/trace_replay.h"
#include "runtime/profile/device_profile.h"

namespace nm::cli {
namespace {

struct BatteryOptions {
  std::string capacity;
  double volts = 3.7;
  std::string duty = "camera question every 60s";
  std::string profile;
  std::string model_path, mmproj_path;
  int prompt_tokens = 24, answer_tokens = 32, image_tokens = 0;
  std::string place;
  double fps = 30;
  double t_high = 50, t_low = 20, throttled_alpha = 0.5;
  std::string replay;  // a recorded run's trace
};

int fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return 1;
}

// "vision=npu,text=cpu:big" over the profile's default placement.
Status apply_place(const std::string& spec, energy::EventPlacement& p) {
  size_t start = 0;
  while (start < spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    const std::string item = spec.substr(start, comma - start);
    const size_t eq = item.find('=');
    if (eq == std::string::npos) return error(ErrorCode::invalid_argument, "--place '" + item + "': expected BRICK=DEVICE");
    const std::string brick = item.substr(0, eq), dev = item.substr(eq + 1);
    if (brick == "vision") p.vision_device = dev;
    else if (brick == "text") p.text_device = dev;
    else return error(ErrorCode::invalid_argument, "--place: unknown brick '" + brick + "' (vision, text)");
    start = comma + 1;
  }
  return Status::ok_status();
}

// Hours per mode from a recorded run's trace: each mode's joules per answer as recorded
// (everything the process drew in that mode, over its answers), the profile's idle power
// between events (awake power where it has one for the modes that keep bricks resident).
int replay(const BatteryOptions& o, double capacity_j, const energy::DutyCycle& duty, const DeviceProfile& profile) {
  Result<energy::ReplayedRun> run = energy::read_power_trace(o.replay);
  if (!run.ok()) return fail(run.status());
  std::printf("REPLAYED from the trace %s: joules per answer as the recorded run drew them (%s); power between "
              "events from device profile %s (an estimate)\n", o.replay.c_str(),
              run->measured ? "measured by a power sensor" : "ESTIMATED from a device profile: no power sensor",
              profile.summary().c_str());
  std::printf("battery: %s at %.2f V = %.2f Wh = %.0f J\n", o.capacity.c_str(), o.volts, capacity_j / 3600.0, capacity_j);
  std::printf("duty cycle: %s every %.0f s\n", duty.event.c_str(), duty.period_s);
  if (!profile.idle_w.known()) return fail(error(ErrorCode::invalid_argument, "profile " + profile.name + " has no idle power"));
  const double awake_w = profile.awake_w.known() ? profile.awake_w.value : profile.idle_w.value;
  std::printf("per mode (whole battery in one mode, %d mode change%s in the recording):\n", run->mode_changes,
              run->mode_changes == 1 ? "" : "s");
  int shown = 0;
  for (int m = 0; m < 3; ++m) {
    const energy::ReplayedMode& r = run->modes[m];
    const auto mode = static_cast<energy::PowerMode>(m);
    if (r.answers == 0) {
      std::printf("  %-10s     --    (no answer was recorded in this mode)\n", energy::power_mode_name(mode));
      continue;
    }
    energy::ModePower mp;
    mp.mode = mode;
    mp.base_w = mode == energy::PowerMode::on_demand ? profile.idle_w.value : awake_w;
    mp.event_j = r.joules / r.answers;
    Result<energy::BatteryLife> b = energy::battery_life(capacity_j, mp, duty.period_s);
    if (!b.ok()) return fail(b.status());
    std::printf("  %-10s %6.2f h  (%d answer%s, %.3f J in %.2f s recorded: %.4f J per answer)  %s\n",
                energy::power_mode_name(mode), b->hours, r.answers, r.answers == 1 ? "" : "s", r.joules, r.seconds,
                mp.event_j, b->arithmetic.c_str());
    ++shown;
  }
  if (shown == 0) return fail(error(ErrorCode::invalid_argument, o.replay + ": the recorded run answered nothing"));
  return 0;
}

int battery(const BatteryOptions& o) {
  if (o.capacity.empty()) return fail(error(ErrorCode::invalid_argument, "--capacity is required (e.g. 2000mAh or 7.4Wh)"));
  Result<double> capacity_j = energy::parse_battery_capacity(o.capacity, o.volts);
  if (!capacity_j.ok()) return fail(capacity_j.status());
  Result<energy::DutyCycle> duty = energy::parse_duty_cycle(o.duty);
  if (!duty.ok()) return fail(duty.status());
  const bool camera = duty->event.find("camera") != std::string::npos;
  if (!camera && duty->event.find("text") == std::string::npos)
    return fail(error(ErrorCode::invalid_argument, "--duty: the event must be a camera question or a text question"));

  std::string profile_name = o.profile.empty() ? builtin_profile_for_machine("") : o.profile;
  if (profile_name.empty()) {
    std::string known;
    for (const std::string& n : builtin_device_profile_names()) known += (known.empty() ? "" : ", ") + n;
    return fail(error(ErrorCode::invalid_argument, "this machine matches no shipped board profile: name one with --profile (" +
                                                       known + ") or give a profile .json file"));
  }
  Result<DeviceProfile> profile = load_device_profile(profile_name);
  if (!profile.ok()) return fail(profile.status());
  if (!o.replay.empty()) return replay(o, *capacity_j, *duty, *profile);

  std::string llm = o.model_path, mm = o.mmproj_path;
  if (llm.empty()) {
    const std::string dir = find_demo_model_dir();
    if (dir.empty()) return fail(error(ErrorCode::io_error, "no -m given and the demo model is not in " + demo_model_search_path()));
    llm = dir + "/" + kDemoLlmFile;
    if (mm.empty() && camera) mm = dir + "/" + kDemoMmprojFile;
  }
  if (camera && mm.empty()) return fail(error(ErrorCode::invalid_argument, "a camera question needs --mmproj"));
  Result<GgufFile> llm_file = GgufFile::open(llm);
  if (!llm_file.ok()) return fail(llm_file.status());
  std::unique_ptr<GgufFile> mm_file;
  if (camera) {
    Result<GgufFile> f = GgufFile::open(mm);
    if (!f.ok()) return fail(f.status());
    mm_file = std::make_unique<GgufFile>(std::move(f).value());
  }

  energy::EventPlacement place = energy::default_placement(*profile);
  if (Status s = apply_place(o.place, place); !s.ok()) return fail(s);
  energy::EventShape shape{o.prompt_tokens, o.answer_tokens, o.image_tokens};
  std::vector<std::string> notes;
  Result<std::vector<energy::BrickWork>> work = energy::question_work(*llm_file, mm_file.get(), shape, place, &notes);
  if (!work.ok()) return fail(work.status());
  Result<energy::ModeCosts> costs = energy::estimate_mode_costs(*profile, *work, energy::CameraStream{o.fps});
  if (!costs.ok()) return fail(costs.status());

  energy::PowerPolicyConfig policy;
  policy.t_high = o.t_high / 100.0;
  policy.t_low = o.t_low / 100.0;
  if (Status s = energy::PowerPolicy::create(policy).status(); !s.ok()) return fail(s);

  std::printf("ESTIMATE from device profile %s -- not a measurement\n", profile->summary().c_str());
  std::printf("battery: %s at %.2f V = %.2f Wh = %.0f J\n", o.capacity.c_str(), o.volts, *capacity_j / 3600.0, *capacity_j);
  std::printf("duty cycle: %s every %.0f s\n", duty->event.c_str(), duty->period_s);
  std::printf("model: %s%s%s\n", llm.c_str(), camera ? " + " : "", camera ? mm.c_str() : "");
  for (const std::string& n : notes) std::printf("  %s\n", n.c_str());
  std::printf("placement: vision -> %s, text -> %s (--place to change); compute at the profile's measured matmul rate "
              "where it has one for the weight type, else %.0f%% of peak on CPUs, %.0f%% on accelerators (assumed)\n",
              camera ? place.vision_device.c_str() : "-", place.text_device.c_str(), energy::kCpuComputeEfficiency * 100,
              energy::kAcceleratorComputeEfficiency * 100);
  std::printf("work per event:\n");
  for (const std::string& l : costs->work_lines) std::printf("  %s\n", l.c_str());

  energy::ModePower throttled = costs->throttled;
  throttled.stream_w *= o.throttled_alpha;
  struct Row {
    const char* name;
    const energy::ModePower* m;
    double latency;
  };
  const Row rows[] = {{"parallel", &costs->parallel, costs->answer_latency_s[0]},
                      {"throttled", &throttled, costs->answer_latency_s[1]},
                      {"on-demand", &costs->on_demand, costs->answer_latency_s[2]}};
  std::printf("per mode (whole battery in one mode; throttled at alpha = %.2f):\n", o.throttled_alpha);
  for (const Row& r : rows) {
    Result<energy::BatteryLife> b = energy::battery_life(*capacity_j, *r.m, duty->period_s);
    if (!b.ok()) return fail(b.status());
    std::printf("  %-10s %6.2f h  (answer in %.1f s)  %s\n", r.name, b->hours, r.latency, b->arithmetic.c_str());
    for (const std::string& w : r.m->why) std::printf("             %s\n", w.c_str());
  }
  Result<energy::BatteryLife> autob = energy::battery_life_auto(*capacity_j, costs->parallel, costs->throttled,
                                                                costs->on_demand, duty->period_s, policy);
  if (!autob.ok()) return fail(autob.status());
  std::printf("  %-10s %6.2f h  %s\n", "auto", autob->hours, autob->arithmetic.c_str());
  if (profile->name == "rk3566" && camera)
    std::printf("published (NanoMind paper, arXiv 2510.05109: custom RK3566 board, LLaVA-OneVision-Qwen2-0.5B, 2000 mAh): "
                "low-power mode 18.8-20.8 h, parallel ~2.4 h\n");
  return 0;
}

}  // namespace

void register_battery(CLI::App& app) {
  auto o = std::make_shared<BatteryOptions>();
  auto* cmd = app.add_subcommand("battery",
                                 "Estimate battery life per power mode for a duty cycle, from a device profile (arithmetic shown)");
  cmd->add_option("--capacity", o->capacity, "Battery capacity: 2000mAh (with --voltage), 7.4Wh, 26640J")->required();
  cmd->add_option("--voltage", o->volts, "Nominal battery voltage for mAh capacities")
      ->check(real_in(0.1, 1000, false, "0.1 to 1000 volts"))
      ->capture_default_str();
  cmd->add_option("--duty", o->duty, "Duty cycle: \"camera question every 60s\" or \"text question every 5 min\"")
      ->capture_default_str();
  cmd->add_option("--profile", o->profile,
                  "Device profile: a shipped board (rk3566, rk3588, jetson-orin-nano, rpi5) or a .json file "
                  "(default: the board this machine is)");
  cmd->add_option("-m,--model", o->model_path, "LLM GGUF whose costs the estimate uses (default: the bundled demo model)");
  cmd->add_option("--mmproj", o->mmproj_path, "Vision projector GGUF (camera questions; default: the demo's with the default -m, else none)");
  cmd->add_option("--prompt-tokens", o->prompt_tokens, "Question and chat-template tokens per event")
      ->check(int_in(1, 1 << 20, "1 to 1048576 tokens"))->capture_default_str();
  cmd->add_option("--answer-tokens", o->answer_tokens, "Answer tokens per event")
      ->check(int_in(1, 1 << 20, "1 to 1048576 tokens"))
      ->capture_default_str();
  cmd->add_option("--image-tokens", o->image_tokens, "Tokens an image adds to the prompt (0: from the mmproj)")
      ->check(int_in(0, 1 << 20, "0 (from the mmproj) to 1048576 tokens"))->capture_default_str();
  cmd->add_option("--place", o->place, "Where bricks run on the profile's devices: vision=npu,text=cpu:big "
                                       "(default: vision on the NPU, else GPU, else CPU; text on the first CPU cluster)");
  cmd->add_option("--fps", o->fps, "Camera frames per second in parallel mode, at most as fast as the vision brick runs (0: no camera limit)")
      ->check(real_in(0, 1000, false, "0 (no camera limit) to 1000 frames per second"))->capture_default_str();
  cmd->add_option("--t-high", o->t_high, "Battery % above which auto mode runs parallel")
      ->check(real_in(0, 100, false, "0 to 100 (%)"))
      ->capture_default_str();
  cmd->add_option("--t-low", o->t_low, "Battery % at or below which auto mode runs on demand")
      ->check(real_in(0, 100, false, "0 to 100 (%)"))
      ->capture_default_str();
  cmd->add_option("--throttled-alpha", o->throttled_alpha, "Alpha of the throttled row (auto mode integrates it)")
      ->check(real_in(0.01, 1, false, "0.01 to 1"))->capture_default_str();
  cmd->add_option("--replay", o->replay,
                  "Recompute from a recorded run's trace (nanomind run --camera DIR --battery SPEC --trace FILE.json): "
                  "each mode's joules per answer as recorded, the profile's idle power between events (default: none, "
                  "estimate from the profile and the model files)");
  cmd->callback([o] { throw CLI::RuntimeError(battery(*o)); });
}

}  // namespace nm::cli
