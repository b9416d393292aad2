#!/usr/bin/env bash
# Issue 27's review benchmark: `review --format html` and `--format markdown` over a period
# in which about 2,000 connections were modified (and more added and removed), on SQLite and
# PostgreSQL.
#   A simulator serves 2,000 connections (seed 1); both databases sync it (each scope's
#   baseline), the simulator mutates (ROUNDS rounds of its operator-like changes: mostly
#   modifications, some adds and removals), both sync again. The period starts before the
#   first sync, so it holds every change (the baseline adds are left out, as always).
# REPS repetitions of each (wall time, CPU time and peak RSS by GNU time, medians), with the
# document's size and the connections it shows changed, added and removed.
# Writes a Markdown report to benches/results/<date>-review.md (OUT) and prints it.
#
# Usage: cargo build --release && benches/review.sh      (about 2 minutes on 2 idle cores)
# Parameters (environment): BIN (target/release/vpn-inventory), REPS (3), CONNECTIONS (2000),
# ROUNDS (4000: the simulator takes at most 1000 a request), PG
# (postgres://postgres@127.0.0.1:5432), PORT (38720), WORK (/tmp/vpn-review), PGDB
# (bench_review), OUT.
# Needs GNU time (/usr/bin/time), curl and psql.
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${BIN:-$ROOT/target/release/vpn-inventory}")
REPS=${REPS:-3}
CONNECTIONS=${CONNECTIONS:-2000}
ROUNDS=${ROUNDS:-4000}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-38720}
WORK=${WORK:-/tmp/vpn-review}
PGDB=${PGDB:-bench_review}
OUT=${OUT:-$ROOT/benches/results/$(date -u +%F)-review.md}
COMMAND="REPS=$REPS CONNECTIONS=$CONNECTIONS ROUNDS=$ROUNDS benches/review.sh"

SCRIPT=review.sh
. "$ROOT/benches/common.sh"
PROJECT=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa

rm -rf "$WORK"; mkdir -p "$WORK" "$(dirname "$OUT")"
SIMS=()
cleanup() {
  for pid in "${SIMS[@]}"; do kill "$pid" 2>/dev/null; done
  rm -f "$WORK"/*.db "$WORK"/*.db[-.]* "$WORK"/review.*
  pg_reset "$PGDB"
}
trap cleanup EXIT

echo "setting up $CONNECTIONS connections on SQLite and PostgreSQL..." >&2
start_sim sim "$PORT" "$CONNECTIONS" 1 "$PROJECT"
pg_reset "$PGDB" create
declare -A DB=([sqlite]="sqlite://$WORK/inventory.db" [postgres]="$PG/$PGDB")
SINCE=$(date -u +%FT%TZ)
sync_all() {
  for backend in sqlite postgres; do
    "$BIN" -q --database "${DB[$backend]}" sync --endpoint "http://127.0.0.1:$PORT" \
      --project-id "$PROJECT" --format json > /dev/null || die "a sync on $backend failed"
  done
}
sync_all
left=$ROUNDS
while [ "$left" -gt 0 ]; do
  n=$(( left > 1000 ? 1000 : left ))
  curl -sf -X POST "http://127.0.0.1:$PORT/_simulator/mutate?rounds=$n" > /dev/null \
    || die "the simulator did not mutate"
  left=$(( left - n ))
done
sync_all

# measure BACKEND FORMAT: REPS runs; prints a table row.
measure() {
  local walls=() cpus=() rss=() file="$WORK/review.$2"
  for _ in $(seq "$REPS"); do
    /usr/bin/time -v -o "$WORK/time.txt" "$BIN" -q --database "${DB[$1]}" review \
      --since "$SINCE" --format "$2" --output "$file" 2> "$WORK/review.err" \
      || die "review $2 on $1 failed: $(cat "$WORK/review.err")"
    local wall user sys
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt" \
      | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    user=$(awk -F': ' '/User time/ {print $2}' "$WORK/time.txt")
    sys=$(awk -F': ' '/System time/ {print $2}' "$WORK/time.txt")
    walls+=("$wall"); cpus+=("$(echo "$user + $sys" | bc)")
    rss+=("$(awk -F': ' '/Maximum resident/ {print $2}' "$WORK/time.txt")")
  done
  local changed
  changed=$(grep -o 'Changes: [0-9]* ([0-9]* connections modified, [0-9]* added, [0-9]* removed)' \
    "$file" | head -1)
  local wall cpu mib
  wall=$(printf '%s\n' "${walls[@]}" | median)
  cpu=$(printf '%s\n' "${cpus[@]}" | median)
  mib=$(( $(printf '%s\n' "${rss[@]}" | median) / 1024 ))
  printf '| %s | %s | %.2f | %.2f | %d | %d | %s |\n' "$1" "$2" "$wall" "$cpu" "$mib" \
    "$(( $(stat -c %s "$file") / 1024 ))" "$changed"
}

echo "measuring ($REPS runs each)..." >&2
{
  echo "# review benchmark, $(date -u +%F)"
  echo
  echo "\`$COMMAND\` on $(nproc) cores, $("$BIN" --version | head -1)."
  echo "$CONNECTIONS connections synced, then $ROUNDS rounds of the simulator's mutations,"
  echo "synced again; \`review --since <before the first sync>\` over every change. Medians"
  echo "of $REPS runs (GNU time); load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| backend | format | wall s | CPU s | peak RSS MiB | document KiB | changes (change records) shown |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for backend in sqlite postgres; do
    for format in html markdown; do
      measure "$backend" "$format"
    done
  done
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
