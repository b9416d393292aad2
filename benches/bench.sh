#!/usr/bin/env bash
# Issues #10 and #26's benchmark: a release binary against its own simulator (100,000
# connections by default), interleaved repetitions of
#   download   every page `sync` fetches, over the tool's client, each next marker found by a
#              byte search, nothing parsed (examples/download.rs): the floor
#   SDK script what a user would write instead: the official Python SDK lists every connection
#              into one SQLite table (benches/sdk_script.py, in a venv this script makes)
#   dry run    `sync --dry-run`: every page fetched and parsed by the same client, nothing written
#   first      a sync into an empty database (SQLite, PostgreSQL)
#   unchanged  a re-sync with nothing changed
#   1% changed a re-sync after about 1% of the connections changed (the simulator's mutate control)
# with each run's wall time, peak RSS (GNU time) and the sweep and apply times it reports, the
# database size after the first sync and after RESYNCS unchanged re-syncs, and the download,
# dry run, a first sync and an unchanged re-sync against a second simulator that waits
# LATENCY_MS per page. Every row is a ratio to the download and to the SDK script, and issue
# #26's targets are checked. Writes a Markdown report to benches/results/<date>.md (OUT) and
# prints it.
#
# Usage: benches/bench.sh           (the full run: 26 minutes on the 2-core development machine
#                                    with other builds running, half of it PostgreSQL re-syncs)
#        CONNECTIONS=20000 REPS=1 RESYNCS=2 benches/bench.sh   (a quick look, under a minute)
# Parameters (environment): BIN (target/release/vpn-inventory), DOWNLOAD (target/release/examples/
# download, built when missing), SDK_VERSION (3.1.219: huaweicloudsdkvpn and huaweicloudsdkcore),
# VENV (~/.cache/vpn-inventory-bench/venv-SDK_VERSION, made when missing; the SDK column is
# skipped with a note when PyPI cannot be reached), CONNECTIONS (100000), REPS (3),
# RESYNCS (10), PAGE_SIZE (200), SEED (7), CHANGE_PERCENT (1), LATENCY_MS (50),
# LATENCY_CONNECTIONS (CONNECTIONS; 0 skips the sweep), PG (postgres://postgres@127.0.0.1:5432),
# PORT (38600, and the next one), WORK (/tmp/vpn-bench), PGDB (bench_issue10), OUT (a new file
# under benches/results; KEEP_OUT=1 lets an existing OUT be replaced): give two runs at once
# their own PORT, WORK and PGDB.
# Needs GNU time (/usr/bin/time; Debian: apt-get install -y time), curl, psql and python3 (with
# venv; Debian: python3-venv).
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${BIN:-$ROOT/target/release/vpn-inventory}")
CONNECTIONS=${CONNECTIONS:-100000}
REPS=${REPS:-3}
RESYNCS=${RESYNCS:-10}
PAGE_SIZE=${PAGE_SIZE:-200}
SEED=${SEED:-7}
CHANGE_PERCENT=${CHANGE_PERCENT:-1}
LATENCY_MS=${LATENCY_MS:-50}
LATENCY_CONNECTIONS=${LATENCY_CONNECTIONS:-$CONNECTIONS}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-38600}
WORK=${WORK:-/tmp/vpn-bench}
PGDB=${PGDB:-bench_issue10}
DOWNLOAD=${DOWNLOAD:-$ROOT/target/release/examples/download}
SDK_VERSION=${SDK_VERSION:-3.1.219}
VENV=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/vpn-inventory-bench/venv-$SDK_VERSION}
# A second run on the same day gets its own report instead of replacing the first.
OUT=${OUT:-$ROOT/benches/results/$(date -u +%F).md}
[ -e "$OUT" ] && [ -z "${KEEP_OUT:-}" ] && OUT=${OUT%.md}-$(date -u +%H%M).md
COMMAND="CONNECTIONS=$CONNECTIONS REPS=$REPS RESYNCS=$RESYNCS PAGE_SIZE=$PAGE_SIZE SEED=$SEED \
CHANGE_PERCENT=$CHANGE_PERCENT LATENCY_MS=$LATENCY_MS LATENCY_CONNECTIONS=$LATENCY_CONNECTIONS \
benches/bench.sh"

die() { echo "bench.sh: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no binary at $BIN: cargo build --release (or set BIN)"
if ! /usr/bin/time -v true >/dev/null 2>&1; then
  die "GNU time is missing (/usr/bin/time -v): install it with apt-get install -y time"
fi
command -v curl >/dev/null || die "curl is missing"
command -v psql >/dev/null || die "psql is missing"
PG_ADMIN="$PG/postgres"
psql -q "$PG_ADMIN" -c 'select 1' >/dev/null || die "PostgreSQL at $PG does not answer"

rm -rf "$WORK"; mkdir -p "$WORK" "$(dirname "$OUT")"
SAMPLES=$WORK/samples.tsv   # name, seconds, peak RSS (KiB), exit code, pages, sweep ms, apply ms
NOTES=$WORK/notes.md
: > "$SAMPLES"; : > "$NOTES"
note() { echo "- $*" >> "$NOTES"; echo "note: $*" >&2; }

export HUAWEICLOUD_SDK_AK=DEMOACCESSKEY0000001
export HUAWEICLOUD_SDK_SK=DemoSecretKeyForTheSimulatorOnly000001
export HUAWEICLOUD_SDK_PROJECT_ID=0123456789abcdef0123456789abcdef
unset VPN_INVENTORY_DATABASE HUAWEICLOUD_SDK_REGION

SIMS=()
# The simulators stop, the databases go (samples and notes stay in WORK).
cleanup() {
  for pid in "${SIMS[@]}"; do kill "$pid" 2>/dev/null; done
  rm -f "$WORK"/*.db "$WORK"/*.db[-.]*
  [ -z "${PGDB:-}" ] || PGOPTIONS='-c client_min_messages=warning' psql -q "$PG_ADMIN" \
    -c "DROP DATABASE IF EXISTS $PGDB" >/dev/null
}
trap cleanup EXIT

# start_sim NAME PORT CONNECTIONS [simulate flags...]: starts a simulator, waits for its banner,
# and notes how long it took and its resident memory then.
start_sim() {
  local name=$1 port=$2 count=$3; shift 3
  local start; start=$(date +%s.%N)
  "$BIN" simulate --listen "127.0.0.1:$port" --connections "$count" --seed "$SEED" "$@" \
    > "$WORK/$name.out" 2>&1 &
  local pid=$!
  SIMS+=("$pid")
  SIM_PID=$pid
  until grep -q '^simulating' "$WORK/$name.out" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || die "simulator $name did not start: $(cat "$WORK/$name.out")"
    sleep 0.05
  done
  local took; took=$(echo "$(date +%s.%N) - $start" | bc)
  local rss; rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  note "simulator $name ($count connections$( [ $# -gt 0 ] && echo ", $*")): ready in \
$(printf %.1f "$took") s, peak RSS $((rss / 1024)) MiB at start"
}

# measure NAME ENDPOINT DATABASE [sync flags...]: one sync under GNU time; appends a sample.
measure() {
  local name=$1 endpoint=$2 database=$3; shift 3
  timed "$name" "$BIN" --database "$database" sync --endpoint "$endpoint" \
    --page-size "$PAGE_SIZE" --format json "$@"
}

# timed NAME COMMAND...: one run of a command that prints JSON (with "pages", and "sweep_ms"
# and "apply_ms" if it has them) under GNU time; appends a sample.
timed() {
  local name=$1; shift
  local start; start=$(date +%s.%N)
  /usr/bin/time -v -o "$WORK/time.txt" "$@" > "$WORK/last.json" 2> "$WORK/last.err"
  local rc=$?
  local secs; secs=$(echo "$(date +%s.%N) - $start" | bc)
  local rss; rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
  local pages; pages=$(grep -o '"pages":[0-9]*' "$WORK/last.json" | head -1 | cut -d: -f2)
  # A sync reports how long its sweep and its apply took (a dry run has no apply).
  local sweep apply
  sweep=$(grep -o '"sweep_ms":[0-9]*' "$WORK/last.json" | head -1 | cut -d: -f2)
  apply=$(grep -o '"apply_ms":[0-9]*' "$WORK/last.json" | head -1 | cut -d: -f2)
  printf '%s\t%.2f\t%s\t%s\t%s\t%s\t%s\n' "$name" "$secs" "${rss:-0}" "$rc" "${pages:--}" \
    "${sweep:--}" "${apply:--}" >> "$SAMPLES"
  printf '  %-28s %7.2f s  %6d MiB  rc=%s  %s\n' "$name" "$secs" "$(( ${rss:-0} / 1024 ))" \
    "$rc" "$(head -c 200 "$WORK/last.json")" >&2
  if [ "$rc" != 0 ]; then
    note "$name exited $rc: $(tail -3 "$WORK/last.err" | tr '\n' ' ')"
  fi
  return "$rc"
}

sqlite_size() { stat -c %s "$1" "$1-wal" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
pg_size() { psql -tA "$PG_ADMIN" -c "select pg_database_size('$1')"; }
mib() { printf %.1f "$(echo "scale=3; ${1:-0} / 1048576" | bc)"; }
# ratio A B: A / B to two places; - when B is unknown or 0.
ratio() {
  if [ -n "${2:-}" ] && [ "$2" != 0 ]; then printf %.2f "$(echo "scale=4; ${1:-0} / $2" | bc)"
  else echo -; fi
}
median() { sort -n | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) \
  print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
col() { awk -F'\t' -v n="$1" -v c="$2" '$1 == n {print $c}' "$SAMPLES"; }
# same_pages PAGES BYTES REP: notes whether the dry run just measured fetched what the download
# of the same repetition did (PAGES pages, BYTES bytes): the floor must fetch the same pages.
same_pages() {
  local pages bytes
  pages=$(grep -o '"pages":[0-9]*' "$WORK/last.json" | head -1 | cut -d: -f2)
  bytes=$(grep -o '"bytes":[0-9]*' "$WORK/last.json" | head -1 | cut -d: -f2)
  if [ "$pages/$bytes" != "$1/$2" ]; then
    note "repetition $3: **the download fetched $1 pages ($2 bytes), \`sync --dry-run\` $pages \
pages ($bytes bytes)**: not the same pages, so the download is no floor"
  elif [ "$3" = 1 ]; then
    note "the download fetched the pages \`sync --dry-run\` fetched: $pages pages, $bytes bytes"
  fi
}
fresh_pg() {
  PGOPTIONS='-c client_min_messages=warning' psql -q "$PG_ADMIN" \
    -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
}

# Whether this binary has `sync --dry-run` (another change adds it): without it, no dry runs.
DRY_RUN=yes
if ! "$BIN" sync --help 2>/dev/null | grep -q -- '--dry-run'; then
  DRY_RUN=
  note "this binary has no \`sync --dry-run\` (a usage error): the dry-run rows are skipped"
fi

# The download floor, built from this checkout when missing (the library is built already).
if [ ! -x "$DOWNLOAD" ]; then
  echo "building $DOWNLOAD" >&2
  (cd "$ROOT" && cargo build --release --quiet --example download) \
    || die "cannot build the download floor: cargo build --release --example download"
fi
DOWNLOAD=$(realpath "$DOWNLOAD")

# The SDK script's venv: the official SDK, pinned, installed once (kept under VENV).
sdk_ready() {
  "$VENV/bin/python" -c "import sys; from importlib.metadata import version as v; \
sys.exit(not (v('huaweicloudsdkvpn') == v('huaweicloudsdkcore') == '$SDK_VERSION'))" 2>/dev/null
}
SDK=yes
if ! sdk_ready; then
  echo "making $VENV (huaweicloudsdkvpn $SDK_VERSION)" >&2
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" > "$WORK/venv.log" 2>&1; then
    SDK=
    note "SDK script skipped: python3 -m venv failed (Debian: apt-get install -y python3-venv): \
$(tail -1 "$WORK/venv.log")"
  elif ! "$VENV/bin/pip" install --disable-pip-version-check --quiet --timeout 30 \
      "huaweicloudsdkvpn==$SDK_VERSION" "huaweicloudsdkcore==$SDK_VERSION" \
      >> "$WORK/venv.log" 2>&1 || ! sdk_ready; then
    SDK=
    rm -rf "$VENV"
    note "SDK script skipped: pip could not install huaweicloudsdkvpn==$SDK_VERSION (PyPI \
unreachable?): $(tail -1 "$WORK/venv.log")"
  fi
fi
if [ -n "$SDK" ]; then
  note "SDK script: benches/sdk_script.py, Python $("$VENV/bin/python" -c \
'import platform; print(platform.python_version())'), $("$VENV/bin/pip" freeze \
--disable-pip-version-check | grep -iE '^(huaweicloudsdk|requests|urllib3|simplejson)' \
| paste -sd' ' | sed 's/ /, /g')"
fi

# The mutator changes about 4 connections a round (0 to 8 edits, each on another connection).
ROUNDS=$(( CONNECTIONS * CHANGE_PERCENT / 100 / 4 ))
[ "$ROUNDS" -ge 1 ] || ROUNDS=1

echo "benchmark: $COMMAND" >&2
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
EP=http://127.0.0.1:$PORT
start_sim main "$PORT" "$CONNECTIONS"
MAIN_SIM=$SIM_PID
LITE=$WORK/bench.db
for rep in $(seq 1 "$REPS"); do
  echo "repetition $rep of $REPS" >&2
  timed download "$DOWNLOAD" "$EP" "$PAGE_SIZE"
  DOWNLOADED=$(grep -o '"bytes":[0-9]*' "$WORK/last.json" | cut -d: -f2)
  if [ -n "$SDK" ]; then
    rm -f "$WORK/sdk.db"
    timed "SDK script" "$VENV/bin/python" "$ROOT/benches/sdk_script.py" "$EP" "$WORK/sdk.db"
    if [ "$rep" = 1 ]; then
      note "the SDK script fetched $(grep -o '"pages":[0-9]*' "$WORK/last.json" | cut -d: -f2) \
pages (each next marker as served: no second look at a boundary's instant) and wrote \
$(grep -o '"connections":[0-9]*' "$WORK/last.json" | cut -d: -f2) rows"
    fi
  fi
  if [ -n "$DRY_RUN" ]; then
    measure "dry run" "$EP" "sqlite://$WORK/dry-run.db" --dry-run
    same_pages "$(col download 5 | tail -1)" "$DOWNLOADED" "$rep"
  fi
  rm -f "$LITE" "$LITE-wal" "$LITE-shm"
  measure "SQLite first" "$EP" "sqlite://$LITE"
  if [ "$rep" = 1 ]; then
    SIZE_LITE_FIRST=$(sqlite_size "$LITE")
    # The JSON the first sync downloaded, which the sizes are measured against.
    SERVED=$(grep -o '"bytes":[0-9]*' "$WORK/last.json" | head -1 | cut -d: -f2)
  fi
  measure "SQLite unchanged" "$EP" "sqlite://$LITE"
  fresh_pg "$PGDB"
  measure "PostgreSQL first" "$EP" "$PG/$PGDB"
  [ "$rep" = 1 ] && SIZE_PG_FIRST=$(pg_size "$PGDB")
  measure "PostgreSQL unchanged" "$EP" "$PG/$PGDB"
  if [ "$rep" = 1 ]; then
    # Database growth: RESYNCS unchanged re-syncs in all (one was measured above).
    for i in $(seq 2 "$RESYNCS"); do
      measure "SQLite unchanged #$i" "$EP" "sqlite://$LITE"
      measure "PostgreSQL unchanged #$i" "$EP" "$PG/$PGDB"
    done
    SIZE_LITE_RESYNCS=$(sqlite_size "$LITE")
    SIZE_PG_RESYNCS=$(pg_size "$PGDB")
  fi
  # The control takes at most 1000 rounds a request.
  changed=$(for ((left = ROUNDS; left > 0; left -= 1000)); do
      curl -sf -X POST "$EP/_simulator/mutate?rounds=$((left < 1000 ? left : 1000))&seed=$SEED" \
        || echo "mutate failed" >&2
    done | grep -o '"connection_id":"[^"]*"' | sort -u | wc -l)
  note "repetition $rep: $ROUNDS mutation rounds changed $changed connections with recorded \
changes (and some only in ways a sync must not report)"
  measure "SQLite ${CHANGE_PERCENT}% changed" "$EP" "sqlite://$LITE"
  measure "PostgreSQL ${CHANGE_PERCENT}% changed" "$EP" "$PG/$PGDB"
done

note "simulator main: peak RSS $(( $(awk '/VmHWM/ {print $2}' "/proc/$MAIN_SIM/status") / 1024 )) \
MiB after serving every run and the mutations"

if [ "$LATENCY_CONNECTIONS" -gt 0 ]; then
  LEP=http://127.0.0.1:$((PORT + 1))
  LATENCY_ROUNDS=$(( LATENCY_CONNECTIONS * CHANGE_PERCENT / 100 / 4 ))
  [ "$LATENCY_ROUNDS" -ge 1 ] || LATENCY_ROUNDS=1
  start_sim latency $((PORT + 1)) "$LATENCY_CONNECTIONS" --latency-ms "$LATENCY_MS"
  for rep in $(seq 1 "$REPS"); do
    echo "latency sweep, repetition $rep of $REPS" >&2
    timed "download, ${LATENCY_MS} ms/page" "$DOWNLOAD" "$LEP" "$PAGE_SIZE"
    if [ -n "$DRY_RUN" ]; then
      measure "dry run, ${LATENCY_MS} ms/page" "$LEP" "sqlite://$WORK/dry-run.db" --dry-run
    fi
    rm -f "$LITE" "$LITE-wal" "$LITE-shm"
    measure "SQLite first, ${LATENCY_MS} ms/page" "$LEP" "sqlite://$LITE"
    measure "SQLite unchanged, ${LATENCY_MS} ms/page" "$LEP" "sqlite://$LITE"
    measure "SQLite unchanged, ${LATENCY_MS} ms/page, 1 at a time" "$LEP" "sqlite://$LITE" \
      --fetch-concurrency 1
    measure "SQLite unchanged, ${LATENCY_MS} ms/page, 8 at once" "$LEP" "sqlite://$LITE" \
      --fetch-concurrency 8
    # After changes, each connection added or removed makes one foreseen page wrong (the
    # pages after it are foreseen again from the page's own marker): CHANGE_PERCENT changed
    # before each of the two.
    for at_once in 8 1; do
      for ((left = LATENCY_ROUNDS; left > 0; left -= 1000)); do
        curl -sf -X POST \
          "$LEP/_simulator/mutate?rounds=$((left < 1000 ? left : 1000))&seed=$((SEED + rep * 10 \
          + at_once))" > /dev/null || echo "mutate failed" >&2
      done
      label="$at_once at once"; [ "$at_once" = 1 ] && label="1 at a time"
      measure "SQLite ${CHANGE_PERCENT}% changed, ${LATENCY_MS} ms/page, $label" "$LEP" \
        "sqlite://$LITE" --fetch-concurrency "$at_once"
    done
  done
fi
ELAPSED=$(( $(date +%s) - START ))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# The report. Medians over the repetitions; ratios are between medians of the same run.
# times NAME BASE: NAME's median wall time as a multiple of BASE's ("-" when either is missing).
times() {
  [ -n "$(col "$1" 2)" ] && [ -n "$(col "$2" 2)" ] || { echo -; return; }
  ratio "$(col "$1" 2 | median)" "$(col "$2" 2 | median)"
}
row() {
  local name=$1
  [ -n "$(col "$name" 2)" ] || return 0
  local med runs rss pages
  med=$(col "$name" 2 | median)
  runs=$(col "$name" 2 | paste -sd' ' | sed 's/ /, /g')
  rss=$(( $(col "$name" 3 | median | cut -d. -f1) / 1024 ))
  pages=$(col "$name" 5 | sort -u | paste -sd/)
  echo "| $name | $med | $runs | $(times "$name" download) | $(times "$name" "SDK script") \
| $(seconds "$name" 6) | $(seconds "$name" 7) | $rss | $pages |"
}
# target WHAT MEASURED OP LIMIT: a row of the targets table (MEASURED - when not measured).
target() {
  local verdict=-
  if [ "$2" != - ]; then
    verdict="**missed**"; [ "$(echo "$2 $3 $4" | bc)" = 1 ] && verdict=met
  fi
  echo "| $1 | $2 | $3 $4 | $verdict |"
}
# seconds NAME COLUMN: the median of a column of milliseconds, in seconds ("-" when none).
seconds() {
  local ms; ms=$(col "$1" "$2" | grep -v -- - | median)
  [ "$ms" = - ] && { echo -; return; }
  printf %.2f "$(echo "scale=3; $ms / 1000" | bc)"
}
failed=$(awk -F'\t' '$4 != 0' "$SAMPLES" | wc -l)
# Text lines wrapped at 100 columns (list items indented), table rows as they are.
wrap() {
  awk '/^\|/ || length <= 100 {print; next}
    { indent = /^- / ? "  " : ""; line = ""; n = split($0, words, " ")
      for (i = 1; i <= n; i++) {
        if (line != "" && length(line) + 1 + length(words[i]) > 100) { print line; line = indent }
        line = (line == "" || line == indent) ? line words[i] : line " " words[i]
      }
      print line }'
}
{
  echo "# Benchmark $(date -u +'%Y-%m-%d %H:%M UTC')"
  echo
  echo "- command: \`$COMMAND\`"
  echo "- binary: \`$("$BIN" --version)\` at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)\
$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)')"
  echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' \
/proc/meminfo), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); $(uname -sr)"
  echo "- load average before/after: $LOAD_START / $LOAD_END (the simulator, PostgreSQL and \
anything else running share the cores); total $((ELAPSED / 60)) min $((ELAPSED % 60)) s"
  echo "- $CONNECTIONS connections, page size $PAGE_SIZE, $REPS repetitions, interleaved; \
seconds are wall time, RSS the client's peak (GNU time), both medians"
  [ "$failed" -gt 0 ] && echo "- **$failed runs failed** (exit code not 0): see the notes"
  cat "$NOTES"
  echo
  echo "| run | median s | runs s | x download | x SDK script | sweep s | apply s \
| peak RSS MiB | pages |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  row download
  row "SDK script"
  row "dry run"
  for kind in first unchanged "${CHANGE_PERCENT}% changed"; do
    for db in SQLite PostgreSQL; do row "$db $kind"; done
  done
  # The largest peak RSS of any vpn-inventory run (not the download's or the script's).
  max_rss=$(awk -F'\t' '$1 != "download" && $1 != "SDK script" && $1 !~ /^download,/ \
    {if ($3 > m) m = $3} END {printf "%d", m / 1024}' "$SAMPLES")
  echo
  echo "Issue #26's targets, medians of this run:"
  echo
  echo "| what | measured | target | |"
  echo "| --- | --- | --- | --- |"
  target "SQLite first sync, x SDK script" "$(times "SQLite first" "SDK script")" "<=" 0.3
  target "SQLite first sync, x download" "$(times "SQLite first" download)" "<=" 6
  target "PostgreSQL first sync, x SQLite first sync" \
    "$(times "PostgreSQL first" "SQLite first")" "<=" 1.5
  target "SQLite unchanged re-sync, x download" "$(times "SQLite unchanged" download)" "<=" 2
  target "PostgreSQL unchanged re-sync, x download" \
    "$(times "PostgreSQL unchanged" download)" "<=" 2.5
  for db in SQLite PostgreSQL; do
    target "$db ${CHANGE_PERCENT}% changed re-sync, x download" \
      "$(times "$db ${CHANGE_PERCENT}% changed" download)" "<=" 2.5
  done
  target "\`sync --dry-run\`, x download" "$(times "dry run" download)" "<=" 1.5
  target "largest peak RSS of a vpn-inventory run, MiB" "$max_rss" "<" 64
  target "SQLite size after the first sync, x JSON" "$(ratio "$SIZE_LITE_FIRST" "${SERVED:-}")" \
    "<=" 1.37
  target "PostgreSQL size after the first sync, x JSON" \
    "$(ratio "$SIZE_PG_FIRST" "${SERVED:-}")" "<=" 2
  echo
  echo "Not checked by one run: RSS flat from 10,000 to 1,000,000 connections, and 1,000,000 \
connections at most 12x the 100,000 times (run with CONNECTIONS=10000 and 1000000 to compare)."
  echo
  echo "Database size, MiB (SQLite: the file and its -wal; PostgreSQL: pg_database_size), and as a \
multiple of the JSON the first sync downloaded ($(mib "${SERVED:-0}") MiB, \"bytes\" in its report):"
  echo
  echo "| backend | after the first sync | x JSON | after $RESYNCS unchanged re-syncs | x first |"
  echo "| --- | --- | --- | --- | --- |"
  echo "| SQLite | $(mib "$SIZE_LITE_FIRST") | $(ratio "$SIZE_LITE_FIRST" "${SERVED:-}") \
| $(mib "$SIZE_LITE_RESYNCS") | $(ratio "$SIZE_LITE_RESYNCS" "$SIZE_LITE_FIRST") |"
  echo "| PostgreSQL | $(mib "$SIZE_PG_FIRST") | $(ratio "$SIZE_PG_FIRST" "${SERVED:-}") \
| $(mib "$SIZE_PG_RESYNCS") | $(ratio "$SIZE_PG_RESYNCS" "$SIZE_PG_FIRST") |"
  if [ "$RESYNCS" -gt 1 ]; then
    echo
    echo "Unchanged re-syncs 2 to $RESYNCS (s): SQLite $(for i in $(seq 2 "$RESYNCS"); do \
col "SQLite unchanged #$i" 2; done | paste -sd' ' | sed 's/ /, /g'); PostgreSQL \
$(for i in $(seq 2 "$RESYNCS"); do col "PostgreSQL unchanged #$i" 2; done | paste -sd' ' \
| sed 's/ /, /g')."
  fi
  if [ "$LATENCY_CONNECTIONS" -gt 0 ]; then
    pages=$(col "SQLite first, ${LATENCY_MS} ms/page" 5 | sort -n | tail -1)
    wait_s=$(printf %.2f "$(echo "scale=3; ${pages:-0} * $LATENCY_MS / 1000" | bc)")
    echo
    echo "Against a simulator of $LATENCY_CONNECTIONS connections that waits $LATENCY_MS ms \
before each page: $pages pages x $LATENCY_MS ms = $wait_s s of waiting. \"added\" is the \
median here less the median of the same run without latency (the first table, when it had \
as many connections): near $wait_s s when nothing overlaps the waits, near 0 when all does."
    echo
    echo "| run | median s | runs s | without latency s | added s | sweep s | sweep / waiting \
| peak RSS MiB | pages |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for name in download "dry run" "SQLite first" "SQLite unchanged" \
        "SQLite unchanged, 1 at a time" "SQLite unchanged, 8 at once" \
        "SQLite ${CHANGE_PERCENT}% changed, 1 at a time" \
        "SQLite ${CHANGE_PERCENT}% changed, 8 at once"; do
      run=${name%%,*}
      name="$run, ${LATENCY_MS} ms/page${name#"$run"}"
      [ -n "$(col "$name" 2)" ] || continue
      med=$(col "$name" 2 | median)
      without=- added=-
      if [ "$LATENCY_CONNECTIONS" = "$CONNECTIONS" ] && [ -n "$(col "$run" 2)" ]; then
        without=$(col "$run" 2 | median)
        added=$(printf %.2f "$(echo "$med - $without" | bc)")
      fi
      # A dry run (or the download) is all sweep: its wall time stands for it.
      sweep=$(seconds "$name" 6); [ "$sweep" = - ] && sweep=$med
      echo "| $name | $med | $(col "$name" 2 | paste -sd' ' | sed 's/ /, /g') | $without \
| $added | $sweep | $(printf %.2f "$(echo "scale=3; $sweep / $wait_s" | bc)") \
| $(( $(col "$name" 3 | median | cut -d. -f1) / 1024 )) | $(col "$name" 5 | sort -u \
| paste -sd/) |"
    done
    echo
    echo "An unchanged re-sync at the default \`--fetch-concurrency\` (1) and with 1 and 8 requests \
on the way at once; issue #26's target:"
    echo
    echo "| what | measured | target | |"
    echo "| --- | --- | --- | --- |"
    target "unchanged re-sync, 8 at once, x (pages x ${LATENCY_MS} ms)" \
      "$(ratio "$(col "SQLite unchanged, ${LATENCY_MS} ms/page, 8 at once" 2 | median)" \
        "$wait_s")" "<=" 0.2
  fi
} | wrap > "$OUT"
cat "$OUT"
echo "written to $OUT" >&2
