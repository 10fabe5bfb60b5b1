"""Nightly imgpipe run of one date partition, then its HTML report, with Airflow's BashOperator.

Each DAG run processes the partition of its logical date ``{{ ds }}``:

* a dated folder or Parquet path: ``--set source.path=<imgpipe_input>/dt={{ ds }}`` (the default), or
* an HBase table: ``--set source.min_timestamp={{ ds }}`` and ``max_timestamp`` the day after, when the
  Variable ``imgpipe_partition`` is ``min_timestamp``,

into ``<imgpipe_output>/dt={{ ds }}``. Everything site-specific is an Airflow Variable (set it in the UI, with
``airflow variables set``, or as ``AIRFLOW_VAR_<NAME>`` in the environment):

    imgpipe_bin        the imgpipe executable (its virtualenv's bin/imgpipe)     default: imgpipe
    imgpipe_config     the job's YAML                                            default: /etc/imgpipe/nightly.yaml
    imgpipe_input      the folder holding dt=YYYY-MM-DD partitions                default: /data/photos
    imgpipe_output     the folder receiving dt=YYYY-MM-DD outputs                 default: /data/imgpipe
    imgpipe_partition  "path" (dated input folder) or "min_timestamp" (HBase)    default: path

imgpipe's exit codes decide what Airflow does: 1 (Spark, I/O, a source or sink failed) is retried, and a
retry resumes the interrupted run (``--resume``: committed chunks are kept); 2 (the config or a model is
invalid) and 3 (too many images failed) fail at once without retrying, since a retry cannot fix them,
so the failure alerts.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.exceptions import AirflowException, AirflowFailException  # type: ignore[no-redef]
    from airflow.operators.bash import BashOperator  # type: ignore[no-redef]

#: imgpipe's exit codes that no retry can fix: 2 = invalid config or model, 3 = too many images failed.
NO_RETRY_EXIT_CODES = (2, 3)


class ImgpipeBashOperator(BashOperator):
    """A BashOperator that fails without retrying when imgpipe exits 2 or 3 (retries stay for exit 1)."""

    def execute(self, context: Any) -> Any:
        try:
            return super().execute(context)
        except AirflowFailException:
            raise
        except AirflowException as exc:
            code = re.search(r"exit code (\d+)", str(exc))
            if code and int(code.group(1)) in NO_RETRY_EXIT_CODES:
                raise AirflowFailException(f"imgpipe exited {code.group(1)}: a retry cannot fix this. {exc}") from exc
            raise


_VAR = "var.value.get('{name}', '{default}')"
IMGPIPE = "{{ " + _VAR.format(name="imgpipe_bin", default="imgpipe") + " }}"
CONFIG = "{{ " + _VAR.format(name="imgpipe_config", default="/etc/imgpipe/nightly.yaml") + " }}"
INPUT = "{{ " + _VAR.format(name="imgpipe_input", default="/data/photos") + " }}/dt={{ ds }}"
OUTPUT = "{{ " + _VAR.format(name="imgpipe_output", default="/data/imgpipe") + " }}/dt={{ ds }}"
PARTITION = (
    "{% if " + _VAR.format(name="imgpipe_partition", default="path") + " == 'min_timestamp' %}"
    "--set source.min_timestamp={{ ds }} --set source.max_timestamp={{ macros.ds_add(ds, 1) }}"
    '{% else %}--set source.path="' + INPUT + '"{% endif %}'
)

# A retry (exit 1) finishes the interrupted run: --resume when a chunk manifest exists, a fresh run otherwise
# (a first attempt may fail before it planned anything). The output folder is this date's own, so the
# config's sink.mode should be overwrite or error, never append.
RUN = f"""
set -euo pipefail
out="{OUTPUT}"
resume=""
if [ -f "$out/_imgpipe/manifest.json" ] && [ ! -f "$out/summary.json" ]; then resume="--resume"; fi
exec "{IMGPIPE}" run "{CONFIG}" {PARTITION} --set sink.path="$out" --set run.run_id=nightly-{{{{ ds_nodash }}}} $resume
"""

REPORT = f'exec "{IMGPIPE}" report "{OUTPUT}" --out "{OUTPUT}/report.html" '

with DAG(
    dag_id="imgpipe_nightly",
    description="Detect, crop and embed the images of one day; write results, summary and an HTML report",
    schedule="30 2 * * *",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # two runs never write the same output at once
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["imgpipe"],
) as dag:
    run = ImgpipeBashOperator(task_id="imgpipe_run", bash_command=RUN, execution_timeout=timedelta(hours=12))
    report = ImgpipeBashOperator(task_id="imgpipe_report", bash_command=REPORT, retries=0)
    run >> report
