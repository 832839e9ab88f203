// Clean shutdown of the server binaries on SIGINT or SIGTERM.
//
// Call BlockShutdownSignals() first thing in main, before any thread starts,
// so every thread inherits the blocked mask; later WaitForShutdownSignal()
// returns the signal once one arrives (synchronously, with sigwait: no work
// in a signal handler).
#pragma once

namespace tessera {

void BlockShutdownSignals();
// Blocks until SIGINT or SIGTERM; returns its number.
int WaitForShutdownSignal();

}  // namespace tessera
