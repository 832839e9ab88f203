# Shared pieces of the cluster benchmark scripts (sourced, not run).
#
# Every process started here goes into the script's own process group and
# is stopped by bench_cleanup (installed as the EXIT trap by bench_init).

BIN=${BIN:-build/bin}
PYTHON=${PYTHON:-/usr/bin/python3}
BENCH_PIDS=()
# Security of the processes started next and of the load generator's
# channel: "tls" (mutual TLS with $BENCH_WORK/certs, the default) or
# "insecure" (plaintext, for reference figures only).
BENCH_SECURITY=tls

bench_security_flags() {
  if [[ $BENCH_SECURITY == insecure ]]; then echo --insecure; else echo --certs "$BENCH_WORK/certs"; fi
}

bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -n "${BENCH_WORK:-}" ]] && rm -rf "$BENCH_WORK"
}

# bench_init: a scratch directory ($BENCH_WORK) with cluster certificates
# ($BENCH_WORK/certs), and the cleanup trap.
bench_init() {
  for b in tessera tessera-worker tessera-coordinator tessera-echo; do
    [[ -x "$BIN/$b" ]] || { echo "missing $BIN/$b: build first (cmake --build build)" >&2; exit 1; }
  done
  BENCH_WORK=$(mktemp -d /tmp/tessera-bench.XXXXXX)
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  "$BIN/tessera" certs --out "$BENCH_WORK/certs" >/dev/null
}

# bench_wait_line FILE REGEX [TIMEOUT_S]: prints the first line of FILE
# matching REGEX, waiting for it to appear.
bench_wait_line() {
  local file=$1 regex=$2 timeout=${3:-180} line
  for ((i = 0; i < timeout * 10; ++i)); do
    line=$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)
    if [[ -n "$line" ]]; then echo "$line"; return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for /$regex/ in $file:" >&2
  tail -20 "$file" >&2
  return 1
}

# bench_up NAME REPOSITORY WORKERS [extra tessera up flags...]: starts a
# cluster; sets UP_ADDR (the coordinator) and logs to $BENCH_WORK/NAME.log.
bench_up() {
  local name=$1 repo=$2 workers=$3
  shift 3
  "$BIN/tessera" up --model-repository "$repo" --workers "$workers" --listen 127.0.0.1:0 \
    $(bench_security_flags) "$@" >"$BENCH_WORK/$name.log" 2>&1 &
  BENCH_PIDS+=($!)
  UP_ADDR=$(bench_wait_line "$BENCH_WORK/$name.log" '^ready: ' | awk '{print $2}')
}

# bench_echo_chain NAME FEATURES: an echo server and a relay in front of it
# (tessera-echo); sets ECHO_ADDR (the relay).
bench_echo_chain() {
  local name=$1 features=$2 server
  "$BIN/tessera-echo" --mode=server --listen 127.0.0.1:0 $(bench_security_flags) \
    --features "$features" >"$BENCH_WORK/$name-server.log" 2>&1 &
  BENCH_PIDS+=($!)
  server=$(bench_wait_line "$BENCH_WORK/$name-server.log" 'listening on' 30 | awk '{print $NF}')
  "$BIN/tessera-echo" --mode=relay --listen 127.0.0.1:0 $(bench_security_flags) \
    --upstream "$server" --features "$features" >"$BENCH_WORK/$name-relay.log" 2>&1 &
  BENCH_PIDS+=($!)
  ECHO_ADDR=$(bench_wait_line "$BENCH_WORK/$name-relay.log" 'listening on' 30 | awk '{print $NF}')
}

# bench_run OUT.json ADDR MODEL [tessera bench flags...]: one load step
# (or several) as JSON.
bench_run() {
  local out=$1 addr=$2 model=$3
  shift 3
  "$BIN/tessera" bench --server "$addr" $(bench_security_flags) --model "$model" --json "$@" >"$out"
}
