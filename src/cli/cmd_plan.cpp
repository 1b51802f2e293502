// `nanomind plan`: where each brick would run on a board, predicted from a device profile
// and the model files' costs (runtime/plan/): the chosen placement, each brick's time,
// joules and memory, the runner-up and why it lost; --json for scripts. Nothing here runs
// the model: every figure is a prediction and is labelled so.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "backend/device_registry.h"
#include "cli/commands.h"
#include "cli/default_model.h"
#include "cli/option_checks.h"
#include "core/gguf_reader.h"
#include "runtime/plan/plan_bricks.h"
#include "runtime/plan/plan_report.h"
#include "runtime/plan/plan_simulation.h"
#include "runtime/plan/planner.h"
#include "runtime/profile/calibration_store.h"

namespace nm::cli {
namespace {

struct PlanOptions {
  std::string model_path, mmproj_path, profile, objective = "latency", mem_budget, workload, residency = "auto";
  std::string simulate, svg, monolithic;
  int prompt_tokens = 24, answer_tokens = 32, image_tokens = 0;
  bool allow_split = false, json = false, verbose = false;
};

int fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return 1;
}

// --profile, else this machine's calibration, else this board's shipped profile, else the
// built-in estimate for an x86-64 server vCPU (said once, with how to calibrate).
Result<DeviceProfile> choose_profile(const std::string& name, std::string* why) {
  if (!name.empty()) {
    NM_ASSIGN_OR_RETURN(DeviceProfile p, load_device_profile(name));
    *why = p.origin == "calibrated" ? "calibrated profile " + name : "profile " + name;
    return p;
  }
  DeviceRegistryOptions ro;
  ro.log = [](const std::string&) {};
  DeviceRegistry reg = DeviceRegistry::create(ro);
  std::vector<Device*> all;
  for (const auto& d : reg.devices()) all.push_back(d.get());
  StoredCalibration cal = find_calibration(machine_key(machine_description(all)), build_description(),
                                           static_cast<int64_t>(std::time(nullptr)));
  if (cal.exists && cal.status.ok()) {
    *why = "this machine, calibrated " + format_age(cal.age_s) + " ago" + (cal.same_build ? "" : " by another build") +
           ": " + cal.path;
    return std::move(cal.profile);
  }
  const std::string board = builtin_profile_for_machine("");
  if (!board.empty()) {
    *why = "this board's shipped profile (not calibrated here: nanomind calibrate measures it)";
    return load_device_profile(board);
  }
  *why = "no calibration for this machine: the built-in estimate x86-server-vcpu (nanomind calibrate measures this one)";
  return load_device_profile("x86-server-vcpu");
}

// The monolithic reference: every brick on one device (--monolithic, else the profile's
// first CPU device: the runtime's default placement puts every brick on the CPU), resident,
// one frame after the other -- what bench --workload camera:N measures as "monolithic".
Result<plan::Placement> monolithic(const DeviceProfile& p, const std::vector<plan::PlanBrick>& bricks, const std::string& name) {
  int device = -1;
  for (int d = 0; d < static_cast<int>(p.devices.size()) && device < 0; ++d)
    if (name.empty() ? p.devices[(size_t)d].kind == "cpu" : p.devices[(size_t)d].name == name) device = d;
  if (device < 0) {
    std::string names;
    for (const ProfileDevice& d : p.devices) names += (names.empty() ? "" : ", ") + d.name;
    return error(ErrorCode::invalid_argument, "--monolithic: profile " + p.name + " has no " +
                                                  (name.empty() ? std::string("CPU device") : "device '" + name + "'") + " (" + names + ")");
  }
  plan::Placement pl;
  pl.residency = plan::Residency::keep;
  pl.bricks.assign(bricks.size(), plan::BrickPlace{device, -1, 0});
  return pl;
}

void print_sim_row(const char* name, const std::string& what, const plan::SimResult& s) {
  char joules[32] = "? (no power)";
  if (std::isfinite(s.joules_per_answer)) std::snprintf(joules, sizeof joules, "%.4g J", s.joules_per_answer);
  std::printf("  %-10s %8.4g s %10.4g s %11.2f %12s %12s  %s\n", name, s.first_answer_s, s.total_s / s.answers,
              s.answers_per_minute, joules, plan::bytes_text(s.peak_bytes).c_str(), what.c_str());
}

int simulate(const DeviceProfile& profile, const std::string& why, const std::vector<plan::PlanBrick>& bricks,
             const plan::PlanRequest& req, const plan::PlanResult& planned, const std::string& mono_device) {
  Result<plan::Placement> mono = monolithic(profile, bricks, mono_device);
  if (!mono.ok()) return fail(mono.status());
  plan::SimOptions seq;
  seq.pipelined = false;
  Result<plan::SimResult> a = plan::simulate(profile, bricks, req.workload, *mono, seq);
  if (!a.ok()) return fail(a.status());
  Result<plan::SimResult> b = plan::simulate(profile, bricks, req.workload, planned.best.placement, plan::SimOptions{});
  if (!b.ok()) return fail(b.status());
  std::printf("SIMULATION of %s on device profile %s (%s): the cost model replayed under the runtime's rules, not a measurement\n",
              plan::workload_name(req.workload).c_str(), profile.name.c_str(), why.c_str());
  std::printf("  %-10s %10s %12s %10s %12s %12s  %s\n", "", "first", "per answer", "answers/min", "J/answer", "peak", "placement");
  print_sim_row("monolithic", plan::placement_text(profile, bricks, *mono) + ", sequential", *a);
  print_sim_row("planned", plan::placement_text(profile, bricks, planned.best.placement) +
                               (planned.best.placement.residency == plan::Residency::keep ? ", pipelined" : ", one brick at a time"),
                *b);
  const double latency = (b->total_s / b->answers) / (a->total_s / a->answers) - 1.0;
  const double energy = b->joules_per_answer / a->joules_per_answer - 1.0;
  std::printf("planned vs monolithic: time per answer %+.1f%%, energy per answer %+.1f%% (simulated, objective %s)\n",
              100.0 * latency, 100.0 * energy, plan::objective_name(req.objective));
  std::printf("published NanoMind (arXiv 2510.05109, measured on an RK3566 board against the vendor's runtime): "
              "about -36%% latency, -42%% energy\n");
  return 0;
}

int plan(const PlanOptions& o) {
  Result<plan::Objective> objective = plan::parse_objective(o.objective);
  if (!objective.ok()) return fail(objective.status());
  plan::PlanRequest req;
  req.objective = *objective;
  req.allow_split = o.allow_split;
  if (!o.mem_budget.empty()) {
    Result<double> b = plan::parse_bytes(o.mem_budget);
    if (!b.ok()) return fail(error(ErrorCode::invalid_argument, "--mem-budget: " + b.status().message()));
    req.mem_budget_bytes = *b;
  }
  if (o.residency == "keep") req.residency = plan::Residency::keep;
  else if (o.residency == "on-demand") req.residency = plan::Residency::on_demand;
  else if (o.residency != "auto")
    return fail(error(ErrorCode::invalid_argument, "--residency '" + o.residency + "': expected auto, keep or on-demand"));

  std::string llm = o.model_path, mm = o.mmproj_path;
  if (llm.empty()) {
    const std::string dir = find_demo_model_dir();
    if (dir.empty()) return fail(error(ErrorCode::io_error, "no -m given and the demo model is not in " + demo_model_search_path()));
    llm = dir + "/" + kDemoLlmFile;
    if (mm.empty()) mm = dir + "/" + kDemoMmprojFile;
  }
  if (!o.simulate.empty() && !o.workload.empty() && o.workload != o.simulate)
    return fail(error(ErrorCode::invalid_argument, "--simulate names the workload: leave --workload out or make them equal"));
  if (!o.simulate.empty() && o.allow_split)
    return fail(error(ErrorCode::invalid_argument, "--simulate replays the runtime, which cannot run a layer split yet: leave --allow-split out"));
  const std::string wl = !o.simulate.empty() ? o.simulate : !o.workload.empty() ? o.workload : mm.empty() ? "text" : "camera";
  Result<plan::Workload> workload = plan::parse_workload(wl);
  if (!workload.ok())
    return fail(error(ErrorCode::invalid_argument, (o.simulate.empty() ? "--" : "--simulate: ") + workload.status().message()));
  req.workload = *workload;
  if (req.workload.kind != plan::WorkloadKind::text_question && mm.empty())
    return fail(error(ErrorCode::invalid_argument, "--workload " + plan::workload_name(req.workload) + " needs --mmproj"));

  std::string why;
  Result<DeviceProfile> profile = choose_profile(o.profile, &why);
  if (!profile.ok()) return fail(profile.status());
  Result<GgufFile> llm_file = GgufFile::open(llm);
  if (!llm_file.ok()) return fail(llm_file.status());
  std::unique_ptr<GgufFile> mm_file;
  if (!mm.empty()) {
    Result<GgufFile> f = GgufFile::open(mm);
    if (!f.ok()) return fail(f.status());
    mm_file = std::make_unique<GgufFile>(std::move(f).value());
  }
  plan::PlanContext ctx;
  energy::EventShape shape{o.prompt_tokens, o.answer_tokens, o.image_tokens};
  Result<std::vector<plan::PlanBrick>> bricks = plan::bricks_from_files(*llm_file, mm_file.get(), shape, &ctx.notes);
  if (!bricks.ok()) return fail(bricks.status());
  Result<plan::PlanResult> r = plan::plan_placement(*profile, *bricks, req);
  if (!r.ok()) return fail(r.status());

  ctx.profile = &*profile;
  ctx.profile_why = why;
  ctx.bricks = &*bricks;
  ctx.request = req;
  ctx.model = llm + (mm.empty() ? "" : " + " + mm);
  if (!o.svg.empty()) {
    if (r->best.placement.bricks.end() !=
        std::find_if(r->best.placement.bricks.begin(), r->best.placement.bricks.end(), [](const plan::BrickPlace& b) { return b.is_split(); }))
      return fail(error(ErrorCode::invalid_argument, "--svg draws the runtime's timeline, which cannot run a layer split yet"));
    Result<plan::SimResult> sim = plan::simulate(*profile, *bricks, req.workload, r->best.placement, plan::SimOptions{});
    if (!sim.ok()) return fail(sim.status());
    const std::string title = plan::workload_name(req.workload) + " on " + profile->name + ": " +
                              plan::placement_text(*profile, *bricks, r->best.placement);
    const std::string svg = plan::timeline_svg(*profile, *sim, title);
    std::FILE* f = std::fopen(o.svg.c_str(), "wb");
    if (!f || std::fwrite(svg.data(), 1, svg.size(), f) != svg.size() || std::fclose(f) != 0)
      return fail(error(ErrorCode::io_error, "--svg: cannot write " + o.svg));
  }
  if (!o.simulate.empty()) return simulate(*profile, why, *bricks, req, *r, o.monolithic);
  const std::string out = o.json ? plan::plan_json(ctx, *r) : plan::plan_text(ctx, *r, o.verbose);
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

void register_plan(CLI::App& app) {
  auto o = std::make_shared<PlanOptions>();
  auto* cmd = app.add_subcommand("plan", "Choose where each brick runs on a board (predicted from a device profile; runs nothing)");
  cmd->add_option("-m,--model", o->model_path, "LLM GGUF whose costs are planned (default: the bundled demo model)");
  cmd->add_option("--mmproj", o->mmproj_path, "Vision projector GGUF (default: the demo's with the default -m, else none)");
  cmd->add_option("--profile", o->profile,
                  "Device profile: a shipped board (rk3566, rk3588, jetson-orin-nano, rpi5, x86-server-vcpu) or a .json file "
                  "(default: this machine's calibration, else its board's profile, else x86-server-vcpu)");
  cmd->add_option("--objective", o->objective, "What to minimise: latency, energy or edp (energy x delay)")->capture_default_str();
  cmd->add_option("--mem-budget", o->mem_budget, "Peak memory the placement may hold: 1.5G, 800MB, 512MiB (default: none)");
  cmd->add_option("--workload", o->workload,
                  "text (a text question), camera (a camera question) or camera:N (a stream of N frames, each asked; "
                  "the bricks pipeline) (default: camera with an mmproj, else text)");
  cmd->add_option("--residency", o->residency, "keep (bricks stay resident), on-demand (load, run, release) or auto (the planner chooses)")
      ->capture_default_str();
  cmd->add_flag("--allow-split", o->allow_split,
                "Consider splitting the text brick's layers over two devices (the runtime cannot run a split yet)");
  cmd->add_option("--prompt-tokens", o->prompt_tokens, "Question and chat-template tokens per answer")
      ->check(int_in(1, 1 << 20, "1 to 1048576 tokens"))->capture_default_str();
  cmd->add_option("--answer-tokens", o->answer_tokens, "Answer tokens per answer")
      ->check(int_in(1, 1 << 20, "1 to 1048576 tokens"))->capture_default_str();
  cmd->add_option("--image-tokens", o->image_tokens, "Tokens an image adds to the prompt (0: from the mmproj)")
      ->check(int_in(0, 1 << 20, "0 (from the mmproj) to 1048576 tokens"))->capture_default_str();
  cmd->add_option("--simulate", o->simulate,
                  "Replay a workload (camera:N, camera or text) on the profile's devices, monolithic vs planned, "
                  "and print time to first answer, answers per minute, J per answer, peak memory (a simulation) (default: none)");
  cmd->add_option("--monolithic", o->monolithic,
                  "The device --simulate's monolithic reference runs every brick on (default: the profile's first CPU device)");
  cmd->add_option("--svg", o->svg, "Write the planned placement's simulated timeline into this SVG file, one lane per device (default: none)")
      ->check(writable_file());
  cmd->add_flag("--json", o->json, "Print the plan as JSON");
  cmd->add_flag("-v,--verbose", o->verbose, "Show the cost model's arithmetic for each brick");
  cmd->callback([o] { throw CLI::RuntimeError(plan(*o)); });
}

}  // namespace nm::cli
