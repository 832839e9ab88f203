// Clean shutdown of the server binaries on SIGINT or SIGTERM.
//
// Call BlockShutdownSignals() first thing in main, before any thread starts,
// so every thread inherits the blocked mask; later WaitForShutdownSignal()
// returns the signal once one arrives (synchronously, with sigwait: no work
// in a signal handler).
//
// Draining: once a shutdown signal arrives, ServeUntilSignal (server_main.h)
// calls BeginDraining() before it stops accepting calls; from then on
// IsDraining() is true for the rest of the process's life. Readiness
// endpoints (the ops port's /readyz) answer "not ready" while it is true.
// Both are safe from any thread and cheap (one atomic).
#pragma once

#include "absl/time/time.h"

namespace tessera {

void BlockShutdownSignals();
// Blocks until SIGINT or SIGTERM; returns its number.
int WaitForShutdownSignal();
// Like WaitForShutdownSignal, but gives up after `timeout` and returns 0.
int WaitForShutdownSignalFor(absl::Duration timeout);

// Process-wide draining state (see above).
void BeginDraining();
bool IsDraining();

}  // namespace tessera
