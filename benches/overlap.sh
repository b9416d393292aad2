#!/usr/bin/env bash
# Issue 24's subnet-overlap benchmark: `report subnet-overlap` with its defaults (a row per
# network overlapping another of its project) on two inventories, on SQLite and PostgreSQL, in
# each output format, and `report subnet-overlap-pairs` (every pair) in CSV:
#   demo   the demo's 2,000 connections (`vpn-inventory demo`: one project, seed 1)
#   three  3,500 connections of three targets from one configuration, synced by one
#          `sync --all`: north (2,000, seed 1), south (1,500, seed 2, another project) and
#          north-gw (north's project through one of its gateways)
#   any    the demo on SQLite with 0.0.0.0/0 added to every other connection (subnet-overlap
#          only)
# REPS repetitions each (wall time, CPU time and peak RSS by GNU time, medians), plus the rows
# each report returns and the same with `--param across_projects=true` and `scope=connection`.
# Writes a Markdown report to benches/results/<date>-overlap.md (OUT) and prints it.
#
# Usage: cargo build --release && benches/overlap.sh      (about 5 minutes on 2 idle cores)
# Parameters (environment): BIN (target/release/vpn-inventory), REPS (3), FORMATS (table csv
# json), PAIR_FORMATS (csv), PG (postgres://postgres@127.0.0.1:5432), PORT (38700, and the
# next one), WORK (/tmp/vpn-overlap), PGDB (bench_overlap: two databases with this prefix),
# OUT.
# Needs GNU time (/usr/bin/time) and psql; sqlite3 for the third inventory (any).
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${BIN:-$ROOT/target/release/vpn-inventory}")
REPS=${REPS:-3}
FORMATS=${FORMATS:-table csv json}
PAIR_FORMATS=${PAIR_FORMATS:-csv}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-38700}
WORK=${WORK:-/tmp/vpn-overlap}
PGDB=${PGDB:-bench_overlap}
OUT=${OUT:-$ROOT/benches/results/$(date -u +%F)-overlap.md}
COMMAND="REPS=$REPS FORMATS=\"$FORMATS\" PAIR_FORMATS=\"$PAIR_FORMATS\" benches/overlap.sh"

SCRIPT=overlap.sh
. "$ROOT/benches/common.sh"
NORTH=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
SOUTH=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb

rm -rf "$WORK"; mkdir -p "$WORK" "$(dirname "$OUT")"
SIMS=()
cleanup() {
  for pid in "${SIMS[@]}"; do kill "$pid" 2>/dev/null; done
  rm -f "$WORK"/*.db "$WORK"/*.db[-.]*
  pg_reset "${PGDB}_demo"; pg_reset "${PGDB}_three"
}
trap cleanup EXIT

echo "setting up (demo, and three targets) on SQLite and PostgreSQL..." >&2
start_sim north "$PORT" 2000 1 "$NORTH"
start_sim south "$((PORT + 1))" 1500 2 "$SOUTH"
pg_reset "${PGDB}_demo" create; pg_reset "${PGDB}_three" create
declare -A DB=(
  [demo-sqlite]="sqlite://$WORK/demo.db" [demo-postgres]="$PG/${PGDB}_demo"
  [three-sqlite]="sqlite://$WORK/three.db" [three-postgres]="$PG/${PGDB}_three"
)
for backend in sqlite postgres; do
  "$BIN" -q --database "${DB[demo-$backend]}" demo > /dev/null || die "demo on $backend failed"
done
# north-gw: one gateway of north, as the first sync of north shows it.
"$BIN" -q --database "sqlite://$WORK/gateway.db" sync --endpoint "http://127.0.0.1:$PORT" \
  --project-id "$NORTH" --format json > /dev/null || die "a sync of north failed"
GATEWAY=$("$BIN" --database "sqlite://$WORK/gateway.db" report inventory-summary --format csv \
  | awk -F, '$2 == "gateway" {print $3; exit}')
cat > "$WORK/config.toml" <<TOML
[[targets]]
name = "north"
project_id = "$NORTH"
endpoint = "http://127.0.0.1:$PORT"

[[targets]]
name = "south"
project_id = "$SOUTH"
endpoint = "http://127.0.0.1:$((PORT + 1))"

[[targets]]
name = "north-gw"
project_id = "$NORTH"
endpoint = "http://127.0.0.1:$PORT"
vgw_id = "$GATEWAY"
TOML
for backend in sqlite postgres; do
  "$BIN" -q --config "$WORK/config.toml" --database "${DB[three-$backend]}" sync --all \
    --format json > /dev/null || die "sync --all on $backend failed"
done

# any: the demo's SQLite inventory with "0.0.0.0/0" added to every other connection's peer
# subnets (1,000 networks holding every IPv4 one), as policy-based VPNs often have; the
# simulator never serves it, so it is written into a copy (with sqlite3, when installed).
CASES="demo three"
if command -v sqlite3 > /dev/null; then
  sqlite3 "$WORK/demo.db" ".backup '$WORK/any.db'" || die "cannot copy the demo's database"
  sqlite3 "$WORK/any.db" "INSERT INTO peer_subnets SELECT pk, 4, 999, '0.0.0.0/0',
    '00000000000000000000ffff00000000', '00000000000000000000ffffffffffff'
    FROM connections WHERE pk % 2 = 0" || die "cannot add 0.0.0.0/0 to the copy"
  DB[any-sqlite]="sqlite://$WORK/any.db"
  CASES="$CASES any"
fi

ROWS_TABLE=$WORK/rows.md; : > "$ROWS_TABLE"
RESULTS=$WORK/results.md; : > "$RESULTS"
for case in $CASES; do
  for backend in sqlite postgres; do
    [ -n "${DB[$case-$backend]:-}" ] || continue
    database=${DB[$case-$backend]}
    reports="subnet-overlap subnet-overlap-pairs"
    # Every 0.0.0.0/0 pairs with every IPv4 network: millions of pairs, not worth the wait.
    [ "$case" = any ] && reports=subnet-overlap
    for report in $reports; do
      rows() {
        "$BIN" --database "$database" report "$report" --format csv "$@" | tail -n +2 | wc -l
      }
      echo "| $case | $backend | $report | $(rows) | $(rows --param across_projects=true) |" \
        "$(rows --param scope=connection) |" >> "$ROWS_TABLE"
      formats=$FORMATS; [ "$report" = subnet-overlap ] || formats=$PAIR_FORMATS
      for format in $formats; do
        : > "$WORK/samples"
        for _ in $(seq "$REPS"); do
          /usr/bin/time -f '%e %U %S %M' -o "$WORK/time.txt" "$BIN" --database "$database" \
            report "$report" --format "$format" > /dev/null || die "$case $backend $format"
          cat "$WORK/time.txt" >> "$WORK/samples"
        done
        wall=$(awk '{print $1}' "$WORK/samples" | median)
        cpu=$(awk '{print $2 + $3}' "$WORK/samples" | median)
        rss=$(awk '{print $4}' "$WORK/samples" | sort -g | tail -1)
        line="| $case | $backend | $report | $format | $wall | $cpu | $((rss / 1024)) |"
        echo "$line" >> "$RESULTS"; echo "$line" >&2
      done
    done
  done
done

{
  echo "# subnet-overlap, $(date -u '+%F %H:%M') UTC"
  echo
  echo "\`$COMMAND\` at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), on"
  echo "$(nproc) cores; load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Medians of $REPS runs; peak RSS is the largest. The client's CPU only: PostgreSQL's own"
  echo "work is in the wall time."
  echo
  echo "| inventory | backend | report | format | wall s | client CPU s | peak RSS MiB |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  cat "$RESULTS"
  echo
  echo "| inventory | backend | report | rows (default: one project) | across_projects=true |" \
    "scope=connection |"
  echo "| --- | --- | --- | --- | --- | --- |"
  cat "$ROWS_TABLE"
} > "$OUT"
cat "$OUT"
