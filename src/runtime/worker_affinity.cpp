#include "runtime/worker_affinity.h"

#include <pthread.h>

#include "backend/cpu/cpu_device.h"

namespace nm {

PinnedThread::PinnedThread(const Device* device) {
  while (device && device->wrapped()) device = device->wrapped();
  const auto* cpu = dynamic_cast<const CpuDevice*>(device);
  if (!cpu || cpu->cluster().cpus.empty()) return;
  if (pthread_getaffinity_np(pthread_self(), sizeof saved_, &saved_) != 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpu->cluster().cpus) {
    if (c >= 0 && c < CPU_SETSIZE) CPU_SET(c, &set);
  }
  pinned_ = pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

PinnedThread::~PinnedThread() {
  if (pinned_) pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_);
}

}  // namespace nm
