// A device wrapper that injects delay, for the re-planning tests: it runs every graph on the
// device it wraps, then waits (factor - 1) x the time that run took, so the device looks
// `factor` times slower whatever the machine's speed (a sanitizer or qemu slows the run and
// the wait alike). set_factor() may be called from any thread while others run graphs.
// Graphs are prepared through the Device interface (no packed weight copies): compare runs
// through wrappers with runs through wrappers.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "backend/device.h"

namespace nm::test {

class DelayDevice final : public Device {
 public:
  explicit DelayDevice(Device& inner) : inner_(inner) {}
  void set_factor(double f) { factor_.store(f); }
  double factor() const { return factor_.load(); }

  DeviceKind kind() const override { return inner_.kind(); }
  const std::string& name() const override { return inner_.name(); }
  std::string description() const override { return inner_.description() + " (delay injected)"; }
  DeviceMemoryInfo memory() const override { return inner_.memory(); }
  bool supports(const Graph& graph, const Node& node) const override { return inner_.supports(graph, node); }
  Result<std::unique_ptr<DeviceBuffer>> allocate(size_t bytes) override { return inner_.allocate(bytes); }
  Result<std::unique_ptr<DeviceBuffer>> import_host(void* ptr, size_t bytes) override {
    return inner_.import_host(ptr, bytes);
  }
  Result<std::unique_ptr<Executable>> prepare(Graph graph) override { return inner_.prepare(std::move(graph)); }
  Status run(Executable& exe) override {
    const auto t0 = std::chrono::steady_clock::now();
    Status st = inner_.run(exe);
    const double f = factor_.load();
    if (f > 1) std::this_thread::sleep_for((std::chrono::steady_clock::now() - t0) * (f - 1));
    return st;
  }
  Status synchronize() override { return inner_.synchronize(); }
  Result<std::unique_ptr<DeviceEvent>> record_event() override { return inner_.record_event(); }
  Result<DeviceSpeed> measure_speed() override { return inner_.measure_speed(); }
  const Device* wrapped() const override { return &inner_; }

 private:
  Device& inner_;
  std::atomic<double> factor_{1.0};
};

}  // namespace nm::test
