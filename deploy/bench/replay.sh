#!/usr/bin/env bash
# Event-time replay of a purchase history (issue 29): a CDNOW-shaped log generated for CUSTOMERS customers (as
# tests/Engine.ProcessTests/ClusterTests.cs's CdnowLike: every first purchase in 1997's first quarter, repeats after
# exponential gaps of 90 days on average, each with probability 0.6, until mid-1998), imported with
# `engine import --format cdnow` into a fresh event-time SQLite server of the given build, then checked with
# `engine verify cdnow`. Compare its rows_per_second with a steady `engine-bench ingest` run of the same build in the
# same sitting (deploy/bench/retrain-ab.sh SERVER 0 ...). Build the server and src/Engine.Cli with -c Release first.
#   deploy/bench/replay.sh src/Engine.Server/bin/Release/net10.0/Engine.Server.dll 170000 /tmp/replay
# Writes OUT.import.json, OUT.verify.json and OUT.server.json: the server's CPU seconds over the import and its
# transitions by cause. The first model trains at a point that differs from run to run, and with it the number of moves
# by silence, which is most of the work: compare builds by CPU seconds per transition as well as by events/s.
# Arguments after OUT go to the server: e.g. --Engine:AutoTrainMinCustomers=100000000 imports with no model at all (no
# moves), the cost of meeting every customer for the first time alone.
# Ports 5300/5301 and /tmp/engine-replay must be free.
set -euo pipefail
server=$1 customers=$2 out=$3
shift 3
repo=$(cd "$(dirname "$0")/../.." && pwd)
cli="$repo/src/Engine.Cli/bin/Release/net10.0/engine.dll"
data=/tmp/engine-replay
history="$out.history.txt"
python3 - "$customers" "$history" <<'PY'
import math, random, sys
from datetime import date, timedelta
n, path = int(sys.argv[1]), sys.argv[2]
rng, start, end = random.Random(7), date(1997, 1, 1), date(1998, 6, 30)
with open(path, "w") as f:
    f.write(" customer_id  date number_of_cds  dollar_value\n")
    for c in range(1, n + 1):
        day = start + timedelta(days=rng.randrange(90))
        while True:
            cds = 1 + rng.randrange(4)
            f.write(f" {c:06d} {day:%Y%m%d} {cds:2d} {cds * (8 + rng.random() * 12):7.2f}\n")
            day += timedelta(days=1 + int(-math.log(1 - rng.random()) * 90))
            if day > end or rng.random() >= 0.6:
                break
PY
source "$repo/deploy/bench/server.sh"
server_start "$server" --Engine:Clock=event-time "$@"
dotnet "$cli" --server http://127.0.0.1:5300 import "$history" --format cdnow | sed -n '/^{/,$p' > "$out.import.json"
pid=$(pgrep -f "Engine.Server.dll --Engine:DataDirectory=$data" | head -1)
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$pid/stat")
curl -s localhost:5301/metrics | python3 -c '
import json, re, sys
moves = {f"{m[1]}/{m[2]}": int(float(m[3])) for m in re.finditer(r"engine_transitions_total\{cause=\"(\w+)\",kind=\"(\w+)\"\} (\S+)", sys.stdin.read())}
print(json.dumps({"server_cpu_seconds": float(sys.argv[1]), "transitions": moves, "transitions_total": sum(moves.values())}))' "$cpu" > "$out.server.json"
dotnet "$cli" --server http://127.0.0.1:5300 verify cdnow "$history" | sed -n '/^{/,$p' > "$out.verify.json" || true
server_stop
cat "$out.import.json"
