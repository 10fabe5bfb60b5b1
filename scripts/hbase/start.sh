#!/usr/bin/env bash
# Start a standalone HBase (HMaster + RegionServer + in-process ZooKeeper, local filesystem) and the
# Thrift1 gateway on 127.0.0.1, then wait until happybase can use it. See README.md.
#
#   start.sh [all|master|thrift] [--name thriftN] [--dir DIR] [--thrift-port P] [--zk-port P] [--master-port P]
#            [--regionserver-port P] [--master-heap 512m] [--thrift-heap 256m] [--timeout S] [--clean]
#            [--transport buffered|framed] [--protocol binary|compact]
#
# Every flag but --transport/--protocol has an environment variable (HBASE_RUN_DIR, HBASE_THRIFT_PORT, HBASE_ZK_PORT,
# HBASE_MASTER_PORT, HBASE_RS_PORT, HBASE_MASTER_HEAP, HBASE_THRIFT_HEAP, HBASE_START_TIMEOUT).
# A port of 0 means "pick a free one". `start.sh thrift` (re)starts only the default Thrift gateway with
# the ports recorded by the last full start in DIR/ports.env; `start.sh thrift --name thrift2` starts
# another gateway on the same HBase (its port: --thrift-port, else the one it had last time, else a free one).
# Nothing is started unless everything can be: a start refuses while DIR has JVMs it would clash with.
# --transport/--protocol choose the gateway's Thrift transport and protocol (default buffered, binary); a
# gateway restarted without them keeps the ones it had.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

COMPONENT=all
NAME=thrift
CLEAN=0
PORT_FLAG=""
TRANSPORT_FLAG=""
PROTOCOL_FLAG=""
while [ $# -gt 0 ]; do
  case "$1" in
    all|master|thrift) COMPONENT="$1" ;;
    --name) NAME="$2"; shift ;;
    --dir) HBASE_RUN_DIR="$2"; shift ;;
    --thrift-port) PORT_FLAG="$2"; shift ;;
    --zk-port) HBASE_ZK_PORT="$2"; shift ;;
    --master-port) HBASE_MASTER_PORT="$2"; shift ;;
    --regionserver-port) HBASE_RS_PORT="$2"; shift ;;
    --master-heap) HBASE_MASTER_HEAP="$2"; shift ;;
    --thrift-heap) HBASE_THRIFT_HEAP="$2"; shift ;;
    --timeout) HBASE_START_TIMEOUT="$2"; shift ;;
    --transport) TRANSPORT_FLAG="$2"; shift ;;
    --protocol) PROTOCOL_FLAG="$2"; shift ;;
    --clean) CLEAN=1 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
  shift
done
check_gateway_name "$NAME"
case "${TRANSPORT_FLAG:-buffered}" in buffered|framed) ;; *) die "Expected --transport buffered or framed, but got '$TRANSPORT_FLAG'" ;; esac
case "${PROTOCOL_FLAG:-binary}" in binary|compact) ;; *) die "Expected --protocol binary or compact, but got '$PROTOCOL_FLAG'" ;; esac
[ "$COMPONENT" != master ] || [ -z "$TRANSPORT_FLAG$PROTOCOL_FLAG" ] \
  || die "Expected --transport/--protocol with a start that starts a Thrift gateway, but got them with 'master'"
[ "$NAME" = thrift ] || [ "$COMPONENT" = thrift ] \
  || die "Expected --name with 'start.sh thrift' (it names a Thrift gateway), but got it with '$COMPONENT'"
HBASE_RUN_DIR="$(realpath -ms "$HBASE_RUN_DIR")"
RUN="$HBASE_RUN_DIR"

recorded() {  # $1 = file, $2 = key: the value a previous start wrote there, if any
  [ -f "$1" ] && sed -n "s/^$2=//p" "$1" | tail -n 1
  return 0
}

# Ports. A thrift-only start joins the running master, so ZooKeeper's port is the recorded one. The default
# gateway keeps its port in ports.env (beside ZooKeeper's), another gateway in DIR/NAME.port; the
# HBASE_THRIFT_PORT variable names the default gateway's port only. A gateway's transport and protocol are
# kept in DIR/NAME.thrift, so a gateway restarted without --transport/--protocol comes back as it was.
if [ "$COMPONENT" = thrift ]; then
  HBASE_ZK_PORT="${HBASE_ZK_PORT:-$(recorded "$RUN/ports.env" HBASE_ZK_PORT)}"
fi
if [ "$NAME" = thrift ]; then
  THRIFT_PORT="${PORT_FLAG:-${HBASE_THRIFT_PORT:-}}"
  [ -n "$THRIFT_PORT" ] || [ "$COMPONENT" != thrift ] || THRIFT_PORT="$(recorded "$RUN/ports.env" HBASE_THRIFT_PORT)"
  THRIFT_PORT="${THRIFT_PORT:-9090}"
else
  THRIFT_PORT="${PORT_FLAG:-$(recorded "$RUN/$NAME.port" PORT)}"
  THRIFT_PORT="${THRIFT_PORT:-0}"
fi
HBASE_ZK_PORT="${HBASE_ZK_PORT:-2181}"
TRANSPORT="${TRANSPORT_FLAG:-}"
PROTOCOL="${PROTOCOL_FLAG:-}"
if [ "$COMPONENT" = thrift ]; then
  TRANSPORT="${TRANSPORT:-$(recorded "$RUN/$NAME.thrift" TRANSPORT)}"
  PROTOCOL="${PROTOCOL:-$(recorded "$RUN/$NAME.thrift" PROTOCOL)}"
fi
TRANSPORT="${TRANSPORT:-buffered}"
PROTOCOL="${PROTOCOL:-binary}"
HBASE_MASTER_PORT="${HBASE_MASTER_PORT:-0}"
HBASE_RS_PORT="${HBASE_RS_PORT:-0}"
HBASE_MASTER_HEAP="${HBASE_MASTER_HEAP:-512m}"
HBASE_THRIFT_HEAP="${HBASE_THRIFT_HEAP:-256m}"
HBASE_START_TIMEOUT="${HBASE_START_TIMEOUT:-180}"

PY="$(find_python)" || die "no python with happybase found (set IMGPIPE_PYTHON); it is needed for the readiness probe"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# SO_REUSEADDR as the JVM's server sockets set it: a port that only has connections in TIME_WAIT (a gateway
# just stopped) counts as free, a port someone listens on does not.
port_free() {
  "$PY" -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# Check the state of every component before starting anything, so a start either starts all it was asked
# to or refuses with nothing changed (stale PID files aside, which are removed with a message).
check_before_start() {
  local master_up=0 name live=""
  running master && master_up=1
  for name in $(gateway_names); do
    running "$name" && live="${live:+$live, }$name (pid $(cat "$RUN/$name.pid"))"
  done
  if [ "$COMPONENT" = thrift ]; then
    [ "$master_up" = 1 ] || die "the master is not running in $RUN, so $NAME has nothing to serve; start both with: start.sh --dir $RUN"
    ! pid_alive "$NAME" || die "$NAME is already running (pid $(cat "$RUN/$NAME.pid")); stop it first: stop.sh --dir $RUN thrift --name $NAME"
  elif [ "$master_up" = 1 ]; then
    die "the master is already running (pid $(cat "$RUN/master.pid")) in $RUN; to start a missing gateway: start.sh --dir $RUN thrift; to start afresh: stop.sh --dir $RUN first"
  elif [ -n "$live" ]; then
    die "Thrift gateways run in $RUN without a master: $live; a start does not join them: stop them first with stop.sh --dir $RUN"
  fi
  local wanted=("$NAME:$THRIFT_PORT")
  [ "$COMPONENT" = master ] && wanted=()
  [ "$COMPONENT" = thrift ] || wanted+=("zookeeper:$HBASE_ZK_PORT" "master:$HBASE_MASTER_PORT" "regionserver:$HBASE_RS_PORT")
  for name in "${wanted[@]}"; do
    [ "${name#*:}" = 0 ] || port_free "${name#*:}" \
      || die "Expected a free port for ${name%%:*}, but 127.0.0.1:${name#*:} is in use; choose another (0 = a free one)"
  done
}

write_conf() {
  mkdir -p "$RUN/conf" "$RUN/logs" "$RUN/tmp"
  fill_template "$HBASE_SCRIPTS/conf/hbase-site.xml.in" "$RUN/conf/hbase-site.xml" \
    RUN HBASE_ZK_PORT HBASE_MASTER_PORT HBASE_RS_PORT
  fill_template "$HBASE_SCRIPTS/conf/log4j2.properties.in" "$RUN/conf/log4j2.properties"
}

record_ports() {
  if [ "$NAME" = thrift ]; then
    printf 'HBASE_THRIFT_PORT=%s\nHBASE_ZK_PORT=%s\n' "$THRIFT_PORT" "$HBASE_ZK_PORT" >"$RUN/ports.env"
  else
    printf 'PORT=%s\n' "$THRIFT_PORT" >"$RUN/$NAME.port"
  fi
  [ "$COMPONENT" = master ] || printf 'TRANSPORT=%s\nPROTOCOL=%s\n' "$TRANSPORT" "$PROTOCOL" >"$RUN/$NAME.thrift"
}

STARTED=()
start_java() {  # $1 = name (master|thrift...), $2 = heap, rest = main class + args
  local name="$1" heap="$2"
  shift 2
  jvm_flags "hbase-$name.log"
  # setsid: the JVMs get their own session, so a Ctrl-C in the caller's terminal does not reach them.
  setsid java -Dproc_"$name" -Xms64m -Xmx"$heap" "${JVM_FLAGS[@]}" -cp "$RUN/conf:$HBASE_CP" "$@" \
    >"$RUN/logs/$name.out" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  STARTED+=("$name")
}

# Stop what this start started (and nothing else), after showing why.
fail_with_logs() {
  local name f
  trap - INT TERM
  log "$1"
  for name in master "$NAME"; do
    for f in "$RUN/logs/hbase-$name.log" "$RUN/logs/$name.out"; do
      [ -s "$f" ] || continue
      echo "----- last lines of $f -----" >&2
      grep -v '^\s*at ' "$f" | tail -n 25 >&2
    done
  done
  local i
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do  # the gateway before the master, as stop.sh does
    name="${STARTED[i]}"
    if [ "$name" = master ]; then
      "$HBASE_SCRIPTS/stop.sh" --dir "$RUN" master >&2 || true
    else
      "$HBASE_SCRIPTS/stop.sh" --dir "$RUN" thrift --name "$name" >&2 || true
    fi
  done
  exit 1
}

# Poll until happybase works: a create/put/get/delete round trip for a full start (listing tables
# succeeds before the master can create tables), a table listing for a thrift-only start.
wait_ready() {
  local deadline=$((SECONDS + HBASE_START_TIMEOUT)) err="" name
  while [ $SECONDS -lt $deadline ]; do
    for name in master "$NAME"; do
      pid_alive "$name" || fail_with_logs "the $name JVM exited during start-up (see $RUN/logs)"
    done
    if err="$("$PY" - "$THRIFT_PORT" "$COMPONENT" "$TRANSPORT" "$PROTOCOL" 2>&1 <<'EOF'
import sys, happybase
port, component, transport, protocol = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
conn = happybase.Connection("127.0.0.1", port, timeout=20000, transport=transport, protocol=protocol)
try:
    names = conn.tables()
    if component != "thrift":
        probe = b"__imgpipe_probe__"
        if probe in names:
            conn.disable_table(probe); conn.delete_table(probe)
        conn.create_table(probe, {"f": {}})
        conn.table(probe).put(b"r", {b"f:q": b"v"})
        assert conn.table(probe).row(b"r") == {b"f:q": b"v"}, "probe row did not round trip"
        conn.disable_table(probe); conn.delete_table(probe)
finally:
    conn.close()
EOF
    )"; then
      return 0
    fi
    sleep 1
  done
  fail_with_logs "HBase did not become ready within ${HBASE_START_TIMEOUT}s (last probe error: $(echo "$err" | tail -n 1))"
}

check_before_start
[ "$THRIFT_PORT" = 0 ] && THRIFT_PORT="$(free_port)"
[ "$HBASE_ZK_PORT" = 0 ] && HBASE_ZK_PORT="$(free_port)"
[ "$CLEAN" = 1 ] && [ "$COMPONENT" = all ] && rm -rf "$RUN/hbase" "$RUN/zookeeper" "$RUN/tmp"
T0=$SECONDS
build_classpath
mkdir -p "$RUN/logs"
record_ports
trap 'fail_with_logs "interrupted"' INT TERM
if [ "$COMPONENT" != thrift ]; then
  write_conf
  start_java master "$HBASE_MASTER_HEAP" org.apache.hadoop.hbase.master.HMaster start
fi
if [ "$COMPONENT" != master ]; then
  # -f/-c override hbase.regionserver.thrift.framed/.compact of the shared hbase-site.xml for this gateway only.
  THRIFT_ARGS=(-threadpool -b 127.0.0.1 -p "$THRIFT_PORT")
  [ "$TRANSPORT" = framed ] && THRIFT_ARGS+=(-f)
  [ "$PROTOCOL" = compact ] && THRIFT_ARGS+=(-c)
  start_java "$NAME" "$HBASE_THRIFT_HEAP" org.apache.hadoop.hbase.thrift.ThriftServer "${THRIFT_ARGS[@]}" start
  wait_ready
fi
trap - INT TERM
log "ready in $((SECONDS - T0))s: $NAME 127.0.0.1:$THRIFT_PORT ($TRANSPORT, $PROTOCOL), zookeeper 127.0.0.1:$HBASE_ZK_PORT, dir $RUN"
echo "HBASE_THRIFT_PORT=$THRIFT_PORT HBASE_ZK_PORT=$HBASE_ZK_PORT HBASE_RUN_DIR=$RUN"
