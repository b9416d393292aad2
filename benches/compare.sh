#!/usr/bin/env bash
# Before/after: one simulator (20,000 connections) serves both binaries; each syncs into fresh
# SQLite and PostgreSQL databases, first sync then an unchanged re-sync, interleaved, twice.
# Usage: OLD=path/to/old/vpn-inventory NEW=target/release/vpn-inventory benches/compare.sh
# WORK (/tmp/vpn-compare), PORT (38500) and PGDB (bench_compare, suffixed _old and _new) let
# two comparisons run at once, or beside bench.sh.
set -u
NEW=$(realpath "${NEW:?path of the new binary}"); OLD=$(realpath "${OLD:?path of the old binary}")
D=${WORK:-/tmp/vpn-compare}; PGDB=${PGDB:-bench_compare}; PORT=${PORT:-38500}
rm -rf "$D"; mkdir -p "$D"; cd "$D" || exit 1
env -u VPN_INVENTORY_DATABASE $NEW simulate --listen 127.0.0.1:$PORT --connections 20000 --seed 7 > sim.out 2>&1 &
SIM=$!; sleep 3
export HUAWEICLOUD_SDK_AK=DEMOACCESSKEY0000001 HUAWEICLOUD_SDK_SK=DemoSecretKeyForTheSimulatorOnly000001
export HUAWEICLOUD_SDK_PROJECT_ID=0123456789abcdef0123456789abcdef VPN_INVENTORY_ENDPOINT=http://127.0.0.1:$PORT
t() { local s=$(date +%s.%N); "$@" >/dev/null 2>>err.log; local rc=$?; echo "$(echo "$(date +%s.%N) - $s" | bc) rc=$rc"; }
for rep in 1 2; do
  for bin in OLD NEW; do
    B=${!bin}
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS ${PGDB}_${bin,,}" -c "CREATE DATABASE ${PGDB}_${bin,,}" 2>/dev/null
    rm -f $D/$bin.db*
    for db in sqlite://$D/$bin.db postgres://postgres@127.0.0.1:5432/${PGDB}_${bin,,}; do
      kind=${db%%:*}
      echo "rep$rep $bin $kind first     $(t $B --database $db sync)"
      echo "rep$rep $bin $kind unchanged $(t $B --database $db sync)"
    done
  done
done
kill $SIM
