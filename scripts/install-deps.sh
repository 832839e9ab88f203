#!/usr/bin/env bash
# Installs the Debian 12 packages Tessera needs to build and test.
# Idempotent: packages already present are not touched, and apt is not
# consulted at all when nothing is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libonnx-dev libonnx-testdata
  libdnnl-dev libopenblas-dev
  prometheus-cpp-dev libcivetweb-dev
  clang-14 libclang-rt-14-dev libomp-14-dev llvm-14
  python3 python3-yaml iproute2 curl ca-certificates
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  "$(dirname "$0")/build-grpc-authz.sh"
  "$(dirname "$0")/fetch-kustomize.sh"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
"$(dirname "$0")/build-grpc-authz.sh"
"$(dirname "$0")/fetch-kustomize.sh"
