# Sourced by the bench scripts: one Engine server process of a given build on ports 5300 (gRPC) and 5301 (HTTP), its
# data under DATA (set by the caller), its log in DATA.log.
#   server_start SERVER_DLL [--Engine:Key=Value ...]   a fresh DATA, then the server, then its /healthz
#   server_stop                                          SIGTERM, then wait for the process to be gone

# Waits for the server to exit: a graceful stop checkpoints every active customer, and one still stopping would take
# the next run's cores.
server_stop() {
  pkill -f "Engine.Server.dll --Engine:DataDirectory=$data" || true
  while pgrep -f "Engine.Server.dll --Engine:DataDirectory=$data" > /dev/null; do sleep 0.5; done
}

server_start() {
  local dll=$1
  shift
  server_stop
  rm -rf "$data" && mkdir -p "$data"
  (cd "$data" && nohup dotnet "$dll" --Engine:DataDirectory="$data" --Engine:GrpcPort=5300 --Engine:HttpPort=5301 \
    --Engine:SiloPort=11311 --Engine:GatewayPort=30001 --Logging:LogLevel:Default=Warning "$@" > "$data.log" 2>&1 &)
  for _ in $(seq 1 60); do curl -sf localhost:5301/healthz > /dev/null && break; sleep 1; done
}
