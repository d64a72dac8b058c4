#!/usr/bin/env bash
# Seeding speed against the ingest limit of the same Postgres, in one run:
#   1. seed --scale S into a fresh database (wall time, peak RSS);
#   2. pg_dump that database (directory format) and restore it into a fresh database with
#      pg_restore -j 2 (schema, then data through COPY, then indexes and constraints), then
#      VACUUM (ANALYZE) — the same end state the seeder reaches;
#   3. print both times, the ratio, rows/s and MB/s.
# Usage: scripts/ingest-limit.sh [SCALE] [SEED]    (default 10, 42). Needs a release build.
set -euo pipefail
scale=${1:-10}
seed=${2:-42}
cd "$(dirname "$0")/.."
bin=./target/release/intellacc-bench
[ -x "$bin" ] || cargo build --release
pgbin=${INTELLACC_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
as_pg=()
if [ "$(id -u)" = 0 ]; then chown postgres "$work"; as_pg=(runuser -u postgres --); fi
cleanup() { "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
"${as_pg[@]}" "$pgbin/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
cat >> "$work/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work'
wal_level = minimal
max_wal_senders = 0
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 512MB
max_wal_size = 4GB
checkpoint_timeout = 30min
maintenance_work_mem = 256MB
max_connections = 200
CONF
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/log" -w start >/dev/null
psql=("$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -qAt)
"${psql[@]}" -c "CREATE DATABASE seeded" -c "CREATE DATABASE restored"
url="postgres://postgres@127.0.0.1:$port"

echo "== seed --scale $scale --seed $seed"
/usr/bin/time -f "%e %M" -o "$work/seed.time" \
  env DATABASE_URL="$url/seeded" "$bin" seed --scale "$scale" --seed "$seed" 2>"$work/seed.log"
read -r seed_s seed_kb < "$work/seed.time"
rows=$("${psql[@]}" -d seeded -c "SELECT sum(n_live_tup) FROM pg_stat_user_tables WHERE relname NOT LIKE 'intellacc_bench%' AND relname <> '_sqlx_migrations'")
bytes=$("${psql[@]}" -d seeded -c "SELECT pg_database_size('seeded')")
# Per table: name and on-disk size with its indexes and TOAST, for MB/s.
"${psql[@]}" -F ' ' -d seeded -c "SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables ORDER BY relname" > "$work/sizes"

echo "== pg_dump (directory format) and pg_restore -j 2 of the same rows"
"$pgbin/pg_dump" -h 127.0.0.1 -p "$port" -U postgres -Fd -j 2 -f "$work/dump" seeded
start=$(date +%s.%N)
"$pgbin/pg_restore" -h 127.0.0.1 -p "$port" -U postgres -j 2 -d restored "$work/dump"
"${psql[@]}" -d restored -c "VACUUM (ANALYZE)"
end=$(date +%s.%N)
restore_s=$(awk "BEGIN{print $end - $start}")

printf '\nrows %s, database %s MB\n' "$rows" "$((bytes / 1048576))"
awk -v s="$seed_s" -v r="$restore_s" -v n="$rows" -v b="$bytes" -v kb="$seed_kb" 'BEGIN {
  printf "seed:    %7.1f s  %9.0f rows/s  %6.1f MB/s  peak RSS %d MB\n", s, n / s, b / 1048576 / s, kb / 1024
  printf "restore: %7.1f s  %9.0f rows/s  %6.1f MB/s\n", r, n / r, b / 1048576 / r
  printf "seed / restore = %.2f\n", s / r
}'
echo; grep "^seeded in" "$work/seed.log" || true
echo; echo "per table (seconds from the seeder's log; MB on disk with indexes and TOAST):"
awk 'NR == FNR { size[$1] = $2; next }
  $1 == "loaded" {
    t = $2; rows = $3; secs = $6
    printf "  %-22s %9d rows %8.1f MB %7.2f s %9.0f rows/s %7.1f MB/s\n", t, rows, size[t] / 1048576, secs, rows / secs, size[t] / 1048576 / secs
  }' "$work/sizes" "$work/seed.log"
