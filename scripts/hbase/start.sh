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
  # Port 0 for master/RS is what hbase.localcluster.assign.random.ports does; an explicit port wins.
  cat >"$RUN/conf/hbase-site.xml" <<EOF
<?xml version="1.0"?>
<!-- Written by scripts/hbase/start.sh; rewritten on every start. -->
<configuration>
  <property><name>hbase.cluster.distributed</name><value>false</value></property>
  <property><name>hbase.tmp.dir</name><value>$RUN/tmp</value></property>
  <property><name>hbase.rootdir</name><value>file://$RUN/hbase</value></property>
  <property><name>hbase.zookeeper.property.dataDir</name><value>$RUN/zookeeper</value></property>
  <property><name>hbase.zookeeper.quorum</name><value>127.0.0.1</value></property>
  <property><name>hbase.zookeeper.property.clientPort</name><value>$HBASE_ZK_PORT</value></property>
  <!-- LocalFileSystem has no hflush/hsync; without this the WAL refuses to start. Test use only. -->
  <property><name>hbase.unsafe.stream.capability.enforce</name><value>false</value></property>
  <property><name>hbase.localcluster.assign.random.ports</name><value>true</value></property>
  <property><name>hbase.master.port</name><value>$HBASE_MASTER_PORT</value></property>
  <property><name>hbase.regionserver.port</name><value>$HBASE_RS_PORT</value></property>
  <property><name>hbase.master.info.port</name><value>-1</value></property>
  <property><name>hbase.regionserver.info.port</name><value>-1</value></property>
  <property><name>hbase.thrift.info.port</name><value>-1</value></property>
  <!-- Register and bind as 127.0.0.1 whatever the machine's hostname resolves to. -->
  <property><name>hbase.master.hostname</name><value>127.0.0.1</value></property>
  <property><name>hbase.unsafe.regionserver.hostname</name><value>127.0.0.1</value></property>
  <property><name>hbase.master.ipc.address</name><value>127.0.0.1</value></property>
  <property><name>hbase.regionserver.ipc.address</name><value>127.0.0.1</value></property>
  <property><name>hbase.zookeeper.property.clientPortAddress</name><value>127.0.0.1</value></property>
  <!-- Thrift1 as happybase expects it: threadpool server, buffered transport, binary protocol. -->
  <property><name>hbase.regionserver.thrift.framed</name><value>false</value></property>
  <property><name>hbase.regionserver.thrift.compact</name><value>false</value></property>
  <property><name>hbase.regionserver.thrift.http</name><value>false</value></property>
  <property><name>hbase.thrift.server.socket.read.timeout</name><value>600000</value></property>
  <!-- Scanners survive slow consumers (an executor running models between two batches). -->
  <property><name>hbase.client.scanner.timeout.period</name><value>300000</value></property>
  <!-- A loaded 2-core box can stall for seconds; local mode's default ZK session is 10 s. -->
  <property><name>zookeeper.session.timeout.localHBaseCluster</name><value>30000</value></property>
  <!-- Fewer threads: this instance serves tests, not traffic. -->
  <property><name>hbase.regionserver.handler.count</name><value>10</value></property>
  <property><name>hbase.master.handler.count</name><value>10</value></property>
</configuration>
EOF
  cat >"$RUN/conf/log4j2.properties" <<'EOF'
status = warn
name = imgpipe-hbase
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %-5p [%t] %c{2}: %.1000m%n
appender.RFA.type = RollingFile
appender.RFA.name = RFA
appender.RFA.fileName = ${sys:hbase.log.dir:-.}/${sys:hbase.log.file:-hbase.log}
appender.RFA.filePattern = ${sys:hbase.log.dir:-.}/${sys:hbase.log.file:-hbase.log}.%i
appender.RFA.layout.type = PatternLayout
appender.RFA.layout.pattern = %d{ISO8601} %-5p [%t] %c{2}: %.1000m%n
appender.RFA.policies.type = Policies
appender.RFA.policies.size.type = SizeBasedTriggeringPolicy
appender.RFA.policies.size.size = 64MB
appender.RFA.strategy.type = DefaultRolloverStrategy
appender.RFA.strategy.max = 2
appender.NullAppender.type = Null
appender.NullAppender.name = NullAppender
rootLogger = ${sys:hbase.root.logger:-INFO,console}
logger.SecurityLogger.name = SecurityLogger
logger.SecurityLogger = ${sys:hbase.security.logger:-INFO,NullAppender}
logger.SecurityLogger.additivity = false
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = WARN
logger.hadoop.name = org.apache.hadoop.metrics2
logger.hadoop.level = WARN
EOF
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
