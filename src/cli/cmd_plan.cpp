// `nanomind plan`: where each brick would run on a board, predicted from a device profile
// and the model files' costs (runtime/plan/): the chosen placement, each brick's time,
// joules and memory, the runner-up and why it lost; --json for scripts. Nothing here runs
// the model: every figure is a prediction and is labelled so.
#include <cstdio>
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
#include "runtime/plan/planner.h"
#include "runtime/profile/calibration_store.h"

namespace nm::cli {
namespace {

struct PlanOptions {
  std::string model_path, mmproj_path, profile, objective = "latency", mem_budget, workload, residency = "auto";
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
  Result<plan::Workload> workload = plan::parse_workload(o.workload.empty() ? (mm.empty() ? "text" : "camera") : o.workload);
  if (!workload.ok()) return fail(error(ErrorCode::invalid_argument, "--" + workload.status().message()));
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
  cmd->add_flag("--json", o->json, "Print the plan as JSON");
  cmd->add_flag("-v,--verbose", o->verbose, "Show the cost model's arithmetic for each brick");
  cmd->callback([o] { throw CLI::RuntimeError(plan(*o)); });
}

}  // namespace nm::cli
