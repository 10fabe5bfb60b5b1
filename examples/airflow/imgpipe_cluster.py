"""Nightly imgpipe run on a Spark cluster, the SparkSubmitOperator way: the images that HBase received on
the run's logical date (``source.min_timestamp={{ ds }}``), submitted with ``spark-submit`` through an
Airflow Spark connection instead of a local ``spark.master``.

``spark-submit ... $(imgpipe entrypoint) config.yaml`` is the cluster entry point: the application is the
Python file ``imgpipe entrypoint`` prints on the Airflow worker (set it once as the Variable
``imgpipe_entrypoint``), and its arguments are those of ``imgpipe run``. The executors need nothing installed:
the config's ``spark.pack`` (an archive from ``imgpipe pack``) ships imgpipe and its dependencies, and the
models travel with the job (README, "Running on a cluster"). Variables:

    imgpipe_entrypoint  path printed by `imgpipe entrypoint`          default: /opt/imgpipe/entrypoint.py
    imgpipe_config      the job's YAML (an HBase source)             default: /etc/imgpipe/hbase-nightly.yaml
    imgpipe_bin         imgpipe, for the report task                  default: imgpipe
    imgpipe_report_dir  where summary.json and errors/ go, per day    default: /data/imgpipe-runs/photos

With apache-airflow-providers-apache-spark installed the run is a SparkSubmitOperator on the connection
``spark_imgpipe`` (master, deploy mode, queue). Without it this file still loads: the same spark-submit
command runs from a BashOperator, with the master from the Variable ``imgpipe_spark_master``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.operators.bash import BashOperator  # type: ignore[no-redef]

try:
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
except ImportError:  # the provider is optional: fall back to spark-submit from bash
    SparkSubmitOperator = None

ENTRYPOINT = "{{ var.value.get('imgpipe_entrypoint', '/opt/imgpipe/entrypoint.py') }}"
CONFIG = "{{ var.value.get('imgpipe_config', '/etc/imgpipe/hbase-nightly.yaml') }}"
IMGPIPE = "{{ var.value.get('imgpipe_bin', 'imgpipe') }}"
REPORT_DIR = "{{ var.value.get('imgpipe_report_dir', '/data/imgpipe-runs/photos') }}/dt={{ ds }}"
# One day of images: [ds, ds + 1 day), by HBase cell timestamp.
ARGS = [
    CONFIG,
    "--set", "source.min_timestamp={{ ds }}",
    "--set", "source.max_timestamp={{ macros.ds_add(ds, 1) }}",
    "--set", f"run.report_dir={REPORT_DIR}",
    "--set", "run.run_id=nightly-{{ ds_nodash }}",
]  # fmt: skip

with DAG(
    dag_id="imgpipe_cluster",
    description="imgpipe on a Spark cluster: one day of HBase images, detected, cropped, embedded, written back",
    schedule="0 3 * * *",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=15)},
    tags=["imgpipe", "spark"],
) as dag:
    if SparkSubmitOperator is not None:
        run = SparkSubmitOperator(
            task_id="imgpipe_run",
            conn_id="spark_imgpipe",
            application=ENTRYPOINT,
            application_args=ARGS,
            name="imgpipe-{{ ds_nodash }}",
            execution_timeout=timedelta(hours=12),
        )
    else:
        quoted = " ".join(f'"{arg}"' for arg in ARGS)
        run = BashOperator(
            task_id="imgpipe_run",
            bash_command=(
                "spark-submit --master \"{{ var.value.get('imgpipe_spark_master', 'yarn') }}\" "
                f'--name "imgpipe-{{{{ ds_nodash }}}}" "{ENTRYPOINT}" {quoted}'
            ),
            execution_timeout=timedelta(hours=12),
        )
    report = BashOperator(
        task_id="imgpipe_report",
        bash_command=f'exec "{IMGPIPE}" report "{REPORT_DIR}" --config "{CONFIG}" --out "{REPORT_DIR}/report.html" ',
        retries=0,
    )
    run >> report
