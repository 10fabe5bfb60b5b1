#!/usr/bin/env bash
# Start a standalone HBase (HMaster + RegionServer + in-process ZooKeeper, local filesystem) and the
# Thrift1 gateway on 127.0.0.1, then wait until happybase can use it. See README.md.
#
#   start.sh [all|master|thrift] [--dir DIR] [--thrift-port P] [--zk-port P] [--master-port P]
#            [--regionserver-port P] [--master-heap 512m] [--thrift-heap 256m] [--timeout S] [--clean]
#
# Every flag has an environment variable (HBASE_RUN_DIR, HBASE_THRIFT_PORT, HBASE_ZK_PORT,
# HBASE_MASTER_PORT, HBASE_RS_PORT, HBASE_MASTER_HEAP, HBASE_THRIFT_HEAP, HBASE_START_TIMEOUT).
# A port of 0 means "pick a free one". `start.sh thrift` (re)starts only the Thrift gateway with the
# ports recorded by the last full start in DIR/ports.env.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

COMPONENT=all
CLEAN=0
while [ $# -gt 0 ]; do
  case "$1" in
    all|master|thrift) COMPONENT="$1" ;;
    --dir) HBASE_RUN_DIR="$2"; shift ;;
    --thrift-port) HBASE_THRIFT_PORT="$2"; shift ;;
    --zk-port) HBASE_ZK_PORT="$2"; shift ;;
    --master-port) HBASE_MASTER_PORT="$2"; shift ;;
    --regionserver-port) HBASE_RS_PORT="$2"; shift ;;
    --master-heap) HBASE_MASTER_HEAP="$2"; shift ;;
    --thrift-heap) HBASE_THRIFT_HEAP="$2"; shift ;;
    --timeout) HBASE_START_TIMEOUT="$2"; shift ;;
    --clean) CLEAN=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
  shift
done
mkdir -p "$HBASE_RUN_DIR"
HBASE_RUN_DIR="$(cd "$HBASE_RUN_DIR" && pwd)"
RUN="$HBASE_RUN_DIR"

# A thrift-only restart reuses the ports of the full start unless told otherwise.
if [ "$COMPONENT" = thrift ] && [ -f "$RUN/ports.env" ]; then
  saved_thrift="${HBASE_THRIFT_PORT:-}" saved_zk="${HBASE_ZK_PORT:-}"
  source "$RUN/ports.env"
  HBASE_THRIFT_PORT="${saved_thrift:-$HBASE_THRIFT_PORT}"
  HBASE_ZK_PORT="${saved_zk:-$HBASE_ZK_PORT}"
fi
HBASE_THRIFT_PORT="${HBASE_THRIFT_PORT:-9090}"
HBASE_ZK_PORT="${HBASE_ZK_PORT:-2181}"
HBASE_MASTER_PORT="${HBASE_MASTER_PORT:-0}"
HBASE_RS_PORT="${HBASE_RS_PORT:-0}"
HBASE_MASTER_HEAP="${HBASE_MASTER_HEAP:-512m}"
HBASE_THRIFT_HEAP="${HBASE_THRIFT_HEAP:-256m}"
HBASE_START_TIMEOUT="${HBASE_START_TIMEOUT:-180}"

PY="$(find_python)" || die "no python with happybase found (set IMGPIPE_PYTHON); it is needed for the readiness probe"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
[ "$HBASE_THRIFT_PORT" = 0 ] && HBASE_THRIFT_PORT="$(free_port)"
[ "$HBASE_ZK_PORT" = 0 ] && HBASE_ZK_PORT="$(free_port)"

write_conf() {
  mkdir -p "$RUN/conf" "$RUN/logs" "$RUN/tmp"
  fill_template "$HBASE_SCRIPTS/conf/hbase-site.xml.in" "$RUN/conf/hbase-site.xml" \
    RUN HBASE_ZK_PORT HBASE_MASTER_PORT HBASE_RS_PORT
  fill_template "$HBASE_SCRIPTS/conf/log4j2.properties.in" "$RUN/conf/log4j2.properties"
  cat >"$RUN/ports.env" <<EOF
HBASE_THRIFT_PORT=$HBASE_THRIFT_PORT
HBASE_ZK_PORT=$HBASE_ZK_PORT
EOF
}

start_java() {  # $1 = name (master|thrift), $2 = heap, rest = main class + args
  local name="$1" heap="$2"
  shift 2
  if pid_alive "$RUN/$name.pid"; then
    die "$name is already running (pid $(cat "$RUN/$name.pid")); run stop.sh --dir $RUN first"
  fi
  jvm_flags "hbase-$name.log"
  # setsid: the JVMs get their own session, so a Ctrl-C in the caller's terminal does not reach them.
  setsid java -Dproc_"$name" -Xms64m -Xmx"$heap" "${JVM_FLAGS[@]}" -cp "$RUN/conf:$HBASE_CP" "$@" \
    >"$RUN/logs/$name.out" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

fail_with_logs() {
  log "$1"
  for f in "$RUN/logs/hbase-master.log" "$RUN/logs/master.out" "$RUN/logs/hbase-thrift.log" "$RUN/logs/thrift.out"; do
    [ -s "$f" ] || continue
    echo "----- last lines of $f -----" >&2
    grep -v '^\s*at ' "$f" | tail -n 25 >&2
  done
  "$HBASE_SCRIPTS/stop.sh" --dir "$RUN" "$COMPONENT" >&2 || true
  exit 1
}

# Poll until happybase works: a create/put/get/delete round trip for a full start (listing tables
# succeeds before the master can create tables), a table listing for a thrift-only restart.
wait_ready() {
  local deadline=$((SECONDS + HBASE_START_TIMEOUT)) err=""
  while [ $SECONDS -lt $deadline ]; do
    for name in master thrift; do
      if [ -f "$RUN/$name.pid" ] && [ "$COMPONENT" != thrift -o "$name" = thrift ] && ! pid_alive "$RUN/$name.pid"; then
        fail_with_logs "the $name JVM exited during start-up (see $RUN/logs)"
      fi
    done
    if err="$("$PY" - "$HBASE_THRIFT_PORT" "$COMPONENT" 2>&1 <<'EOF'
import sys, happybase
port, component = int(sys.argv[1]), sys.argv[2]
conn = happybase.Connection("127.0.0.1", port, timeout=20000, autoconnect=True)
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

[ "$CLEAN" = 1 ] && [ "$COMPONENT" = all ] && rm -rf "$RUN/hbase" "$RUN/zookeeper" "$RUN/tmp"
T0=$SECONDS
build_classpath
write_conf
if [ "$COMPONENT" != thrift ]; then
  start_java master "$HBASE_MASTER_HEAP" org.apache.hadoop.hbase.master.HMaster start
fi
if [ "$COMPONENT" != master ]; then
  start_java thrift "$HBASE_THRIFT_HEAP" org.apache.hadoop.hbase.thrift.ThriftServer \
    -threadpool -b 127.0.0.1 -p "$HBASE_THRIFT_PORT" start
  wait_ready
fi
log "ready in $((SECONDS - T0))s: thrift 127.0.0.1:$HBASE_THRIFT_PORT, zookeeper 127.0.0.1:$HBASE_ZK_PORT, dir $RUN"
echo "HBASE_THRIFT_PORT=$HBASE_THRIFT_PORT HBASE_ZK_PORT=$HBASE_ZK_PORT HBASE_RUN_DIR=$RUN"
