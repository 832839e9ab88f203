#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries the given
# binaries load (ldd), one per line: what a runtime image must apt-get
# install. Used by the Dockerfile's build stage so the slim stage carries the
# runtime libraries (libgrpc++1.51, libdnnl2, ...) and never a -dev package.
# Fails when a library belongs to no package or a -dev package is named.
set -euo pipefail

libs=$(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)
packages=()
for lib in $libs; do
  owner=""
  for candidate in "$lib" "$(realpath "$lib")" "${lib#/usr}" "/usr${lib}"; do
    owner=$(dpkg-query -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$owner" ] && break
  done
  if [ -z "$owner" ]; then
    echo "runtime-packages: no Debian package holds $lib" >&2
    exit 1
  fi
  packages+=("$owner")
done
sorted=$(printf '%s\n' "${packages[@]}" | sort -u)
if grep -- '-dev$' <<<"$sorted" >&2; then
  echo "runtime-packages: a -dev package is not a runtime library" >&2
  exit 1
fi
echo "$sorted"
