#!/usr/bin/env bash
# One day's imgpipe run from cron: input <IMGPIPE_INPUT>/dt=DAY -> output <IMGPIPE_OUTPUT>/dt=DAY, then the
# HTML report beside it. Safe to start again at any time:
#   - a lock (flock on <output>.lock) means two runs never write the same output at once: a second start
#     while the first still runs exits 75 (EX_TEMPFAIL) at once and touches nothing;
#   - an interrupted run (chunk manifest, no summary.json yet) is finished with --resume, keeping its
#     committed chunks;
#   - a finished run (summary.json present) is not redone.
# Exit codes are imgpipe's (0 ok; 1 failed, worth a retry; 2 config or model invalid; 3 too many bad
# images), plus 75 when another run holds the lock.
#
#   crontab:  30 2 * * *  IMGPIPE=/opt/imgpipe/.venv/bin/imgpipe /opt/imgpipe/examples/cron/imgpipe-nightly.sh >>/var/log/imgpipe/nightly.log 2>&1
#   by hand:  examples/cron/imgpipe-nightly.sh 2026-11-29 [more imgpipe run options, e.g. --set spark.master=...]
set -euo pipefail
IMGPIPE=${IMGPIPE:-imgpipe}
CONFIG=${IMGPIPE_CONFIG:-/etc/imgpipe/nightly.yaml}
DAY=${1:-$(date -u -d yesterday +%F)}
shift || true  # the rest goes to imgpipe run
INPUT=${IMGPIPE_INPUT:-/data/photos}/dt=$DAY
OUTPUT=${IMGPIPE_OUTPUT:-/data/imgpipe}/dt=$DAY

log() { echo "$(date -u +%FT%TZ) imgpipe-nightly $DAY: $*"; }

mkdir -p "$(dirname "$OUTPUT")"
exec 9>>"$OUTPUT.lock"
if ! flock --nonblock 9; then
    log "another run holds $OUTPUT.lock; not starting a second one"
    exit 75
fi

if [ -f "$OUTPUT/summary.json" ]; then
    log "already done: $OUTPUT/summary.json exists (remove it, or the output, to run this day again)"
    exit 0
fi
resume=()
if [ -f "$OUTPUT/_imgpipe/manifest.json" ]; then
    resume=(--resume)
    log "resuming the interrupted run in $OUTPUT"
fi

log "starting: $INPUT -> $OUTPUT"
status=0
"$IMGPIPE" run "$CONFIG" --set "source.path=$INPUT" --set "sink.path=$OUTPUT" \
    --set "run.run_id=nightly-${DAY//-/}" "${resume[@]}" "$@" || status=$?
if [ -f "$OUTPUT/summary.json" ]; then  # also after exit 3: the report shows what failed
    "$IMGPIPE" report "$OUTPUT" --out "$OUTPUT/report.html" || log "the report could not be written"
fi
log "finished with exit code $status"
exit "$status"
