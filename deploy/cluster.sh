#!/usr/bin/env bash
# A local Dialplane cluster on this machine, without containers: Kamailio (Debian's `kamailio`) in front, N Dialplane
# nodes behind it on one PostgreSQL database and one Redis. See docs/scale-out.md.
#
#   deploy/cluster.sh start [N]   start Kamailio and N nodes (default 3, at most 9) and print where each listens
#   deploy/cluster.sh status      which of them are running
#   deploy/cluster.sh stop        stop what `start` started (SIGTERM by process id, SIGKILL 5 s later)
#
# Node i (1..N) listens for SIP on 127.0.0.1<i> (127.0.0.11, 127.0.0.12, ...) port NODE_SIP_PORT, binds and
# advertises its RTP there too (ports RTP_BASE_PORT + 1000 i ...), serves HTTP on 127.0.0.1:HTTP_BASE_PORT+i, and has the
# node id node-<i>. Kamailio listens on KAMAILIO_LISTEN and is every node's trunk: inbound calls come through it,
# spread over the nodes; the nodes' outbound calls go through it to CARRIER (when set).
#
# Settings (environment):
#   DIALPLANE_DATABASE_URL  PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/dialplane; the database is
#                           created when missing)
#   DIALPLANE_REDIS_URL     Redis URL (default redis://127.0.0.1:6379)
#   CLUSTER_DIR             run directory: logs, pid files, node data, the dispatcher list, the shared admin token
#                           and secrets key (default ./cluster in the working directory)
#   KAMAILIO_LISTEN         Kamailio's address:port (default 127.0.0.1:5060)
#   NODE_SIP_PORT           each node's SIP port on its own address (default 5060)
#   HTTP_BASE_PORT          node i serves HTTP on HTTP_BASE_PORT + i (default 8080: 8081, 8082, ...)
#   RTP_BASE_PORT           node i takes RTP ports RTP_BASE_PORT + 1000 i to + 999 (default 20000)
#   PING_INTERVAL           seconds between Kamailio's OPTIONS probes of each node (default 5)
#   CARRIER                 SIP URI the nodes' outbound calls are sent to, e.g. sip:127.0.0.1:5090 (default: none,
#                           outbound calls are refused by Kamailio with 503)
#   KAMAILIO                the kamailio binary (default /usr/sbin/kamailio)
#   NODE                    the Node.js binary (default node on PATH)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLI="$ROOT/dist/src/cli.js"
KAMAILIO_CFG="$ROOT/deploy/kamailio/kamailio.cfg"
CLUSTER_DIR="${CLUSTER_DIR:-$PWD/cluster}"
DATABASE_URL="${DIALPLANE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/dialplane}"
REDIS_URL="${DIALPLANE_REDIS_URL:-redis://127.0.0.1:6379}"
KAMAILIO_LISTEN="${KAMAILIO_LISTEN:-127.0.0.1:5060}"
NODE_SIP_PORT="${NODE_SIP_PORT:-5060}"
HTTP_BASE_PORT="${HTTP_BASE_PORT:-8080}"
RTP_BASE_PORT="${RTP_BASE_PORT:-20000}"
PING_INTERVAL="${PING_INTERVAL:-5}"
CARRIER="${CARRIER:-}"
NODE="${NODE:-node}"
if [[ -z "${KAMAILIO:-}" ]]; then
  if [[ -x /usr/sbin/kamailio ]]; then KAMAILIO=/usr/sbin/kamailio; else KAMAILIO=kamailio; fi
fi

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}

node_address() { echo "127.0.0.1$1"; }

# A process this script started and that still runs: its pid file names it and /proc says it is alive.
running_pid() {
  local file="$1" pid
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

wait_http_ready() {
  local base="$1" pid="$2"
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null --max-time 1 "$base/readyz" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# PostgreSQL: create the database when it does not exist yet (node's `pg` package, no psql needed).
ensure_database() {
  (cd "$ROOT" && DATABASE_URL="$DATABASE_URL" "$NODE" --input-type=module -e '
    import pg from "pg";
    const url = new URL(process.env.DATABASE_URL);
    const name = decodeURIComponent(url.pathname.slice(1));
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`database name ${name}: letters, digits and _ only`);
    const admin = new URL(url);
    admin.pathname = "/postgres";
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    const found = await client.query("select 1 from pg_database where datname = $1", [name]);
    if (found.rowCount === 0) {
      await client.query(`create database ${name}`);
      console.log(`created database ${name}`);
    }
    await client.end();
  ') 2>&1 | sed 's/^/  /' || die "PostgreSQL at ${DATABASE_URL%%@*}@... is not reachable"
  # (the sed keeps node's output indented; a failure of node fails the pipeline through pipefail)
}

start() {
  local count="${1:-3}"
  [[ "$count" =~ ^[1-9]$ ]] || die "N must be 1 to 9, got $count"
  [[ -f "$CLI" ]] || die "$CLI not found: build first (npm run build)"
  command -v "$NODE" >/dev/null || die "$NODE not found: set NODE to the Node.js binary"
  command -v "$KAMAILIO" >/dev/null || die "$KAMAILIO not found: apt-get install kamailio"
  command -v curl >/dev/null || die "curl not found: apt-get install curl"
  if [[ -f "$CLUSTER_DIR/kamailio.pid" ]] && running_pid "$CLUSTER_DIR/kamailio.pid" >/dev/null; then
    die "a cluster already runs from $CLUSTER_DIR: deploy/cluster.sh stop first"
  fi
  mkdir -p "$CLUSTER_DIR"
  chmod 700 "$CLUSTER_DIR"
  local kam_host="${KAMAILIO_LISTEN%:*}" kam_port="${KAMAILIO_LISTEN##*:}"

  echo "PostgreSQL: ${DATABASE_URL%%://*}://...@${DATABASE_URL#*@}"
  ensure_database
  echo "Redis: $REDIS_URL"
  if command -v redis-cli >/dev/null && ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
    die "Redis at $REDIS_URL does not answer PING"
  fi

  # Shared by every node: the admin token and the secrets key (made once, kept in the run directory).
  [[ -f "$CLUSTER_DIR/admin.token" ]] || "$NODE" -e 'process.stdout.write(require("crypto").randomBytes(24).toString("base64url"))' >"$CLUSTER_DIR/admin.token"
  [[ -f "$CLUSTER_DIR/secrets.key" ]] || "$NODE" -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64"))' >"$CLUSTER_DIR/secrets.key"
  chmod 600 "$CLUSTER_DIR/admin.token" "$CLUSTER_DIR/secrets.key"

  # The dispatcher list: set 1, one line per node.
  : >"$CLUSTER_DIR/dispatcher.list"
  for i in $(seq 1 "$count"); do
    echo "1 sip:$(node_address "$i"):$NODE_SIP_PORT 0 0" >>"$CLUSTER_DIR/dispatcher.list"
  done

  # The nodes, one after the other (the first one migrates the database).
  for i in $(seq 1 "$count"); do
    local address http_port rtp_low data
    address="$(node_address "$i")"
    http_port=$((HTTP_BASE_PORT + i))
    rtp_low=$((RTP_BASE_PORT + 1000 * i))
    data="$CLUSTER_DIR/node-$i"
    mkdir -p "$data"
    (
      export DIALPLANE_NODE_ID="node-$i"
      export DIALPLANE_DATA_DIR="$data"
      export DIALPLANE_DATABASE_URL="$DATABASE_URL"
      export DIALPLANE_REDIS_URL="$REDIS_URL"
      export DIALPLANE_ADMIN_TOKEN="$(cat "$CLUSTER_DIR/admin.token")"
      export DIALPLANE_SECRETS_KEY="$(cat "$CLUSTER_DIR/secrets.key")"
      export DIALPLANE_HTTP_HOST=127.0.0.1
      export DIALPLANE_HTTP_PORT="$http_port"
      export DIALPLANE_SIP_HOST="$address"
      export DIALPLANE_SIP_PORT="$NODE_SIP_PORT"
      export DIALPLANE_RTP_PORTS="$rtp_low-$((rtp_low + 999))"
      # Kamailio is the trunk both ways: inbound INVITEs are accepted from its address, outbound calls go to it.
      export DIALPLANE_TRUNK="sip:$KAMAILIO_LISTEN;transport=udp"
      # Every caller's request arrives from Kamailio's one address: a per-source limit here would count them all
      # together. Limit per caller at the edge instead (docs/scale-out.md).
      export DIALPLANE_SIP_SOURCE_RATE=0
      exec nohup "$NODE" "$CLI" serve >>"$data/server.log" 2>&1 </dev/null
    ) &
    echo $! >"$CLUSTER_DIR/node-$i.pid"
    if ! wait_http_ready "http://127.0.0.1:$http_port" "$!"; then
      tail -20 "$data/server.log" >&2
      stop >/dev/null 2>&1 || true
      die "node-$i did not become ready; its log: $data/server.log"
    fi
  done

  local defines=(-A "DISPATCHER_LIST=\"$CLUSTER_DIR/dispatcher.list\"" -A "PING_INTERVAL=$PING_INTERVAL")
  [[ -z "$CARRIER" ]] || defines+=(-A "CARRIER=\"$CARRIER\"")
  local as_root=()
  [[ "$(id -u)" != 0 ]] || as_root=(-u root -g root)
  mkdir -p "$CLUSTER_DIR/kamailio"
  nohup "$KAMAILIO" -f "$KAMAILIO_CFG" -DD -E -l "udp:$kam_host:$kam_port" "${defines[@]}" \
    -Y "$CLUSTER_DIR/kamailio" -P "$CLUSTER_DIR/kamailio/kamailio.pid" -w "$CLUSTER_DIR/kamailio" \
    -m 64 -M 8 "${as_root[@]}" >>"$CLUSTER_DIR/kamailio.log" 2>&1 </dev/null &
  echo $! >"$CLUSTER_DIR/kamailio.pid"
  sleep 1
  if ! running_pid "$CLUSTER_DIR/kamailio.pid" >/dev/null; then
    tail -20 "$CLUSTER_DIR/kamailio.log" >&2
    stop >/dev/null 2>&1 || true
    die "kamailio did not start; its log: $CLUSTER_DIR/kamailio.log"
  fi

  echo
  echo "Kamailio   sip:$KAMAILIO_LISTEN (UDP)   log $CLUSTER_DIR/kamailio.log   nodes $CLUSTER_DIR/dispatcher.list"
  for i in $(seq 1 "$count"); do
    local rtp_low=$((RTP_BASE_PORT + 1000 * i))
    echo "node-$i     sip:$(node_address "$i"):$NODE_SIP_PORT   http://127.0.0.1:$((HTTP_BASE_PORT + i))   RTP $(node_address "$i"):$rtp_low-$((rtp_low + 999))   log $CLUSTER_DIR/node-$i/server.log"
  done
  echo
  echo "admin token: $CLUSTER_DIR/admin.token (the same on every node)"
  echo "call in:     sip:<number>@$KAMAILIO_LISTEN     stop: $0 stop"
}

stop_pid_file() {
  local file="$1" name="$2" pid
  if pid="$(running_pid "$file")"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      echo "$name: killed (pid $pid)"
    else
      echo "$name: stopped (pid $pid)"
    fi
  fi
  rm -f "$file"
}

stop() {
  [[ -d "$CLUSTER_DIR" ]] || die "no run directory $CLUSTER_DIR"
  stop_pid_file "$CLUSTER_DIR/kamailio.pid" kamailio
  for file in "$CLUSTER_DIR"/node-*.pid; do
    [[ -e "$file" ]] || continue
    local name
    name="$(basename "$file" .pid)"
    stop_pid_file "$file" "$name"
  done
}

status() {
  [[ -d "$CLUSTER_DIR" ]] || die "no run directory $CLUSTER_DIR"
  local pid
  for file in "$CLUSTER_DIR/kamailio.pid" "$CLUSTER_DIR"/node-*.pid; do
    [[ -e "$file" ]] || continue
    if pid="$(running_pid "$file")"; then echo "$(basename "$file" .pid): running (pid $pid)"; else echo "$(basename "$file" .pid): not running"; fi
  done
}

case "${1:-}" in
  start) start "${2:-3}" ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start [N] | status | stop" >&2
    exit 2
    ;;
esac
