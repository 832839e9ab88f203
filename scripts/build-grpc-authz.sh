#!/usr/bin/env bash
# Builds gRPC's authorization policy provider (upstream's grpcpp_authz:
# grpc::experimental::StaticDataAuthorizationPolicyProvider and the policy
# translator behind it) for the gRPC that Debian installed.
#
# Debian 12's libgrpc++ ships the header (grpcpp/security/
# authorization_policy_provider.h) and libgrpc.so carries the authorization
# engine and server filter, but the three source files that turn a policy's
# JSON into that engine are not in any binary package. This script takes them
# from Debian's own source package of the installed version (apt verifies it
# against the archive's signed index), compiles them against that tree's
# headers with the flags Debian used (no NDEBUG: the packaged libgrpc keeps its
# debug-only members), and installs a static libgrpcpp_authz.a that links
# against the system libgrpc.so. Nothing of it is copied into this repository.
#
# Idempotent: does nothing when the library for this gRPC version is present.
# Environment: TESSERA_AUTHZ_PREFIX (default /usr/local).
set -euo pipefail

PREFIX=${TESSERA_AUTHZ_PREFIX:-/usr/local}
LIBDIR="$PREFIX/lib"
STAMP="$LIBDIR/libgrpcpp_authz.version"

version=$(dpkg-query -W -f='${source:Version}' libgrpc++-dev)
if [ -f "$LIBDIR/libgrpcpp_authz.a" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$version" ]; then
  echo "build-grpc-authz: libgrpcpp_authz for gRPC $version present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ] && [ ! -w "$LIBDIR" ]; then SUDO="sudo"; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/src"

# deb-src entries for the same archives the system installs from, kept in a
# private apt state so the system's package lists are left as they are.
: >"$work/sources.list"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  sed -n 's/^deb \(.*debian.*\)$/deb-src \1/p' "$f" >>"$work/sources.list"
done
: >"$work/deb822.sources"
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  sed 's/^Types:.*$/Types: deb-src/' "$f" >>"$work/deb822.sources"
  echo >>"$work/deb822.sources"
done
mkdir -p "$work/sources.d"
if [ -s "$work/deb822.sources" ]; then cp "$work/deb822.sources" "$work/sources.d/debian.sources"; fi

APT_OPTS=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/sources.d"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives"
  -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
echo "build-grpc-authz: fetching Debian's grpc $version source"
apt-get "${APT_OPTS[@]}" update -qq
(cd "$work/src" && apt-get "${APT_OPTS[@]}" source --download-only -qq "grpc=$version")

upstream=${version%-*}
upstream=${upstream#*:}
tar -xzf "$work/src/grpc_${upstream}.orig.tar.gz" -C "$work/src"
tree="$work/src/grpc-${upstream}"

SOURCES=(
  src/core/lib/security/authorization/rbac_translator.cc
  src/core/lib/security/authorization/grpc_authorization_policy_provider.cc
  src/cpp/server/authorization_policy_provider.cc
)
objects=()
for s in "${SOURCES[@]}"; do
  o="$work/$(basename "$s" .cc).o"
  g++ -std=c++17 -O2 -g0 -fPIC -I"$tree" -I"$tree/include" -I"$tree/third_party/upb" \
    -I"$tree/src/core/ext/upb-generated" -I"$tree/src/core/ext/upbdefs-generated" \
    -c "$tree/$s" -o "$o"
  objects+=("$o")
done
ar rcs "$work/libgrpcpp_authz.a" "${objects[@]}"

# Every symbol the provider needs must come from the installed gRPC.
g++ -shared -o "$work/check.so" -Wl,--whole-archive "$work/libgrpcpp_authz.a" -Wl,--no-whole-archive \
  -Wl,--no-undefined $(pkg-config --libs grpc++ grpc)

$SUDO mkdir -p "$LIBDIR"
$SUDO install -m 0644 "$work/libgrpcpp_authz.a" "$LIBDIR/libgrpcpp_authz.a"
echo "$version" | $SUDO tee "$STAMP" >/dev/null
echo "build-grpc-authz: installed $LIBDIR/libgrpcpp_authz.a for gRPC $version"
