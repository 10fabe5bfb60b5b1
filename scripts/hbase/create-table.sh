#!/usr/bin/env bash
# Create a pre-split table (explicit split keys) in the standalone HBase of a run dir, or any HBase
# whose ZooKeeper quorum is given. Thrift1 (happybase) has no way to pass split keys.
#
#   create-table.sh [--dir DIR | --zk HOST:PORT] [--max-versions N] TABLE FAMILY[,FAMILY...] [SPLIT ...]
#
# SPLIT uses HBase's Bytes.toBytesBinary syntax ("4000", "\x80"). Exit 3 if the table exists.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ZK=""
MAX_VERSIONS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) HBASE_RUN_DIR="$2"; shift 2 ;;
    --zk) ZK="$2"; shift 2 ;;
    --max-versions) MAX_VERSIONS="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || die "usage: create-table.sh [--dir DIR | --zk HOST:PORT] [--max-versions N] TABLE FAMILY[,FAMILY...] [SPLIT ...]"
build_classpath
EXTRA=()
if [ -n "$ZK" ]; then
  EXTRA=(-Dhbase.zookeeper.quorum="${ZK%:*}" -Dhbase.zookeeper.property.clientPort="${ZK##*:}")
  CONF_CP=""
else
  [ -f "$HBASE_RUN_DIR/conf/hbase-site.xml" ] || die "no $HBASE_RUN_DIR/conf/hbase-site.xml: pass --dir of a running start.sh instance or --zk HOST:PORT"
  CONF_CP="$HBASE_RUN_DIR/conf:"
fi
# Client only: a small heap, quiet logging, and give up within ~30 s if ZooKeeper is unreachable.
exec java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/java.nio=ALL-UNNAMED \
  -Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true \
  -Dlog4j2.configurationFile="$HBASE_SCRIPTS/log4j2-client.properties" \
  "${EXTRA[@]}" -Dhbase.client.retries.number=5 \
  -cp "$CONF_CP$HBASE_CP:$TARGET/classes" CreateTable "$1" "$2" "$MAX_VERSIONS" "${@:3}"
