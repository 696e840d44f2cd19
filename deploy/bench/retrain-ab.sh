#!/usr/bin/env bash
# One `engine-bench ingest` run against a fresh server of the given build, with the drift check off, so that the load
# holds the bench's own retrain (--retrain-at SECONDS) or none (0). Alternate two builds in one sitting to compare
# them, or a retrain and none with one build (deploy/bench/HISTORY.md, "A retrain in the load"):
#   deploy/bench/retrain-ab.sh OLD/Engine.Server.dll 10 4000000 old-10.json
#   deploy/bench/retrain-ab.sh NEW/Engine.Server.dll 10 4000000 new-10.json
# SQLite by default; with ENGINE_BENCH_POSTGRES set to a PostgreSQL connection string of the form
# "Host=H;Username=U;Password=P" (a user that may create databases), each run gets a fresh database
# engine_retrain_ab on that server instead.
# ENGINE_BENCH_ARGS adds bench flags (e.g. --warm-retrain).
# Build both servers and the bench with -c Release first. Ports 5300/5301 and /tmp/engine-retrain-ab must be free.
set -euo pipefail
server=$1 retrain_at=$2 events=$3 out=$4
repo=$(cd "$(dirname "$0")/../.." && pwd)
data=/tmp/engine-retrain-ab
source "$repo/deploy/bench/server.sh"
# Before the database is dropped: a server of the last run may still hold it.
server_stop
storage=()
if [ -n "${ENGINE_BENCH_POSTGRES:-}" ]; then
  libpq=$(echo "$ENGINE_BENCH_POSTGRES" | sed 's/;/ /g; s/Host=/host=/; s/Username=/user=/; s/Password=/password=/')
  psql "$libpq dbname=postgres" -qc "DROP DATABASE IF EXISTS engine_retrain_ab" -c "CREATE DATABASE engine_retrain_ab"
  storage=(--Engine:Storage=postgres "--Engine:ConnectionString=$ENGINE_BENCH_POSTGRES;Database=engine_retrain_ab")
fi
server_start "$server" --Engine:AutoTrainMinCustomers=1000 --Engine:DriftCheckInterval=1.00:00:00 "${storage[@]}"
dotnet "$repo/src/Engine.Bench/bin/Release/net10.0/engine-bench.dll" ingest --target http://127.0.0.1:5300 \
  --metrics http://127.0.0.1:5301 --customers 100000 --events "$events" --in-flight 32 --json --retrain-at "$retrain_at" ${ENGINE_BENCH_ARGS:-} \
  | sed -n '/^{/,$p' > "$out"
curl -s localhost:5301/metrics | grep '^engine_transitions_total' > "$out.transitions" || true
server_stop
