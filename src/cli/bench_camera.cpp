// `nanomind bench --workload camera:N`: the ablation of issue 12. The same work — N camera
// frames, the same question about each, every answer -n tokens long — runs three ways in one
// invocation:
//   (a) monolithic: one device (the default CPU placement, every core for every brick),
//       every brick resident from first use, vision then text one frame after the other,
//       the embeddings written to the vision brick's own buffer and copied to the text brick;
//   (b) nanomind: the bricks on their own devices (--device, else vision=cpu:0,text=cpu:1
//       when NM_CPU_CLUSTERS declares two clusters), pipelined (the vision brick encodes
//       frame N+1 while the text brick answers frame N), through the token ring in place,
//       on-demand residency (each brick's weights given back after each run);
//   (c) cascade: as (a)'s placement (every core for every brick), one brick after the
//       other, in place, on demand: each brick is given back after its run, so the two are
//       never resident together (the power policy's on-demand mode).
// Frames arrive as from a camera that waits for the stream: frame i is made and pushed once
// frame i - 3 is answered, so the input a mode holds does not grow with N (every mode the same).
// Each mode runs in a child process of its own (fork before anything is loaded), so that
// its peak resident memory (VmHWM) is its own. For each: time to the first answer (from
// the stream's start; the load is shown apart), answers per minute, peak resident memory,
// bytes copied between bricks, and the b/a ratios; --json prints the same as JSON.
#include "cli/bench_camera.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_topology.h"
#include "runtime/memory_usage.h"

namespace nm::cli {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// A camera-like frame (640x480 RGB): a smooth background and a few solid rectangles, the
// same for every run (seeded by its index), different from frame to frame.
std::vector<uint8_t> make_frame(int index, int w, int h) {
  std::mt19937 rng(1234u + (unsigned)index);
  std::vector<uint8_t> f((size_t)w * h * 3);
  const int r0 = (int)(rng() % 200), g0 = (int)(rng() % 200), b0 = (int)(rng() % 200);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &f[((size_t)y * w + x) * 3];
      p[0] = (uint8_t)(r0 + 55 * x / w);
      p[1] = (uint8_t)(g0 + 55 * y / h);
      p[2] = (uint8_t)b0;
    }
  }
  for (int k = 0, nk = 1 + (int)(rng() % 4); k < nk; ++k) {
    const int x0 = (int)(rng() % (unsigned)(w - 40)), y0 = (int)(rng() % (unsigned)(h - 40));
    const int x1 = x0 + 20 + (int)(rng() % (unsigned)(w - x0 - 20)), y1 = y0 + 20 + (int)(rng() % (unsigned)(h - y0 - 20));
    const uint8_t c[3] = {(uint8_t)rng(), (uint8_t)rng(), (uint8_t)rng()};
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) std::memcpy(&f[((size_t)y * w + x) * 3], c, 3);
    }
  }
  return f;
}

// Frames pushed ahead of the answers: enough to keep a pipelined stream busy (one answered,
// one encoded, one waiting).
constexpr int kFramesAhead = 3;

struct Mode {
  std::string name;
  std::string devices;  // --device of the session
  bool pipelined = false;
  bool on_demand = false;
  bool copy = false;
};

// Filled on the stream's thread, waited on by the pushing one.
struct Answers {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;  // answered or failed
  int generated = 0;
};

// This process's CPU time (every thread, user + system) and minor page faults so far. The
// machine may be shared: CPU time per answer shows the work a mode does whatever else runs,
// and the faults what mapping weights again costs on demand.
struct CpuUse {
  double cpu_ms = 0;
  long minor_faults = 0;
};

CpuUse cpu_use() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto ms = [](const timeval& t) { return t.tv_sec * 1000.0 + t.tv_usec / 1000.0; };
  return {ms(ru.ru_utime) + ms(ru.ru_stime), ru.ru_minflt};
}

void count_answer(const nm_frame_answer* a, void* user) {
  auto* answers = static_cast<Answers*>(user);
  {
    std::lock_guard<std::mutex> lock(answers->mu);
    if (a->status == NM_OK) answers->generated += a->n_generated;
    ++answers->done;
  }
  answers->cv.notify_all();
}

// Runs one mode in this (child) process; returns its figures or {"error": ...}.
json run_mode(const Mode& m, const TextOptions& base, int n_frames, int n_answer, const std::string& question) {
  const auto t_load = Clock::now();
  TextOptions o = base;
  o.devices = m.devices;
  o.automatic_placement = false;  // the ablation's modes place their bricks themselves
  o.residency = m.on_demand ? "on-demand" : "keep";
  std::unique_ptr<nm_model, decltype(&nm_model_free)> model(load_model_or_report(o), nm_model_free);
  if (!model) return {{"error", "cannot load the model"}};
  std::unique_ptr<nm_session, decltype(&nm_session_free)> session(open_session_or_report(model.get(), o),
                                                                 nm_session_free);
  if (!session) return {{"error", "cannot open a session"}};
  const TraceWriter trace(session.get(), o);
  const double load_ms = ms_since(t_load);
  auto after_load = read_process_memory();

  nm_stream_params sp = nm_stream_default_params();
  sp.question = question.c_str();
  sp.n_predict = n_answer;
  sp.sequential = m.pipelined ? 0 : 1;
  sp.copy_embeddings = m.copy ? 1 : 0;
  // Every answer n_answer tokens: a model's answer can end at another token in each mode
  // (its threads differ, so do the last bits of its logits), and the modes must do the same work.
  sp.ignore_eos = 1;
  Answers answers;
  const CpuUse cpu0 = cpu_use();
  nm_stream* stream = nullptr;
  if (nm_stream_begin(session.get(), &sp, count_answer, &answers, &stream) != NM_OK) {
    return {{"error", nm_session_last_error(session.get())}};
  }
  const int w = 640, h = 480;
  bool paced = true;
  for (int i = 0; i < n_frames; ++i) {
    if (paced) {
      // A stream stopped by an error answers nothing more: after 5 minutes without an
      // answer, the rest is pushed at once and nm_stream_end reports the error.
      std::unique_lock<std::mutex> lock(answers.mu);
      paced = answers.cv.wait_for(lock, std::chrono::minutes(5), [&] { return answers.done >= i - kFramesAhead; });
    }
    const std::vector<uint8_t> frame = make_frame(i, w, h);
    nm_image img{nullptr, frame.data(), w, h};
    const std::string name = "frame " + std::to_string(i);
    if (nm_stream_push(stream, &img, name.c_str()) != NM_OK) break;
  }
  nm_stream_stats st{};
  if (nm_stream_end(stream, &st) != NM_OK) return {{"error", nm_session_last_error(session.get())}};
  const CpuUse cpu1 = cpu_use();
  auto mem = read_process_memory();
  json j = {{"mode", m.name},
            {"devices", m.devices.empty() ? "cpu (default placement)" : m.devices},
            {"pipelined", m.pipelined},
            {"residency", m.on_demand ? "on-demand" : "keep"},
            {"embeddings", m.copy ? "copied" : "in place"},
            {"frames", st.asked},
            {"answered", st.answered},
            {"failed", st.failed},
            {"dropped", st.dropped},
            {"mean_answer_tokens", st.answered > 0 ? (double)answers.generated / st.answered : 0.0},
            {"load_ms", load_ms},
            {"first_answer_ms", st.first_answer_ms},
            {"total_ms", st.total_ms},
            {"answers_per_min", st.total_ms > 0 ? st.answered * 60000.0 / st.total_ms : 0.0},
            {"bytes_copied_between_bricks", st.bytes_copied_between_bricks},
            {"cpu_ms_per_answer", st.answered > 0 ? (cpu1.cpu_ms - cpu0.cpu_ms) / st.answered : 0.0},
            {"minor_faults_per_answer", st.answered > 0 ? (double)(cpu1.minor_faults - cpu0.minor_faults) / st.answered : 0.0}};
  if (mem.ok()) {
    j["peak_rss_mib"] = (double)mem->peak_rss / (1 << 20);
    j["rss_end_mib"] = (double)mem->rss / (1 << 20);
  }
  if (after_load.ok()) j["rss_after_load_mib"] = (double)after_load->rss / (1 << 20);
  return j;
}

// Runs `m` in a child process and returns what it reported.
json run_in_child(const Mode& m, const TextOptions& o, int n_frames, int n_answer, const std::string& question) {
  int fds[2];
  if (::pipe(fds) != 0) return {{"error", std::string("pipe: ") + std::strerror(errno)}};
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return {{"error", std::string("fork: ") + std::strerror(errno)}};
  }
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    try {
      out = run_mode(m, o, n_frames, n_answer, question).dump();
    } catch (const std::exception& e) {
      out = json{{"error", e.what()}}.dump();
    }
    for (size_t at = 0; at < out.size();) {
      const ssize_t n = ::write(fds[1], out.data() + at, out.size() - at);
      if (n <= 0 && errno != EINTR) break;
      if (n > 0) at += (size_t)n;
    }
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, (size_t)n);
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || text.empty()) {
    return {{"error", "the " + m.name + " run ended abnormally (status " + std::to_string(status) + ")"}};
  }
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return {{"error", "the " + m.name + " run reported no figures"}};
  return j;
}

double num(const json& j, const char* key) { return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0; }

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

// One mode's figures over its rounds: the first round's record with every number replaced
// by the median over the rounds, and the rounds themselves under "runs"; a round that
// failed makes the whole an error.
json summarise(const std::vector<json>& runs) {
  for (const json& r : runs) {
    if (r.contains("error")) return r;
  }
  json m = runs.front();
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (!it.value().is_number()) continue;
    std::vector<double> v;
    for (const json& r : runs) v.push_back(num(r, it.key().c_str()));
    it.value() = median(v);
  }
  if (runs.size() > 1) m["runs"] = runs;
  return m;
}

// x over a, per figure, for one round.
json ratios(const json& a, const json& x) {
  json r = json::object();
  if (a.contains("error") || x.contains("error")) return r;
  for (const char* k : {"first_answer_ms", "answers_per_min", "peak_rss_mib", "cpu_ms_per_answer"}) {
    if (num(a, k) > 0) r[k] = num(x, k) / num(a, k);
  }
  return r;
}

// The median of each figure's per-round ratios (each round's modes ran minutes apart on
// the same machine, so a round's ratio is the fair one on a machine whose load drifts).
json median_ratios(const std::vector<json>& per_round) {
  json out = json::object();
  if (per_round.empty()) return out;
  for (auto it = per_round.front().begin(); it != per_round.front().end(); ++it) {
    std::vector<double> v;
    for (const json& r : per_round) v.push_back(num(r, it.key().c_str()));
    out[it.key()] = median(v);
  }
  return out;
}

}  // namespace

Result<int> parse_camera_workload(const std::string& spec) {
  const std::string prefix = "camera:";
  if (spec.compare(0, prefix.size(), prefix) != 0) {
    return error(ErrorCode::invalid_argument, "--workload '" + spec + "': the only workload is camera:N (N frames)");
  }
  const std::string n = spec.substr(prefix.size());
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(n.c_str(), &end, 10);
  if (n.empty() || *end != '\0' || errno != 0 || v < 1 || v > 100000) {
    return error(ErrorCode::invalid_argument, "--workload '" + spec + "': N must be a number of frames from 1 to 100000");
  }
  return (int)v;
}

int bench_camera(const TextOptions& text, int n_frames, int n_answer, bool as_json, int rounds) {
  TextOptions o = text;
  if (!resolve_default_model(o)) return 1;
  if (o.mmproj_path.empty()) {
    std::fprintf(stderr, "error: --workload camera:N needs a vision model: give its mmproj with --mmproj\n");
    return 1;
  }
  const std::string question = o.demo ? "How many shapes are there?" : "What is in this picture?";
  std::string split = o.devices;
  if (split.empty()) {
    const std::string declared = cpu_clusters_from_env();
    if (declared.find('|') != std::string::npos) split = "vision=cpu:0,text=cpu:1";
  }
  const std::string trace_path = o.trace_path;
  o.trace_path.clear();  // only the nanomind mode is traced
  const Mode mono{"monolithic", "", false, false, true};
  const Mode nano{"nanomind", split, true, true, false};
  const Mode cascade{"cascade", "", false, true, false};
  TextOptions ob = o;
  ob.trace_path = trace_path;
  const Mode modes[3] = {mono, nano, cascade};
  // Rounds: every mode once per round, the order rotated from round to round (a b c, b c a,
  // c a b, ...), so that a machine whose load drifts does not favour the mode that runs last.
  rounds = std::max(rounds, 1);
  std::vector<json> runs[3];
  for (int r = 0; r < rounds; ++r) {
    for (int i = 0; i < 3; ++i) {
      const int k = (i + r) % 3;
      runs[k].push_back(run_in_child(modes[k], k == 1 ? ob : o, n_frames, n_answer, question));
    }
  }
  const json a = summarise(runs[0]), b = summarise(runs[1]), c = summarise(runs[2]);
  std::vector<json> b_over_a, c_over_a;
  for (int r = 0; r < rounds; ++r) {
    b_over_a.push_back(ratios(runs[0][(size_t)r], runs[1][(size_t)r]));
    c_over_a.push_back(ratios(runs[0][(size_t)r], runs[2][(size_t)r]));
  }
  const json ratios_b = median_ratios(b_over_a), ratios_c = median_ratios(c_over_a);
  json report = {{"workload", "camera:" + std::to_string(n_frames)},
                 {"model", o.model_path},
                 {"mmproj", o.mmproj_path},
                 {"answer_tokens", n_answer},
                 {"question", question},
                 {"rounds", rounds},
                 {"modes", {a, b, c}},
                 {"ratios_b_over_a", ratios_b},
                 {"ratios_c_over_a", ratios_c}};
  if (rounds > 1) {
    report["ratios_b_over_a_per_round"] = b_over_a;
    report["ratios_c_over_a_per_round"] = c_over_a;
  }
  if (as_json) {
    std::printf("%s\n", report.dump(2).c_str());
  } else {
    std::printf("workload camera:%d, answers of %d tokens (end tokens ignored), question \"%s\"\n", n_frames, n_answer,
                question.c_str());
    if (rounds > 1) {
      std::printf("%d rounds, each mode once per round, the order rotated; medians over the rounds, and the median of "
                  "each round's ratio\n", rounds);
    }
    std::printf("| mode       | placement                 | first answer |  answers/min | peak RSS | copied between "
                "bricks | answered | tokens/answer | CPU/answer | minor faults/answer |\n");
    for (const json& m : {a, b, c}) {
      if (m.contains("error")) {
        std::printf("| error: %s\n", m["error"].get<std::string>().c_str());
        continue;
      }
      std::printf("| %-10s | %-25s | %9.1f ms | %12.1f | %4.0f MiB | %14.0f bytes | %4d/%-4d| %13.1f | %7.0f ms | "
                  "%19.0f |\n",
                  m["mode"].get<std::string>().c_str(), m["devices"].get<std::string>().c_str(),
                  num(m, "first_answer_ms"), num(m, "answers_per_min"), num(m, "peak_rss_mib"),
                  num(m, "bytes_copied_between_bricks"), (int)num(m, "answered"), (int)num(m, "frames"),
                  num(m, "mean_answer_tokens"), num(m, "cpu_ms_per_answer"), num(m, "minor_faults_per_answer"));
    }
    for (const auto& [name, r] : {std::pair<const char*, const json&>{"nanomind", ratios_b}, {"cascade", ratios_c}}) {
      if (r.empty()) continue;
      std::printf("%s / monolithic: first answer x%.2f, answers per minute x%.2f, peak resident memory x%.2f, CPU time "
                  "per answer x%.2f\n",
                  name, num(r, "first_answer_ms"), num(r, "answers_per_min"), num(r, "peak_rss_mib"),
                  num(r, "cpu_ms_per_answer"));
    }
  }
  return a.contains("error") || b.contains("error") || c.contains("error") ? 1 : 0;
}

}  // namespace nm::cli
