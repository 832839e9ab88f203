// OpenMP's idle threads spin before they sleep (libgomp: 300000 spins by
// default). On a machine shared with other processes (several workers on
// one host, a loaded CI box) spinning threads steal the cores the working
// threads need, and latency grows tenfold. libgomp reads its settings only
// when it is loaded, before main() runs, so a binary that wants a bounded
// spin must set the variable and re-execute itself.
#pragma once

namespace tessera {

// Environment variable and value used when the user set neither
// GOMP_SPINCOUNT nor OMP_WAIT_POLICY.
inline constexpr char kSpinCountVariable[] = "GOMP_SPINCOUNT";
inline constexpr char kDefaultSpinCount[] = "10000";

// Call first thing in main(). If the user left the wait policy alone, sets
// GOMP_SPINCOUNT and re-executes /proc/self/exe with the same arguments
// (once: the variable is then set). Returns normally when nothing needs to
// change or when re-execution fails (the process then keeps the default).
void BoundOpenMpSpinning(char** argv);

}  // namespace tessera
