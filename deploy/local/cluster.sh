#!/usr/bin/env bash
# A local Engine cluster: PostgreSQL plus N silo processes on loopback ports.
#
#   deploy/local/cluster.sh up 3     # start PostgreSQL (if needed) and silos 0..2
#   deploy/local/cluster.sh up 3 --Engine:Clock=event-time   # extra arguments go to every silo
#   deploy/local/cluster.sh status   # which silos run, and their ports
#   deploy/local/cluster.sh down     # stop the silos gracefully (SIGTERM), then a throwaway PostgreSQL
#
# Silo i listens on gRPC 5000+10i, HTTP 5001+10i (/healthz, /metrics), silo 11111+i, gateway 30000+i; any silo serves
# every gRPC call. PostgreSQL: $ENGINE_PG if set (a connection string); else, as root, the Debian cluster
# (pg_ctlcluster 15 main) with role and database "engine"; else a throwaway server under deploy/local/run/pg.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
run="$here/run"
mkdir -p "$run"

grpc_port() { echo $((5000 + 10 * $1)); }
http_port() { echo $((5001 + 10 * $1)); }

start_postgres() {
  if [[ -n "${ENGINE_PG:-}" ]]; then
    echo "$ENGINE_PG"
    return
  fi
  if [[ $(id -u) -eq 0 ]] && command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster 15 main start >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'engine'\"" | grep -q 1 \
      || su postgres -c "psql -q -c \"CREATE ROLE engine LOGIN PASSWORD 'engine'\""
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'engine'\"" | grep -q 1 \
      || su postgres -c "psql -q -c \"CREATE DATABASE engine OWNER engine\""
    echo "Host=127.0.0.1;Port=5432;Username=engine;Password=engine;Database=engine"
    return
  fi
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  if [[ ! -f "$run/pg/PG_VERSION" ]]; then
    "$bin/initdb" -D "$run/pg" -U engine --auth=trust >"$run/pg-init.log"
  fi
  if ! "$bin/pg_ctl" -D "$run/pg" status >/dev/null 2>&1; then
    "$bin/pg_ctl" -D "$run/pg" -l "$run/pg.log" -o "-p 55432 -k $run -c max_connections=300" -w start >/dev/null
    touch "$run/pg.throwaway"
  fi
  "$bin/psql" -h 127.0.0.1 -p 55432 -U engine -d postgres -qtAc "SELECT 1 FROM pg_database WHERE datname = 'engine'" | grep -q 1 \
    || "$bin/psql" -h 127.0.0.1 -p 55432 -U engine -d postgres -qc "CREATE DATABASE engine"
  echo "Host=127.0.0.1;Port=55432;Username=engine;Database=engine"
}

up() {
  local n="${1:-3}"
  shift || true
  local cs
  cs="$(start_postgres)"
  echo "PostgreSQL: $cs"
  dotnet build -c Release "$root/src/Engine.Server" -v quiet -nologo >"$run/build.log" || { cat "$run/build.log"; exit 1; }
  local dll="$root/src/Engine.Server/bin/Release/net10.0/Engine.Server.dll"
  for ((i = 0; i < n; i++)); do
    if [[ -f "$run/silo-$i.pid" ]] && kill -0 "$(cat "$run/silo-$i.pid")" 2>/dev/null; then
      echo "silo $i already running (pid $(cat "$run/silo-$i.pid"))"
      continue
    fi
    (cd "$root/src/Engine.Server" && exec dotnet "$dll" \
      --Engine:Storage=postgres "--Engine:ConnectionString=$cs" --Engine:ClusterId=local \
      --Engine:GrpcPort="$(grpc_port "$i")" --Engine:HttpPort="$(http_port "$i")" \
      --Engine:SiloPort=$((11111 + i)) --Engine:GatewayPort=$((30000 + i)) "$@" \
      >"$run/silo-$i.log" 2>&1) &
    echo $! >"$run/silo-$i.pid"
  done
  for ((i = 0; i < n; i++)); do
    for _ in $(seq 1 120); do
      curl -sf "http://127.0.0.1:$(http_port "$i")/healthz" >/dev/null && break
      kill -0 "$(cat "$run/silo-$i.pid")" 2>/dev/null || { echo "silo $i exited; see $run/silo-$i.log"; tail -20 "$run/silo-$i.log"; exit 1; }
      sleep 0.5
    done
    echo "silo $i: gRPC 127.0.0.1:$(grpc_port "$i")  http://127.0.0.1:$(http_port "$i")/healthz  pid $(cat "$run/silo-$i.pid")  log $run/silo-$i.log"
  done
}

status() {
  shopt -s nullglob
  for pid in "$run"/silo-*.pid; do
    local i="${pid##*/silo-}"; i="${i%.pid}"
    if kill -0 "$(cat "$pid")" 2>/dev/null; then
      echo "silo $i: running, gRPC 127.0.0.1:$(grpc_port "$i"), health $(curl -s "http://127.0.0.1:$(http_port "$i")/healthz" || echo down)"
    else
      echo "silo $i: not running"
    fi
  done
}

down() {
  shopt -s nullglob
  for pid in "$run"/silo-*.pid; do
    kill -TERM "$(cat "$pid")" 2>/dev/null || true
  done
  # Graceful: each silo drains its queue, checkpoints and leaves the cluster.
  for pid in "$run"/silo-*.pid; do
    for _ in $(seq 1 60); do kill -0 "$(cat "$pid")" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$(cat "$pid")" 2>/dev/null || true
    rm -f "$pid"
  done
  if [[ -f "$run/pg.throwaway" ]]; then
    "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl" -D "$run/pg" -m fast stop >/dev/null || true
    rm -f "$run/pg.throwaway"
  fi
  echo "cluster stopped"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  status) status ;;
  down) down ;;
  *) echo "usage: $0 up [N] | status | down" >&2; exit 2 ;;
esac
