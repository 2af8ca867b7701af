#!/usr/bin/env bash
# Roster's benchmark: Roster side by side with the yardstick limit-server (../shared/bench), in
# one run, on loopback, release builds. It measures what issue 3 ("Speed and memory") asks:
#
#   - `userName eq` lookups with 100,000 users (wrk, wrk_filter.lua, -t2 -c16), both servers;
#   - creates with 16 concurrent clients (wrk, wrk_create.lua), both servers;
#   - PATCH adding / removing 100 members of a 1,000- and of a 100,000-member group
#     (bench/scim_bench.py members: median and p99 of each, and the ratio);
#   - roster's VmRSS / VmHWM after seeding 100,000 users and after every run.
#
# It prints a summary table with PASS/FAIL per target and writes it as JSON to
# target/bench/summary.json. It reports; it never fails on a missed target (CI does not run it).
#
#   bench/run.sh                     # 3 rounds of 20 s per wrk run; about 8 minutes after the builds
#   DURATION=10s ROUNDS=1 USERS=20000 bench/run.sh
#
# Lookups and creates run in ROUNDS rounds (default 3), the two servers alternating within
# each: on a shared machine one pair of runs can land on a busy or a quiet spell, so each
# ratio is the median of the rounds' ratios, and every round's figures are kept.
#
# Needs: cargo, python3 (standard library only), curl, and wrk (installed with apt-get when
# missing and running as root). Loopback only; both servers are killed on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

DURATION="${DURATION:-20s}"
ROUNDS="${ROUNDS:-3}"
USERS="${USERS:-100000}"
SHARED="${BENCH_SHARED:-$ROOT/../shared/bench}"
OUT="$ROOT/target/bench"
ROSTER_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/roster"
LIMIT_BIN="$ROOT/target/limit-server/release/limit-server"
CLIENT=(python3 "$ROOT/bench/scim_bench.py")
TOKEN_LIMIT="bench-limit-token"

# The environment must not reconfigure the server under test.
unset ROSTER_CONFIG ROSTER_PUBLIC_URL ROSTER_TLS_CERT ROSTER_TLS_KEY ROSTER_LISTEN \
  ROSTER_DATABASE_URL ROSTER_LOG_FORMAT
# Roster logs as deployed (its default filter: one `info` line per request) unless told otherwise.
if [[ -n "${BENCH_RUST_LOG:-}" ]]; then export RUST_LOG="$BENCH_RUST_LOG"; else unset RUST_LOG; fi

step() { printf '\n==> %s\n' "$*"; }
die() {
  echo "bench: $*" >&2
  exit 1
}

[[ -f "$SHARED/wrk_filter.lua" && -f "$SHARED/limit-server/Cargo.toml" ]] ||
  die "no yardstick at $SHARED (set BENCH_SHARED to the shared/bench folder)"

step "wrk"
if ! command -v wrk > /dev/null; then
  [[ "$(id -u)" == 0 ]] || die "wrk is missing: apt-get install wrk (as root)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk > /dev/null
fi
command -v wrk > /dev/null || die "wrk is still missing"

step "release builds"
cargo build --release -p roster
cargo build --release --manifest-path "$SHARED/limit-server/Cargo.toml" \
  --target-dir "$ROOT/target/limit-server"

TMP="$(mktemp -d)"
LIMIT_PID=""
ROSTER_PID=""
stop() {
  local pid="$1"
  [[ -n "$pid" ]] && kill -0 "$pid" 2> /dev/null || return 0
  kill -TERM "$pid" 2> /dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2> /dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2> /dev/null || true
}
cleanup() {
  stop "$ROSTER_PID"
  stop "$LIMIT_PID"
  if [[ -f "$TMP/roster.log" ]]; then tail -n 50 "$TMP/roster.log" > "$OUT/roster.log.tail" || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$OUT"
mkdir -p "$OUT"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# `VmRSS` and `VmHWM` of a process, as JSON (kB, as /proc says).
memory() {
  awk '/^VmRSS:/ { rss = $2 } /^VmHWM:/ { hwm = $2 }
    END { printf "{\"VmRSS_kB\": %d, \"VmHWM_kB\": %d}", rss, hwm }' "/proc/$1/status"
}

# CPU time (user + system) a process has used so far, in clock ticks.
cpu_ticks() {
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# Runs one wrk script against the server with pid `pid`; keeps its output and the JSON of its
# last line, with the server's CPU time per request added (`cpu_us_per_request`): on a shared
# machine it varies far less than the rate does.
run_wrk() {
  local name="$1" script="$2" base="$3" token="$4" pid="$5"
  echo "-- $name: wrk -t2 -c16 -d$DURATION $(basename "$script")"
  local before after
  before="$(cpu_ticks "$pid")"
  SCIM_TOKEN="$token" USERNAMES="$OUT/usernames.txt" \
    wrk -t2 -c16 -d"$DURATION" --timeout 10s --latency -s "$script" "$base" > "$OUT/$name.txt" 2>&1 ||
    die "wrk failed: $(tail -n 5 "$OUT/$name.txt")"
  after="$(cpu_ticks "$pid")"
  grep '^JSON ' "$OUT/$name.txt" | tail -n 1 | cut -c6- |
    python3 -c 'import json, sys
r = json.load(sys.stdin)
ticks, hz = int(sys.argv[1]), int(sys.argv[2])
r["cpu_us_per_request"] = round(ticks * 1e6 / hz / r["requests"], 1) if r["requests"] else None
print(json.dumps(r))' "$((after - before))" "$(getconf CLK_TCK)" > "$OUT/$name.json"
  [[ -s "$OUT/$name.json" ]] || die "no JSON summary from wrk: $(tail -n 5 "$OUT/$name.txt")"
  cat "$OUT/$name.json"
}

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
# What was measured: the commit, and whether the work tree differed from it (the build is of
# the work tree). BENCH_COMMIT names it when there is no git checkout.
if COMMIT="$(git rev-parse --short HEAD 2> /dev/null)"; then
  git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2> /dev/null || COMMIT="$COMMIT+modified"
else
  COMMIT="${BENCH_COMMIT:-unknown}"
fi
WRK_VERSION="$( (wrk --version 2>&1 || true) | head -n 1 | cut -d' ' -f2)"

step "limit-server: seeding $USERS users (in-process, one transaction) and listening"
LIMIT_PORT="$(free_port)"
started=$(date +%s.%N)
"$LIMIT_BIN" --listen "127.0.0.1:$LIMIT_PORT" --db "$TMP/limit.db" --token "$TOKEN_LIMIT" \
  --seed "$USERS" > "$TMP/limit.log" 2>&1 &
LIMIT_PID=$!
up=""
for _ in $(seq 1 1200); do # at most 120 s
  kill -0 "$LIMIT_PID" 2> /dev/null || die "limit-server exited: $(tail -n 5 "$TMP/limit.log")"
  if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$LIMIT_PORT/"; then
    up=1
    break
  fi
  sleep 0.1
done
[[ -n "$up" ]] || die "limit-server did not start listening"
LIMIT_SEED_S="$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')"
LIMIT_BASE="http://127.0.0.1:$LIMIT_PORT/scim/v2/bench"
echo "limit-server at $LIMIT_BASE (pid $LIMIT_PID), seeded in ${LIMIT_SEED_S}s"

step "roster: connector, serve, seed $USERS users over SCIM (POST /Users, 16 clients)"
DB="sqlite://$TMP/roster.db"
"$ROSTER_BIN" --database "$DB" connector create bench --json > "$TMP/connector.json"
read -r CONNECTOR TOKEN < <(python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); print(c["id"], c["token"])' "$TMP/connector.json")
"$ROSTER_BIN" --database "$DB" serve --listen 127.0.0.1:0 > "$TMP/roster.out" 2> "$TMP/roster.log" &
ROSTER_PID=$!
ADDR=""
for _ in $(seq 1 300); do # at most 30 s
  kill -0 "$ROSTER_PID" 2> /dev/null || die "roster exited: $(tail -n 5 "$TMP/roster.log")"
  ADDR="$(sed -n 's|^roster listening on http://||p' "$TMP/roster.out" | head -n 1)"
  [[ -n "$ADDR" ]] && break
  sleep 0.1
done
[[ -n "$ADDR" ]] || die "roster did not say where it listens"
ROSTER_BASE="http://$ADDR/scim/v2/$CONNECTOR"
echo "roster at $ROSTER_BASE (pid $ROSTER_PID)"
"${CLIENT[@]}" seed --base "$ROSTER_BASE" --token "$TOKEN" --count "$USERS" --prefix seed \
  --concurrency 16 --out "$TMP/ids.txt" | tee "$TMP/seed.out"
ROSTER_SEED="$(sed -n 's/^JSON //p' "$TMP/seed.out")"
MEM_SEEDED="$(memory "$ROSTER_PID")"
LIMIT_MEM_SEEDED="$(memory "$LIMIT_PID")"
echo "roster memory after seeding: $MEM_SEEDED"

# Both servers hold the same userNames: seed0@example.com … seed{USERS-1}@example.com.
seq 0 $((USERS - 1)) | sed 's/^/seed/; s/$/@example.com/' > "$OUT/usernames.txt"

step "lookups and creates, alternating servers, $DURATION each"
for round in $(seq 1 "$ROUNDS"); do
  run_wrk "wrk_lookup_limit_$round" "$SHARED/wrk_filter.lua" "$LIMIT_BASE" "$TOKEN_LIMIT" "$LIMIT_PID"
  run_wrk "wrk_lookup_roster_$round" "$SHARED/wrk_filter.lua" "$ROSTER_BASE" "$TOKEN" "$ROSTER_PID"
done
MEM_LOOKUPS="$(memory "$ROSTER_PID")"
for round in $(seq 1 "$ROUNDS"); do
  run_wrk "wrk_create_limit_$round" "$SHARED/wrk_create.lua" "$LIMIT_BASE" "$TOKEN_LIMIT" "$LIMIT_PID"
  run_wrk "wrk_create_roster_$round" "$SHARED/wrk_create.lua" "$ROSTER_BASE" "$TOKEN" "$ROSTER_PID"
done
MEM_CREATES="$(memory "$ROSTER_PID")"

step "member PATCH cost: +/-100 members of a 1,000- and a $USERS-member group"
"${CLIENT[@]}" members --base "$ROSTER_BASE" --token "$TOKEN" --ids "$TMP/ids.txt" \
  --small 1000 --large "$USERS" --delta 100 --batch 1000 --reps 200 --warmup 10 \
  --out "$OUT/members.json" > /dev/null
python3 -m json.tool "$OUT/members.json"
MEM_END="$(memory "$ROSTER_PID")"
LIMIT_MEM_END="$(memory "$LIMIT_PID")"

cat > "$OUT/memory.json" << EOF
{
  "roster": {"after_seeding": $MEM_SEEDED, "after_lookups": $MEM_LOOKUPS,
             "after_creates": $MEM_CREATES, "at_end": $MEM_END},
  "limit": {"after_seeding": $LIMIT_MEM_SEEDED, "at_end": $LIMIT_MEM_END}
}
EOF
cat > "$OUT/seeding.json" << EOF
{"roster": $ROSTER_SEED, "limit": {"users": $USERS, "seconds": $LIMIT_SEED_S}}
EOF
cat > "$OUT/meta.json" << EOF
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$COMMIT",
  "cores": $(nproc),
  "cpu": "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)",
  "loadavg_start": "$LOAD_START",
  "loadavg_end": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "wrk": "$WRK_VERSION",
  "duration": "$DURATION",
  "rounds": $ROUNDS,
  "users": $USERS
}
EOF

step "summary"
"${CLIENT[@]}" report --dir "$OUT" --out "$OUT/summary.json"
