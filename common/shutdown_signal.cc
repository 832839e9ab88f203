#include "common/shutdown_signal.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>

#include "absl/time/clock.h"

namespace tessera {
namespace {

std::atomic<bool> g_draining{false};

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void BlockShutdownSignals() {
  const sigset_t set = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForShutdownSignal() {
  const sigset_t set = ShutdownSignals();
  int signal = 0;
  while (sigwait(&set, &signal) != 0) {
  }
  return signal;
}

int WaitForShutdownSignalFor(absl::Duration timeout) {
  const sigset_t set = ShutdownSignals();
  const absl::Time give_up = absl::Now() + timeout;
  while (true) {
    const absl::Duration left = give_up - absl::Now();
    if (left <= absl::ZeroDuration()) return 0;
    const timespec wait = absl::ToTimespec(left);
    const int signal = sigtimedwait(&set, nullptr, &wait);
    if (signal > 0) return signal;
    if (errno == EAGAIN) return 0;
    // EINTR: another signal interrupted the wait; wait for what is left.
  }
}

void BeginDraining() { g_draining.store(true, std::memory_order_release); }

bool IsDraining() { return g_draining.load(std::memory_order_acquire); }

}  // namespace tessera
