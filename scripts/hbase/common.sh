# Shared by start.sh, stop.sh and create-table.sh: settings, classpath, JVM flags. Sourced, never run.
# shellcheck shell=bash

HBASE_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HBASE_SCRIPTS/../.." && pwd)"
TARGET="$HBASE_SCRIPTS/target"
source "$HBASE_SCRIPTS/../lib/pidfile.sh"

die() { echo "hbase: $*" >&2; exit 1; }
log() { echo "hbase: $*" >&2; }

# The run dir holds conf/, logs/, data and the PID files of one standalone instance.
HBASE_RUN_DIR="${HBASE_RUN_DIR:-$TARGET/run}"

# Which python can import happybase (the readiness probe) and pick free ports.
find_python() {
  local candidates=("${IMGPIPE_PYTHON:-}" "$REPO_ROOT/.venv/bin/python" python3 python)
  for py in "${candidates[@]}"; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import happybase' >/dev/null 2>&1; then
      echo "$py"
      return 0
    fi
  done
  return 1
}

# Resolve the runtime classpath once (Maven Central -> ~/.m2) and compile the Java helper.
# Cached in target/; redone only when pom.xml or the helper source is newer than the cache.
build_classpath() {
  local cp_file="$TARGET/classpath.txt"
  if [ ! -s "$cp_file" ] || [ "$HBASE_SCRIPTS/pom.xml" -nt "$cp_file" ]; then
    command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is needed to resolve the HBase jars; install it (apt-get install maven)"
    log "resolving the HBase classpath with Maven (first run downloads ~150 MB into ~/.m2)"
    mkdir -p "$TARGET"
    if ! mvn -B -q -Dstyle.color=never -f "$HBASE_SCRIPTS/pom.xml" dependency:build-classpath \
        -DincludeScope=runtime -Dmdep.outputFile="$cp_file.tmp" >"$TARGET/maven.log" 2>&1; then
      tail -n 30 "$TARGET/maven.log" >&2
      die "Maven could not resolve the HBase classpath (full log: $TARGET/maven.log)"
    fi
    mv "$cp_file.tmp" "$cp_file"
  fi
  HBASE_CP="$(cat "$cp_file")"
  local src="$HBASE_SCRIPTS/src/CreateTable.java" classes="$TARGET/classes"
  if [ ! -f "$classes/CreateTable.class" ] || [ "$src" -nt "$classes/CreateTable.class" ] \
      || [ "$cp_file" -nt "$classes/CreateTable.class" ]; then
    mkdir -p "$classes"
    javac -nowarn -d "$classes" -cp "$HBASE_CP" "$src" || die "could not compile $src"
  fi
}

# What bin/hbase adds on JDK >= 11 (HBase 2.6 bin/hbase add_jdk11_jvm_flags), plus logging setup.
jvm_flags() {  # $1 = log file name (inside $HBASE_RUN_DIR/logs)
  JVM_FLAGS=(
    -XX:+UseSerialGC
    -XX:TieredStopAtLevel=1
    -XX:OnOutOfMemoryError="kill -9 %p"
    -Djava.net.preferIPv4Stack=true
    -Djava.util.logging.config.class=org.apache.hadoop.hbase.logging.JulToSlf4jInitializer
    -Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true
    --add-modules jdk.unsupported
    --add-opens java.base/java.io=ALL-UNNAMED
    --add-opens java.base/java.nio=ALL-UNNAMED
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens java.base/java.lang=ALL-UNNAMED
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens java.base/java.util=ALL-UNNAMED
    --add-opens java.base/java.util.concurrent=ALL-UNNAMED
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
    --add-exports java.security.jgss/sun.security.krb5=ALL-UNNAMED
    --add-exports java.base/sun.net.dns=ALL-UNNAMED
    --add-exports java.base/sun.net.util=ALL-UNNAMED
    -Dhbase.log.dir="$HBASE_RUN_DIR/logs"
    -Dhbase.log.file="$1"
    -Dhbase.home.dir="$HBASE_RUN_DIR"
    -Dhbase.id.str=imgpipe
    -Dhbase.root.logger=INFO,RFA
    -Dhbase.security.logger=INFO,NullAppender
    -Dlog4j2.configurationFile="$HBASE_RUN_DIR/conf/log4j2.properties"
  )
}

# Each JVM is a component with a name: `master`, or a Thrift gateway `thrift`, `thrift2`, ... Its PID file is
# DIR/NAME.pid, its logs DIR/logs/hbase-NAME.log and NAME.out.
component_class() {  # $1 = name
  case "$1" in
    master) echo org.apache.hadoop.hbase.master.HMaster ;;
    thrift*) echo org.apache.hadoop.hbase.thrift.ThriftServer ;;
    *) die "Expected a component 'master' or 'thrift[NAME]', but got '$1'" ;;
  esac
}

# A PID counts only while /proc shows that process running the component's class from this run dir,
# so a recycled PID is never signalled (scripts/lib/pidfile.sh).
pid_alive() {  # $1 = name
  pid_matches "$HBASE_RUN_DIR/$1.pid" "-Dhbase.home.dir=$HBASE_RUN_DIR" "$(component_class "$1")"
}

# Whether a component runs; a stale PID file is removed, with a message.
running() {  # $1 = name
  pid_running "$HBASE_RUN_DIR/$1.pid" "-Dhbase.home.dir=$HBASE_RUN_DIR" "$(component_class "$1")"
}

stop_component() {  # $1 = name, $2 = grace seconds
  pid_stop "$HBASE_RUN_DIR/$1.pid" "$2" "$1" "-Dhbase.home.dir=$HBASE_RUN_DIR" "$(component_class "$1")"
}

# The Thrift gateways that have a PID file in the run dir, default one first.
gateway_names() {
  local f
  for f in "$HBASE_RUN_DIR"/thrift.pid "$HBASE_RUN_DIR"/thrift?*.pid; do
    [ -f "$f" ] && basename "$f" .pid
  done
  return 0
}

check_gateway_name() {  # $1 = name
  [[ "$1" =~ ^thrift[A-Za-z0-9_-]*$ ]] \
    || die "Expected a gateway name 'thrift' followed by letters, digits, - or _ (e.g. thrift2), but got '$1'"
}

# Copy a template, replacing each @VAR@ by the value of the shell variable VAR (pure bash: envsubst is not
# on every machine, and sed would need every value escaped). A placeholder left over is an error.
fill_template() {  # $1 = template, $2 = output, rest = variable names
  local template="$1" out="$2" text var left
  shift 2
  text="$(<"$template")"
  for var in "$@"; do
    text="${text//"@$var@"/"${!var}"}"
  done
  left="$(grep -o '@[A-Z_][A-Z0-9_]*@' <<<"$text" | sort -u | tr '\n' ' ')" || true
  [ -z "$left" ] || die "Expected a value for every placeholder of $template, but got none for: $left"
  printf '%s\n' "$text" >"$out.tmp"
  mv "$out.tmp" "$out"
}
