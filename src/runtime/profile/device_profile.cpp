// Device profile JSON: strict parsing, validation and writing (see device_profile.h and
// docs/PROFILES.md). nlohmann::json reads the text; its exceptions stay inside this file.
#include "runtime/profile/device_profile.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/dtype.h"
#include "core/file_read.h"
#include "runtime/energy/sysfs_reader.h"

namespace nm {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxProfileBytes = 1 << 20;
constexpr size_t kMaxString = 4096;
constexpr int kMaxDepth = 16;
constexpr size_t kMaxItems = 64;

struct Range {
  double lo, hi;
  bool lo_inclusive;
};
// What each figure may hold: watts may be 0 (a device that adds nothing measurable),
// throughputs and clocks must be positive.
constexpr Range kWatts{0, 10000, true};
constexpr Range kPositive{0, 1e9, false};
constexpr Range kGhz{0, 10, false};
constexpr Range kMicroseconds{0, 1e9, true};

// The nesting depth of a JSON text, outside strings: refused before parsing when deep.
int max_depth(std::string_view s) {
  int depth = 0, worst = 0;
  bool in_str = false, esc = false;
  for (char c : s) {
    if (in_str) {
      if (esc) esc = false;
      else if (c == '\\') esc = true;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '[' || c == '{') worst = std::max(worst, ++depth);
    else if (c == ']' || c == '}') --depth;
  }
  return worst;
}

std::string join(const std::string& path, const char* key) { return path.empty() ? key : path + "." + key; }

class ProfileReader {
 public:
  explicit ProfileReader(std::string what) : what_(std::move(what)) {}

  Status fail(const std::string& path, const std::string& msg) const {
    return error(ErrorCode::invalid_file, what_ + ": " + (path.empty() ? "" : path + ": ") + msg);
  }

  Status keys(const json& obj, const std::string& path, std::initializer_list<const char*> allowed) const {
    if (!obj.is_object()) return fail(path, "expected an object");
    if (obj.size() > kMaxItems) return fail(path, "too many keys");
    for (const auto& item : obj.items()) {
      const std::string& k = item.key();  // not a structured binding: clang 14 cannot capture those
      if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; })) {
        std::string list;
        for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return fail(path, "unknown key '" + k.substr(0, 64) + "' (allowed: " + list + ")");
      }
    }
    return Status::ok_status();
  }

  Status string(const json& obj, const char* key, const std::string& path, bool required, std::string* out) const {
    auto it = obj.find(key);
    if (it == obj.end()) return required ? fail(path, std::string("missing '") + key + "'") : Status::ok_status();
    if (!it->is_string()) return fail(join(path, key), "expected a string");
    const std::string& s = it->get_ref<const std::string&>();
    if (s.size() > kMaxString) return fail(join(path, key), "string too long");
    if (required && s.empty()) return fail(join(path, key), "must not be empty");
    *out = s;
    return Status::ok_status();
  }

  Status figure(const json& obj, const char* key, const std::string& path, bool required, Range range,
                ProfileFigure* out) const {
    auto it = obj.find(key);
    const std::string p = join(path, key);
    if (it == obj.end()) return required ? fail(path, std::string("missing '") + key + "'") : Status::ok_status();
    NM_RETURN_IF_ERROR(keys(*it, p, {"value", "source", "estimate", "note"}));
    auto v = it->find("value");
    if (v == it->end() || !v->is_number()) return fail(p, "'value' must be a number");
    const double x = v->get<double>();
    const bool low_ok = range.lo_inclusive ? x >= range.lo : x > range.lo;
    if (!std::isfinite(x) || !low_ok || x > range.hi) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "value %.6g is outside %s%g, %g]", x, range.lo_inclusive ? "[" : "(", range.lo, range.hi);
      return fail(p, buf);
    }
    out->value = x;
    NM_RETURN_IF_ERROR(string(*it, "source", p, true, &out->source));
    if (auto e = it->find("estimate"); e != it->end()) {
      if (!e->is_boolean()) return fail(p + ".estimate", "expected true or false");
      out->estimate = e->get<bool>();
    }
    NM_RETURN_IF_ERROR(string(*it, "note", p, false, &out->note));
    if (out->estimate && out->note.empty()) return fail(p, "an estimate needs a 'note' saying how it was derived");
    figures_.push_back({p, out->source});
    return Status::ok_status();
  }

  Status strings(const json& obj, const char* key, const std::string& path, std::vector<std::string>* out) const {
    auto it = obj.find(key);
    if (it == obj.end()) return Status::ok_status();
    if (!it->is_array() || it->size() > kMaxItems) return fail(join(path, key), "expected an array of at most 64 strings");
    for (const json& s : *it) {
      if (!s.is_string() || s.get_ref<const std::string&>().size() > kMaxString)
        return fail(join(path, key), "expected an array of strings");
      out->push_back(s.get<std::string>());
    }
    return Status::ok_status();
  }

  // Every figure's source must be listed (or "measured" in a calibrated profile).
  Status check_sources(const DeviceProfile& p) const {
    for (const auto& [path, src] : figures_) {
      if (src == "measured") {
        if (p.origin != "calibrated") return fail(path, "source 'measured' is only for calibrated profiles");
        continue;
      }
      if (!p.source(src)) return fail(path, "source '" + src.substr(0, 64) + "' is not in 'sources'");
    }
    return Status::ok_status();
  }

 private:
  std::string what_;
  mutable std::vector<std::pair<std::string, std::string>> figures_;  // (path, source id)
};

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == ':' || c == '.';
  });
}

Status integer(const ProfileReader& r, const json& obj, const char* key, const std::string& path, int64_t lo, int64_t hi,
               int64_t* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return r.fail(path, std::string("missing '") + key + "'");
  if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi)
    return r.fail(join(path, key), "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  *out = it->get<int64_t>();
  return Status::ok_status();
}

bool known_weight_type(const std::string& name) {
  for (uint32_t t = 0; t <= 64; ++t)
    if (dtype_name(static_cast<DType>(t)) == name && name != "?") return true;
  return false;
}

// Calls `entry(item, path)` for each element of the array `key` of `d` (absent: none).
template <class F>
Status each_entry(const ProfileReader& r, const json& d, const char* key, const std::string& path, F entry) {
  auto it = d.find(key);
  if (it == d.end()) return Status::ok_status();
  const std::string at = join(path, key);
  if (!it->is_array() || it->size() > kMaxItems) return r.fail(at, "expected an array of at most 64 entries");
  for (size_t i = 0; i < it->size(); ++i) NM_RETURN_IF_ERROR(entry((*it)[i], at + "[" + std::to_string(i) + "]"));
  return Status::ok_status();
}

// "matmul": [{"weight", "tokens", "gflops", "read_gbps"?}],
// "attention": [{"tokens", "kv", "form"?, "gflops"}].
Status parse_rates(const ProfileReader& r, const json& d, const std::string& path, ProfileDevice* out) {
  NM_RETURN_IF_ERROR(each_entry(r, d, "matmul", path, [&](const json& m, const std::string& p) -> Status {
    NM_RETURN_IF_ERROR(r.keys(m, p, {"weight", "tokens", "gflops", "read_gbps"}));
    ProfileMatmul e;
    NM_RETURN_IF_ERROR(r.string(m, "weight", p, true, &e.weight));
    if (!known_weight_type(e.weight)) {
      std::string msg = "'";  // appended piecewise: GCC 12's -Wrestrict misfires on "'" + s + "..."
      msg += e.weight.substr(0, 64);
      msg += "' is not a weight type";
      return r.fail(p + ".weight", msg);
    }
    int64_t tokens = 0;
    NM_RETURN_IF_ERROR(integer(r, m, "tokens", p, 1, 65536, &tokens));
    e.tokens = static_cast<int>(tokens);
    NM_RETURN_IF_ERROR(r.figure(m, "gflops", p, true, kPositive, &e.gflops));
    NM_RETURN_IF_ERROR(r.figure(m, "read_gbps", p, false, kPositive, &e.read_gbps));
    for (const ProfileMatmul& o : out->matmul)
      if (o.weight == e.weight && o.tokens == e.tokens) return r.fail(p, "a second entry for " + e.weight + " x " + std::to_string(tokens));
    out->matmul.push_back(std::move(e));
    return Status::ok_status();
  }));
  return each_entry(r, d, "attention", path, [&](const json& a, const std::string& p) -> Status {
    NM_RETURN_IF_ERROR(r.keys(a, p, {"tokens", "kv", "form", "gflops"}));
    ProfileAttention e;
    int64_t v = 0;
    NM_RETURN_IF_ERROR(integer(r, a, "tokens", p, 1, 65536, &v));
    e.tokens = static_cast<int>(v);
    NM_RETURN_IF_ERROR(integer(r, a, "kv", p, 1, 1 << 24, &v));
    e.kv = static_cast<int>(v);
    std::string form = "fused";
    NM_RETURN_IF_ERROR(r.string(a, "form", p, false, &form));
    if (form != "fused" && form != "matmuls") return r.fail(p + ".form", "expected \"fused\" or \"matmuls\"");
    e.matmuls = form == "matmuls";
    NM_RETURN_IF_ERROR(r.figure(a, "gflops", p, true, kPositive, &e.gflops));
    out->attention.push_back(std::move(e));
    return Status::ok_status();
  });
}

Status parse_device(const ProfileReader& r, const json& d, const std::string& path, bool calibrated, ProfileDevice* out) {
  NM_RETURN_IF_ERROR(r.keys(d, path, {"name", "kind", "api", "core", "cores", "max_ghz", "f32_gflops", "f16_gflops",
                                      "int8_gops", "read_gbps", "active_w", "matmul", "attention", "elementwise_gbps",
                                      "launch_us", "op_us", "map_us"}));
  NM_RETURN_IF_ERROR(r.string(d, "name", path, true, &out->name));
  if (!valid_name(out->name)) return r.fail(path + ".name", "use lower-case letters, digits and - _ : . (at most 64)");
  NM_RETURN_IF_ERROR(r.string(d, "kind", path, true, &out->kind));
  if (out->kind != "cpu" && out->kind != "gpu" && out->kind != "npu")
    return r.fail(path + ".kind", "expected \"cpu\", \"gpu\" or \"npu\"");
  NM_RETURN_IF_ERROR(r.string(d, "api", path, false, &out->api));
  NM_RETURN_IF_ERROR(r.string(d, "core", path, false, &out->core));
  if (auto c = d.find("cores"); c != d.end()) {
    if (!c->is_number_integer() || c->get<int64_t>() < 1 || c->get<int64_t>() > 1024)
      return r.fail(path + ".cores", "expected an integer from 1 to 1024");
    out->cores = static_cast<int>(c->get<int64_t>());
  }
  if (out->kind == "cpu" && out->cores == 0) return r.fail(path, "a CPU device needs 'cores'");
  NM_RETURN_IF_ERROR(r.figure(d, "max_ghz", path, false, kGhz, &out->max_ghz));
  NM_RETURN_IF_ERROR(r.figure(d, "f32_gflops", path, out->kind != "npu", kPositive, &out->f32_gflops));
  NM_RETURN_IF_ERROR(r.figure(d, "f16_gflops", path, false, kPositive, &out->f16_gflops));
  NM_RETURN_IF_ERROR(r.figure(d, "int8_gops", path, out->kind == "npu", kPositive, &out->int8_gops));
  NM_RETURN_IF_ERROR(r.figure(d, "read_gbps", path, false, kPositive, &out->read_gbps));
  // Published profiles must say what a device draws; a calibrated one may not know (no
  // sensor and no stand-in profile).
  NM_RETURN_IF_ERROR(r.figure(d, "active_w", path, !calibrated, kWatts, &out->active_w));
  NM_RETURN_IF_ERROR(r.figure(d, "elementwise_gbps", path, false, kPositive, &out->elementwise_gbps));
  NM_RETURN_IF_ERROR(r.figure(d, "launch_us", path, false, kMicroseconds, &out->launch_us));
  NM_RETURN_IF_ERROR(r.figure(d, "op_us", path, false, kMicroseconds, &out->op_us));
  NM_RETURN_IF_ERROR(r.figure(d, "map_us", path, false, kMicroseconds, &out->map_us));
  return parse_rates(r, d, path, out);
}

// "calibration": {"machine", "build", "created", "seconds"}: required in calibrated
// profiles, refused in published ones.
Status parse_calibration(const ProfileReader& r, const json& j, DeviceProfile* p) {
  auto c = j.find("calibration");
  if (c == j.end()) {
    return p->origin == "calibrated" ? r.fail("", "a calibrated profile needs 'calibration' (machine, build, created)")
                                     : Status::ok_status();
  }
  if (p->origin != "calibrated") return r.fail("calibration", "only calibrated profiles have it");
  NM_RETURN_IF_ERROR(r.keys(*c, "calibration", {"machine", "build", "created", "seconds"}));
  NM_RETURN_IF_ERROR(r.string(*c, "machine", "calibration", true, &p->calibration.machine));
  NM_RETURN_IF_ERROR(r.string(*c, "build", "calibration", true, &p->calibration.build));
  NM_RETURN_IF_ERROR(integer(r, *c, "created", "calibration", 1, int64_t{1} << 40, &p->calibration.created));
  if (auto s = c->find("seconds"); s != c->end()) {
    if (!s->is_number() || !std::isfinite(s->get<double>()) || s->get<double>() < 0 || s->get<double>() > 1e6)
      return r.fail("calibration.seconds", "expected a number of seconds from 0 to 1e6");
    p->calibration.seconds = s->get<double>();
  }
  return Status::ok_status();
}

Result<DeviceProfile> parse_json(const json& j, const ProfileReader& r) {
  DeviceProfile p;
  NM_RETURN_IF_ERROR(r.keys(j, "", {"schema", "name", "title", "origin", "match", "notes", "sources", "board", "devices",
                                      "calibration"}));
  std::string schema;
  NM_RETURN_IF_ERROR(r.string(j, "schema", "", true, &schema));
  if (schema != kDeviceProfileSchema) {
    // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict, a false positive) on
    // "'" + std::string&& here once load_device_profile's reading is inlined beside it.
    std::string why = "'";
    why += schema.substr(0, 64);
    why += "' is not ";
    why += kDeviceProfileSchema;
    return r.fail("schema", why);
  }
  NM_RETURN_IF_ERROR(r.string(j, "name", "", true, &p.name));
  if (!valid_name(p.name)) return r.fail("name", "use lower-case letters, digits and - _ : . (at most 64)");
  NM_RETURN_IF_ERROR(r.string(j, "title", "", true, &p.title));
  NM_RETURN_IF_ERROR(r.string(j, "origin", "", true, &p.origin));
  if (p.origin != "published" && p.origin != "calibrated") return r.fail("origin", "expected \"published\" or \"calibrated\"");
  NM_RETURN_IF_ERROR(r.strings(j, "match", "", &p.match));
  NM_RETURN_IF_ERROR(r.strings(j, "notes", "", &p.notes));
  NM_RETURN_IF_ERROR(parse_calibration(r, j, &p));

  if (auto s = j.find("sources"); s != j.end()) {
    if (!s->is_object() || s->size() > kMaxItems) return r.fail("sources", "expected an object of at most 64 sources");
    for (const auto& [id, src] : s->items()) {
      const std::string path = "sources." + id.substr(0, 64);
      if (!valid_name(id) || id == "measured") return r.fail(path, "source ids use lower-case letters, digits and - _ : .");
      NM_RETURN_IF_ERROR(r.keys(src, path, {"title", "url", "note"}));
      ProfileSource ps;
      ps.id = id;
      NM_RETURN_IF_ERROR(r.string(src, "title", path, true, &ps.title));
      NM_RETURN_IF_ERROR(r.string(src, "url", path, true, &ps.url));
      p.sources.push_back(std::move(ps));
    }
  }

  auto b = j.find("board");
  if (b == j.end()) return r.fail("", "missing 'board'");
  NM_RETURN_IF_ERROR(r.keys(*b, "board", {"idle_w", "awake_w", "memory_gib", "read_gbps", "storage_read_gbps"}));
  NM_RETURN_IF_ERROR(r.figure(*b, "idle_w", "board", p.origin != "calibrated", kWatts, &p.idle_w));
  NM_RETURN_IF_ERROR(r.figure(*b, "awake_w", "board", false, kWatts, &p.awake_w));
  NM_RETURN_IF_ERROR(r.figure(*b, "memory_gib", "board", false, kPositive, &p.memory_gib));
  NM_RETURN_IF_ERROR(r.figure(*b, "read_gbps", "board", true, kPositive, &p.read_gbps));
  NM_RETURN_IF_ERROR(r.figure(*b, "storage_read_gbps", "board", false, kPositive, &p.storage_read_gbps));

  auto d = j.find("devices");
  if (d == j.end() || !d->is_array() || d->empty() || d->size() > kMaxItems)
    return r.fail("devices", "expected an array of 1 to 64 devices");
  std::set<std::string> names;
  for (size_t i = 0; i < d->size(); ++i) {
    ProfileDevice dev;
    NM_RETURN_IF_ERROR(parse_device(r, (*d)[i], "devices[" + std::to_string(i) + "]", p.origin == "calibrated", &dev));
    if (!names.insert(dev.name).second) return r.fail("devices[" + std::to_string(i) + "]", "duplicate name '" + dev.name + "'");
    p.devices.push_back(std::move(dev));
  }
  NM_RETURN_IF_ERROR(r.check_sources(p));
  return p;
}

json figure_json(const ProfileFigure& f) {
  json o = json::object();
  o["value"] = f.value;
  o["source"] = f.source;
  if (f.estimate) o["estimate"] = true;
  if (!f.note.empty()) o["note"] = f.note;
  return o;
}

}  // namespace

const ProfileDevice* DeviceProfile::device(std::string_view n) const {
  for (const ProfileDevice& d : devices)
    if (d.name == n) return &d;
  return nullptr;
}

const ProfileMatmul* ProfileDevice::matmul_for(std::string_view weight, int tokens) const {
  const ProfileMatmul* best = nullptr;
  double best_gap = 0;
  for (const ProfileMatmul& m : matmul) {
    if (m.weight != weight) continue;
    const double gap = std::abs(std::log((double)m.tokens / std::max(tokens, 1)));
    if (!best || gap < best_gap) best = &m, best_gap = gap;
  }
  return best;
}

const ProfileAttention* ProfileDevice::attention_for(int tokens, int kv, bool matmuls) const {
  const ProfileAttention* best = nullptr;
  double best_gap = 0;
  const double work = static_cast<double>(std::max(tokens, 1)) * std::max(kv, 1);
  for (const ProfileAttention& a : attention) {
    if (a.matmuls != matmuls) continue;
    const double gap = std::abs(std::log(static_cast<double>(a.tokens) * a.kv / work));
    if (!best || gap < best_gap) best = &a, best_gap = gap;
  }
  return best;
}

const ProfileSource* DeviceProfile::source(std::string_view id) const {
  for (const ProfileSource& s : sources)
    if (s.id == id) return &s;
  return nullptr;
}

energy::PowerModel DeviceProfile::power_model() const {
  energy::PowerModel m;
  m.profile = name;
  m.idle_w = idle_w.known() ? idle_w.value : 0.0;  // unknown only in a calibrated profile
  for (const ProfileDevice& d : devices)
    if (d.active_w.known()) m.devices.push_back({d.name, d.kind, d.active_w.value, d.cores});
  return m;
}

std::string DeviceProfile::summary() const {
  int estimates = 0, figures = 0;
  auto count = [&](const ProfileFigure& f) {
    if (!f.known()) return;
    ++figures;
    if (f.estimate) ++estimates;
  };
  for (const ProfileFigure* f : {&idle_w, &awake_w, &memory_gib, &read_gbps, &storage_read_gbps}) count(*f);
  for (const ProfileDevice& d : devices)
  {
    for (const ProfileFigure* f : {&d.max_ghz, &d.f32_gflops, &d.f16_gflops, &d.int8_gops, &d.read_gbps, &d.active_w,
                                   &d.elementwise_gbps, &d.launch_us, &d.op_us, &d.map_us})
      count(*f);
    for (const ProfileMatmul& m : d.matmul) count(m.gflops), count(m.read_gbps);
    for (const ProfileAttention& a : d.attention) count(a.gflops);
  }
  return name + " (" + title + "; " + origin + " profile, " + std::to_string(figures) + " figures of which " +
         std::to_string(estimates) + " estimated)";
}

Result<DeviceProfile> parse_device_profile(std::string_view text, const std::string& what) {
  ProfileReader r(what);
  if (text.size() > kMaxProfileBytes) return r.fail("", "larger than 1 MiB: not a device profile");
  if (max_depth(text) > kMaxDepth) return r.fail("", "nested deeper than a device profile ever is");
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return r.fail("", std::string("not valid JSON: ") + e.what());
  }
  try {
    return parse_json(j, r);
  } catch (const json::exception& e) {  // a type the checks above missed: still a clear error
    return r.fail("", std::string("unexpected value: ") + e.what());
  }
}

std::string device_profile_to_json(const DeviceProfile& p) {
  using ojson = nlohmann::ordered_json;
  ojson o;
  o["schema"] = kDeviceProfileSchema;
  o["name"] = p.name;
  o["title"] = p.title;
  o["origin"] = p.origin;
  if (!p.match.empty()) o["match"] = p.match;
  if (!p.notes.empty()) o["notes"] = p.notes;
  if (p.calibration.present()) {
    o["calibration"] = {{"machine", p.calibration.machine}, {"build", p.calibration.build},
                        {"created", p.calibration.created}, {"seconds", p.calibration.seconds}};
  }
  ojson sources = ojson::object();
  for (const ProfileSource& s : p.sources) sources[s.id] = {{"title", s.title}, {"url", s.url}};
  if (!p.sources.empty()) o["sources"] = sources;
  ojson board = ojson::object();
  auto put = [](ojson& obj, const char* key, const ProfileFigure& f) {
    if (f.known()) obj[key] = ojson::parse(figure_json(f).dump());
  };
  put(board, "idle_w", p.idle_w);
  put(board, "awake_w", p.awake_w);
  put(board, "memory_gib", p.memory_gib);
  put(board, "read_gbps", p.read_gbps);
  put(board, "storage_read_gbps", p.storage_read_gbps);
  o["board"] = board;
  ojson devs = ojson::array();
  for (const ProfileDevice& d : p.devices) {
    ojson dj;
    dj["name"] = d.name;
    dj["kind"] = d.kind;
    if (!d.api.empty()) dj["api"] = d.api;
    if (!d.core.empty()) dj["core"] = d.core;
    if (d.cores > 0) dj["cores"] = d.cores;
    put(dj, "max_ghz", d.max_ghz);
    put(dj, "f32_gflops", d.f32_gflops);
    put(dj, "f16_gflops", d.f16_gflops);
    put(dj, "int8_gops", d.int8_gops);
    put(dj, "read_gbps", d.read_gbps);
    put(dj, "active_w", d.active_w);
    put(dj, "elementwise_gbps", d.elementwise_gbps);
    put(dj, "launch_us", d.launch_us);
    put(dj, "op_us", d.op_us);
    put(dj, "map_us", d.map_us);
    // Rate lists: each entry's shape keys, then its "gflops" figure.
    auto rates = [&](const char* key, const auto& list, auto shape) {
      if (list.empty()) return;
      ojson arr = ojson::array();
      for (const auto& e : list) {
        ojson x = shape(e);
        put(x, "gflops", e.gflops);
        arr.push_back(x);
      }
      dj[key] = arr;
    };
    rates("matmul", d.matmul, [&put](const ProfileMatmul& e) {
      ojson x{{"weight", e.weight}, {"tokens", e.tokens}};
      if (e.read_gbps.known()) put(x, "read_gbps", e.read_gbps);
      return x;
    });
    rates("attention", d.attention, [](const ProfileAttention& e) {
      ojson x{{"tokens", e.tokens}, {"kv", e.kv}};
      if (e.matmuls) x["form"] = "matmuls";
      return x;
    });
    devs.push_back(dj);
  }
  o["devices"] = devs;
  return o.dump(2) + "\n";
}

std::vector<std::string> builtin_device_profile_names() {
  std::vector<std::string> names;
  for (const EmbeddedProfile& e : builtin_device_profiles()) names.emplace_back(e.name);
  return names;
}

Result<DeviceProfile> load_device_profile(const std::string& name_or_path) {
  const bool is_path = name_or_path.find('/') != std::string::npos ||
                       (name_or_path.size() > 5 && name_or_path.compare(name_or_path.size() - 5, 5, ".json") == 0);
  if (!is_path) {
    for (const EmbeddedProfile& e : builtin_device_profiles())
      if (name_or_path == e.name) return parse_device_profile(e.text, "profile " + name_or_path);
    std::string known;
    for (const std::string& n : builtin_device_profile_names()) known += (known.empty() ? "" : ", ") + n;
    return error(ErrorCode::invalid_argument, "no device profile named '" + name_or_path + "' (shipped: " + known +
                                                  "; or give a .json file)");
  }
  // A regular file of at most 1 MiB: a FIFO or a device (--profile /dev/zero) is refused
  // before reading instead of blocking or reading without end.
  NM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_regular_file(name_or_path, kMaxProfileBytes, "profile " + name_or_path));
  const std::string text(bytes.begin(), bytes.end());
  return parse_device_profile(text, name_or_path);
}

std::string builtin_profile_for_machine(const std::string& sysfs_root_override) {
  const std::string root = energy::sysfs_root(sysfs_root_override);
  Result<std::string> compat = energy::read_sysfs_text(energy::sysfs_path(root, "proc/device-tree/compatible"));
  if (!compat.ok()) return {};
  // NUL-separated list, most specific first ("radxa,rock-3c\0rockchip,rk3566\0").
  std::vector<std::string> machine;
  std::stringstream ss(*compat);
  for (std::string item; std::getline(ss, item, '\0');)
    if (!item.empty()) machine.push_back(item);
  for (const std::string& m : machine) {
    for (const EmbeddedProfile& e : builtin_device_profiles()) {
      Result<DeviceProfile> p = parse_device_profile(e.text, e.name);
      if (p.ok() && std::find(p->match.begin(), p->match.end(), m) != p->match.end()) return p->name;
    }
  }
  return {};
}

}  // namespace nm
