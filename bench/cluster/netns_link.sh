#!/bin/bash
# Two network namespaces joined by a veth pair whose both ends are shaped by
# a token bucket (tc tbf): a bandwidth-limited link between two "hosts" on
# one machine. Latency is not added here (this kernel has no netem); put
# bench/cluster/delay_proxy.py on the path for that.
#
#   netns_link.sh [up] NAME RATE [BURST [LATENCY]]
#       creates namespaces NAME_a and NAME_b (loopback up in each), veth
#       NAMEa (in NAME_a) <-> NAMEb (in NAME_b), addresses 10.X.Y.1/30 and
#       10.X.Y.2/30 (X.Y from NAME, or SUBNET=10.X.Y.0 in the environment), and
#       `tc qdisc add dev ... root tbf rate RATE burst BURST latency LATENCY`
#       on both ends. RATE as tc spells it (100mbit, 1gbit, 500kbit); BURST
#       defaults to RATE/250 per second's worth (at least 32kb), LATENCY to
#       50ms (how long a packet may queue in the bucket before it is dropped).
#       Prints: NAME_a ADDRESS_A / NAME_b ADDRESS_B, one per line.
#   netns_link.sh down NAME
#       removes both namespaces (and so the veth pair and its qdiscs).
#   netns_link.sh check
#       exits 0 when this kernel and user can do the above (root, ip netns,
#       veth, tbf), else prints what is missing and exits 1.
#
# Run a process on one end: ip netns exec NAME_b build/bin/tessera-worker
# --listen 10.X.Y.2:9000 ...; certificates must then name the addresses
# (tessera certs --out DIR --hosts 10.X.Y.1,10.X.Y.2).
# NAME: 1 to 12 characters of [A-Za-z0-9_-] (interface names are <= 15).
set -euo pipefail

die() { echo "netns_link.sh: $*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
  exit "${1:-0}"
}

need_tools() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (ip netns and tc need CAP_NET_ADMIN)"
  command -v ip >/dev/null || die "iproute2's 'ip' is not installed"
  command -v tc >/dev/null || die "iproute2's 'tc' is not installed"
}

check_name() {
  [[ $1 =~ ^[A-Za-z0-9_-]{1,12}$ ]] || die "NAME '$1' must be 1 to 12 characters of [A-Za-z0-9_-]"
}

# RATE in bits per second, from tc's units (bit, kbit, mbit, gbit, tbit, bps, kbps, mbps, gbps).
rate_bits() {
  local rate=${1,,}
  [[ $rate =~ ^([0-9]+)([a-z]*)$ ]] || die "RATE '$1' is not a number with a tc unit (e.g. 100mbit)"
  local n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
  case $unit in
    bit | "") echo "$n" ;;
    kbit) echo $((n * 1000)) ;;
    mbit) echo $((n * 1000000)) ;;
    gbit) echo $((n * 1000000000)) ;;
    tbit) echo $((n * 1000000000000)) ;;
    bps) echo $((n * 8)) ;;
    kbps) echo $((n * 8000)) ;;
    mbps) echo $((n * 8000000)) ;;
    gbps) echo $((n * 8000000000)) ;;
    *) die "RATE '$1' has an unknown unit '$unit' (bit, kbit, mbit, gbit, bps, kbps, mbps, gbps)" ;;
  esac
}

subnet_for() {
  if [[ -n ${SUBNET:-} ]]; then
    [[ $SUBNET =~ ^10\.([0-9]+)\.([0-9]+)\.0$ ]] || die "SUBNET '$SUBNET' must look like 10.X.Y.0"
    echo "10.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
    return
  fi
  local sum
  sum=$(printf '%s' "$1" | cksum | cut -d' ' -f1)
  echo "10.$((200 + sum % 50)).$(((sum / 50) % 256))"
}

cmd_up() {
  [[ $# -ge 2 && $# -le 4 ]] || usage 1
  local name=$1 rate=$2 burst=${3:-} latency=${4:-50ms}
  check_name "$name"
  need_tools
  local bits
  bits=$(rate_bits "$rate")
  [[ $bits -gt 0 ]] || die "RATE must be positive"
  if [[ -z $burst ]]; then
    local bytes=$((bits / 8 / 250))
    ((bytes < 32768)) && bytes=32768
    burst="${bytes}b"
  fi
  local a="${name}_a" b="${name}_b"
  for ns in "$a" "$b"; do
    ! ip netns list | grep -qw -- "^$ns" || die "namespace $ns already exists; run '$0 down $name' first"
  done
  local net
  net=$(subnet_for "$name")
  trap 'ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; ip link del "${name}a" 2>/dev/null || true' ERR
  ip netns add "$a"
  ip netns add "$b"
  ip link add "${name}a" type veth peer name "${name}b"
  ip link set "${name}a" netns "$a"
  ip link set "${name}b" netns "$b"
  ip -n "$a" addr add "$net.1/30" dev "${name}a"
  ip -n "$b" addr add "$net.2/30" dev "${name}b"
  for ns in "$a" "$b"; do
    ip -n "$ns" link set lo up
  done
  ip -n "$a" link set "${name}a" up
  ip -n "$b" link set "${name}b" up
  ip netns exec "$a" tc qdisc add dev "${name}a" root tbf rate "$rate" burst "$burst" latency "$latency"
  ip netns exec "$b" tc qdisc add dev "${name}b" root tbf rate "$rate" burst "$burst" latency "$latency"
  trap - ERR
  echo "$a $net.1"
  echo "$b $net.2"
}

cmd_down() {
  [[ $# -eq 1 ]] || usage 1
  check_name "$1"
  need_tools
  local found=0
  for ns in "$1_a" "$1_b"; do
    if ip netns list | grep -qw -- "^$ns"; then
      ip netns del "$ns"
      found=1
    fi
  done
  ip link del "$1a" 2>/dev/null || true  # a half-made link left in the root namespace
  [[ $found -eq 1 ]] || echo "netns_link.sh: no namespaces named $1_a / $1_b" >&2
}

cmd_check() {
  need_tools
  local probe="nlchk$$"
  probe=${probe:0:12}
  local ok=1
  if ! ip netns add "${probe}_a" 2>/dev/null; then
    echo "netns_link.sh: 'ip netns add' fails: no network namespaces here" >&2
    exit 1
  fi
  if ! ip link add "${probe}a" netns "${probe}_a" type veth peer name "${probe}b" netns "${probe}_a" 2>/dev/null; then
    echo "netns_link.sh: cannot create a veth pair" >&2
    ok=0
  elif ! ip netns exec "${probe}_a" tc qdisc add dev "${probe}a" root tbf rate 10mbit burst 32kb latency 50ms 2>/dev/null; then
    echo "netns_link.sh: 'tc qdisc add ... tbf' fails: no tbf qdisc in this kernel" >&2
    ok=0
  fi
  ip netns del "${probe}_a"
  [[ $ok -eq 1 ]] || exit 1
  echo "netns_link.sh: ip netns, veth and tc tbf work"
}

case ${1:-} in
  -h | --help | help | "") usage 0 ;;
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  check) shift; cmd_check "$@" ;;
  *) cmd_up "$@" ;;
esac
