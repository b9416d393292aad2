# Shared by the benchmarks that run the simulator and both backends (overlap.sh, review.sh);
# sourced after they set ROOT, BIN, PG and SCRIPT (their name, for errors). Checks what they
# need, sets the simulator's credentials, and defines die, pg_reset, start_sim (after they
# set WORK and the array SIMS) and median.

die() { echo "$SCRIPT: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no binary at $BIN: cargo build --release (or set BIN)"
/usr/bin/time -v true >/dev/null 2>&1 || die "GNU time is missing: apt-get install -y time"
PG_ADMIN="$PG/postgres"
psql -q "$PG_ADMIN" -c 'select 1' >/dev/null || die "PostgreSQL at $PG does not answer"

export HUAWEICLOUD_SDK_AK=DEMOACCESSKEY0000001
export HUAWEICLOUD_SDK_SK=DemoSecretKeyForTheSimulatorOnly000001
unset VPN_INVENTORY_DATABASE VPN_INVENTORY_CONFIG HUAWEICLOUD_SDK_REGION \
  HUAWEICLOUD_SDK_PROJECT_ID VPN_INVENTORY_ENDPOINT

# pg_reset NAME [create]: drops database NAME, and creates it afresh when asked.
pg_reset() {
  PGOPTIONS='-c client_min_messages=warning' psql -q "$PG_ADMIN" \
    -c "DROP DATABASE IF EXISTS $1" ${2:+-c "CREATE DATABASE $1"} >/dev/null
}

# median: the middle of the numbers on stdin, one a line (the lower one of an even count).
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# start_sim NAME PORT CONNECTIONS SEED PROJECT: starts a simulator and waits for its banner.
start_sim() {
  "$BIN" simulate --listen "127.0.0.1:$2" --connections "$3" --seed "$4" --project-id "$5" \
    > "$WORK/$1.out" 2>&1 &
  SIMS+=("$!")
  until grep -q '^simulating' "$WORK/$1.out" 2>/dev/null; do
    kill -0 "${SIMS[-1]}" 2>/dev/null || die "simulator $1 did not start: $(cat "$WORK/$1.out")"
    sleep 0.05
  done
}
