#!/usr/bin/env python3
"""Compile time of the test code: as the build compiles it (TESSERA_TEST_OPTIMIZATION
plus the shared precompiled header, cmake/TesseraTest.cmake) against the
former way (the build type's optimization, -O3 or the sanitizer builds' -O1,
and every header parsed by every test), side by side. Works on the Release
tree (GCC) and on build-asan / build-tsan (clang).

    bench/build/test_compile_time.py [--build-dir build] [--sample N]

Takes N test translation units spread over tests/ from the build's
compile_commands.json (needs a configured, built tree: the precompiled header
must exist), compiles each both ways in alternation to a scratch object, and
prints the CPU seconds (user + sys of the compiler) of each and the ratio.
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile


def cpu_seconds_of(command):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, shell=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--sample", type=int, default=10)
    args = parser.parse_args()

    with open(os.path.join(args.build_dir, "compile_commands.json")) as f:
        entries = json.load(f)
    tests = sorted((e for e in entries if "/tests/" in e["file"] and e["file"].endswith("_test.cc")
                    and "-Winvalid-pch" in e["command"]), key=lambda e: e["file"])
    if not tests:
        sys.exit("no test translation units built with the precompiled header in " + args.build_dir)
    step = max(1, len(tests) // args.sample)
    sample = tests[::step][:args.sample]

    scratch = tempfile.mkdtemp()
    now_total = before_total = 0.0
    # "before": the build type's optimization (-O3; -O1 in the sanitizer
    # trees), no precompiled header.
    print(f"{'test':55s} {'now s':>7s} {'before s':>13s} {'ratio':>6s}")
    for i, entry in enumerate(sample):
        command = re.sub(r" -o \S+", f" -o {scratch}/out{i}.o", entry["command"])
        now = command
        # The former way: no forced include of the precompiled header, and
        # the test optimization flag taken out so the build type's rules
        # (-O3; -O1 in the sanitizer builds).
        before = re.sub(r" -Winvalid-pch -include \S+", "", command)  # GCC
        before = re.sub(r" -Winvalid-pch -Xclang -include-pch -Xclang \S+ -Xclang -include -Xclang \S+", "",
                        before)  # clang
        before = re.sub(r" -O(g|0)(?= )", "", before)
        # Alternate which goes first, so neither always runs on a warm cache.
        if i % 2 == 0:
            t_now, t_before = cpu_seconds_of(now), cpu_seconds_of(before)
        else:
            t_before, t_now = cpu_seconds_of(before), cpu_seconds_of(now)
        now_total += t_now
        before_total += t_before
        name = os.path.relpath(entry["file"], os.path.dirname(os.path.abspath(args.build_dir)))
        print(f"{name:55s} {t_now:7.1f} {t_before:13.1f} {t_now / t_before:6.2f}", flush=True)
    print(f"{'total (' + str(len(sample)) + ' of ' + str(len(tests)) + ' test units)':55s} "
          f"{now_total:7.1f} {before_total:13.1f} {now_total / before_total:6.2f}")


if __name__ == "__main__":
    main()
