// `nanomind inspect FILE`: prints a GGUF file's header, metadata (long arrays abbreviated)
// and tensor table with totals, or everything as JSON (--json, arrays in full). Text from
// the file is escaped (cli/text_escape.h): plain output never carries control characters
// to the terminal, and the JSON is valid UTF-8 whatever bytes the keys hold.
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "cli/commands.h"
#include "cli/text_escape.h"
#include "core/gguf_reader.h"

namespace nm::cli {

namespace {

constexpr size_t kShownItems = 8;

std::string fmt_double(double x, bool json) {
  if (std::isnan(x)) return json ? "\"nan\"" : "nan";
  if (std::isinf(x)) return json ? (x > 0 ? "\"inf\"" : "\"-inf\"") : (x > 0 ? "inf" : "-inf");
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

// max_items == 0: everything (JSON); otherwise arrays show their first items and a count.
std::string format_value(const GgufValue& v, bool json, size_t max_items) {
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return json ? json_string(x) : "\"" + terminal_safe(x) + "\"";
        } else if constexpr (std::is_same_v<T, GgufArray>) {
          std::string o = "[";
          size_t n = x.items.size();
          size_t shown = max_items == 0 ? n : std::min(n, max_items);
          for (size_t i = 0; i < shown; ++i) {
            if (i) o += ", ";
            o += format_value(x.items[i], json, max_items);
          }
          if (shown < n) o += ", ... (" + std::to_string(n) + " items)";
          return o + "]";
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_floating_point_v<T>) {
          return fmt_double(static_cast<double>(x), json);
        } else {
          return std::to_string(x);
        }
      },
      v.v);
}

std::string type_label(const GgufValue& v) {
  if (const auto* a = v.get_if<GgufArray>()) return "[" + std::string(gguf_type_name(a->elem)) + "]";
  return std::string(gguf_type_name(v.type()));
}

void print_json(const GgufFile& f, bool tensors) {
  std::printf("{\"version\": %u, \"alignment\": %u, \"data_offset\": %zu, \"metadata\": [", f.version(), f.alignment(),
              f.data_offset());
  bool first = true;
  for (const auto& kv : f.metadata()) {
    std::printf("%s\n  {\"key\": %s, \"type\": \"%s\", \"value\": %s}", first ? "" : ",", json_string(kv.key).c_str(),
                type_label(kv.value).c_str(), format_value(kv.value, true, 0).c_str());
    first = false;
  }
  std::printf("],\n\"tensors\": [");
  first = true;
  if (tensors) {
    for (const auto& t : f.tensors()) {
      std::string shape;
      for (int d = 0; d < t.n_dims; ++d) shape += (d ? ", " : "") + std::to_string(t.ne[d]);
      std::printf("%s\n  {\"name\": %s, \"type\": \"%s\", \"type_id\": %u, \"shape\": [%s], \"offset\": %" PRIu64
                  ", \"bytes\": %zu}",
                  first ? "" : ",", json_string(t.name).c_str(), std::string(dtype_name(t.type)).c_str(),
                  static_cast<unsigned>(t.type), shape.c_str(), t.offset, t.n_bytes);
      first = false;
    }
  }
  std::printf("]}\n");
}

void print_text(const GgufFile& f, bool tensors) {
  std::printf("GGUF v%u, alignment %u, %zu metadata keys, %zu tensors, data at offset %zu, file %zu bytes\n",
              f.version(), f.alignment(), f.metadata().size(), f.tensors().size(), f.data_offset(), f.file_size());
  std::printf("\nmetadata:\n");
  size_t i = 0;
  for (const auto& kv : f.metadata()) {
    std::printf("%5zu: %-10s %s = %s\n", ++i, type_label(kv.value).c_str(), terminal_safe(kv.key).c_str(),
                format_value(kv.value, false, kShownItems).c_str());
  }
  if (!tensors) return;
  std::printf("\ntensors:\n%5s  %-40s %-6s %-24s %12s %14s\n", "#", "name", "type", "shape", "bytes", "offset");
  std::map<std::string, std::pair<int64_t, size_t>> per_type;  // params, bytes
  int64_t params = 0;
  size_t bytes = 0;
  i = 0;
  for (const auto& t : f.tensors()) {
    std::string shape;
    for (int d = 0; d < t.n_dims; ++d) shape += (d ? " x " : "") + std::to_string(t.ne[d]);
    std::string type(dtype_name(t.type));
    std::printf("%5zu  %-40s %-6s %-24s %12zu %14" PRIu64 "\n", ++i, terminal_safe(t.name).c_str(), type.c_str(), shape.c_str(),
                t.n_bytes, t.offset);
    per_type[type].first += t.n_elements();
    per_type[type].second += t.n_bytes;
    params += t.n_elements();
    bytes += t.n_bytes;
  }
  std::printf("\ntotals: %" PRId64 " parameters, %zu bytes (%.2f MiB)\n", params, bytes, bytes / 1048576.0);
  for (const auto& [type, pb] : per_type) {
    std::printf("  %-6s %14" PRId64 " params %14zu bytes\n", type.c_str(), pb.first, pb.second);
  }
}

}  // namespace

void register_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Show a GGUF file's metadata and tensor table");
  auto path = std::make_shared<std::string>();
  auto no_tensors = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("file", *path, "GGUF file")->required();
  cmd->add_flag("--no-tensors", *no_tensors, "Do not print the tensor table");
  cmd->add_flag("--json", *json, "Print JSON (arrays in full)");
  cmd->callback([path, no_tensors, json] {
    auto f = GgufFile::open(*path);
    if (!f.ok()) {
      std::fprintf(stderr, "error: %s\n", terminal_safe(f.status().to_string()).c_str());
      throw CLI::RuntimeError(1);
    }
    if (*json) print_json(*f, !*no_tensors);
    else print_text(*f, !*no_tensors);
  });
}

}  // namespace nm::cli
