// Automatic placement from the planner (see auto_placement.h).
#include "runtime/plan/auto_placement.h"

#include <algorithm>

#include "runtime/plan/plan_bricks.h"
#include "runtime/plan/planner.h"
#include "runtime/profile/calibration_store.h"

namespace nm::plan {

Result<MachineProfile> machine_profile(const std::vector<Device*>& devices, int64_t now) {
  MachineProfile out;
  StoredCalibration cal = find_calibration(machine_key(machine_description(devices)), build_description(), now);
  if (cal.exists && cal.status.ok()) {
    out.profile = std::move(cal.profile);
    out.calibrated = true;
    out.source = "calibrated " + format_age(cal.age_s) + " ago" + (cal.same_build ? "" : " by another build") + " (" + cal.path + ")";
  } else {
    std::string name = builtin_profile_for_machine("");
    if (name.empty()) name = "x86-server-vcpu";
    NM_ASSIGN_OR_RETURN(out.profile, load_device_profile(name));
    out.source = "built-in estimate " + name;
  }
  return out;
}

Result<AutoPlacement> automatic_placement(const GgufFile& llm, const GgufFile* mmproj, Objective objective,
                                          const std::vector<Device*>& devices, int64_t now) {
  AutoPlacement out;
  NM_ASSIGN_OR_RETURN(MachineProfile mp, machine_profile(devices, now));
  const DeviceProfile& profile = mp.profile;
  out.calibrated = mp.calibrated;
  out.source = mp.source;
  // Only devices this machine has: a shipped board profile may name others (npu, cpu:big).
  PlanRequest req;
  req.objective = objective;
  req.residency = Residency::keep;  // --residency is the user's; the placement is ours
  // CPU clusters are named cpu or cpu:X (an OpenCL device on a CPU, e.g. PoCL, is not one).
  auto is_cluster = [](const std::string& n) { return n == "cpu" || n.rfind("cpu:", 0) == 0; };
  int n_cpu = 0;
  for (const Device* d : devices) n_cpu += is_cluster(d->name());
  for (int i = 0; i < static_cast<int>(profile.devices.size()); ++i)
    for (const Device* d : devices)
      if (d->name() == profile.devices[(size_t)i].name) req.devices.push_back(i);
  if (req.devices.empty()) {
    out.placement = "every brick on the CPU (the profile names none of this machine's devices)";
    return out;
  }
  NM_ASSIGN_OR_RETURN(std::vector<PlanBrick> bricks, bricks_from_files(llm, mmproj, energy::EventShape{}, nullptr));
  req.workload.kind = mmproj ? WorkloadKind::camera_question : WorkloadKind::text_question;
  NM_ASSIGN_OR_RETURN(PlanResult r, plan_placement(profile, bricks, req));
  for (size_t i = 0; i < bricks.size(); ++i) {
    if (!brick_in_workload(bricks[i], req.workload)) continue;
    const ProfileDevice& pd = profile.devices[(size_t)r.best.placement.bricks[i].device];
    out.placement += (out.placement.empty() ? "" : ", ") + bricks[i].name + " -> " + pd.name;
    const bool default_cpu = is_cluster(pd.name) && n_cpu == 1;
    if (!default_cpu) out.device_spec += (out.device_spec.empty() ? "" : ",") + bricks[i].name + "=" + pd.name;
  }
  return out;
}

}  // namespace nm::plan
