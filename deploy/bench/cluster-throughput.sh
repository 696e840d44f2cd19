#!/usr/bin/env bash
# Cluster ingest throughput for 1, 2 and 3 silos (or the counts given), one after the other on a fresh database each:
# deploy/local/cluster.sh starts the silos, engine-bench streams to every silo at once (one stream per silo).
#
#   deploy/bench/cluster-throughput.sh                 # 1 2 3 silos, 100,000 customers, 600,000 events
#   EVENTS=1200000 deploy/bench/cluster-throughput.sh 1 3
#   SILO_ARGS=--Engine:DriftCheckInterval=01:00:00 deploy/bench/cluster-throughput.sh   # no drift retrain in the load
#
# Needs root for the Debian PostgreSQL cluster (as cluster.sh); prints one JSON line per silo count.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
counts=("$@")
[[ ${#counts[@]} -gt 0 ]] || counts=(1 2 3)
dotnet build -c Release "$root/src/Engine.Bench" -v quiet -nologo >/dev/null
bench="$root/src/Engine.Bench/bin/Release/net10.0/engine-bench.dll"
for n in "${counts[@]}"; do
  "$root/deploy/local/cluster.sh" down >/dev/null 2>&1 || true
  su postgres -c "psql -q -c 'DROP DATABASE IF EXISTS engine'" >/dev/null
  # shellcheck disable=SC2086
  "$root/deploy/local/cluster.sh" up "$n" --Engine:AutoTrainMinCustomers=1000 ${SILO_ARGS:-} >/dev/null
  targets=$(seq 0 $((n - 1)) | sed 's/.*/http:\/\/127.0.0.1:50&0/' | paste -sd,)
  dotnet "$bench" ingest --target "$targets" --customers "${CUSTOMERS:-100000}" --events "${EVENTS:-600000}" --in-flight 32 --json \
    | sed -n '/^{/,$p' | python3 -c "import json,sys; r=json.load(sys.stdin); r['silos']=$n; print(json.dumps(r))"
done
"$root/deploy/local/cluster.sh" down >/dev/null 2>&1 || true
