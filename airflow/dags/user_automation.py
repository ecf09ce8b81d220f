"""The seed's `user_automation` DAG, running cassflow instead of Python, Kafka-python and Spark.

Task `stream_data_from_api` does what the seed's task of that name did: for 60 seconds it
fetches users from https://randomuser.me/api/ (or cassflow's built-in generator when the API
does not answer), flattens them and produces them to Kafka topic `users_created`. It runs
`cassflow produce --duration 60s`.

Task `check_stream_caught_up` then waits until the stream job (`cassflow up` or
`cassflow stream`, running beside Airflow) has written everything produced into Cassandra
(`cassflow check lag --wait ...`) and checks that the table holds rows
(`cassflow check rows --min ...`). It is retried, since the stream job may be restarting.

Where cassflow is and which configuration it reads:
  - Airflow Variable `cassflow_bin` (or env AIRFLOW_VAR_CASSFLOW_BIN), else `cassflow` on the
    worker's PATH. (Not an env var CASSFLOW_BIN: cassflow reads every CASSFLOW_* variable as a
    config key and refuses unknown ones.)
  - Airflow Variable `cassflow_config` (or env AIRFLOW_VAR_CASSFLOW_CONFIG): passed as
    `--config`. Unset: cassflow reads CASSFLOW_CONFIG from the worker's environment, and every
    key can be set by CASSFLOW_* environment variables (see docs/configuration.md).

Per-run settings (trigger with conf, e.g. `airflow dags trigger user_automation -c
'{"duration": "10s"}'`): `duration`, `source`, `rate`, `catch_up_timeout`, `min_rows`.
They are validated before a run starts, and passed to the shell quoted.
"""

from __future__ import annotations

import shlex
from datetime import datetime, timedelta

from airflow import DAG
from airflow.models.param import Param
from airflow.operators.bash import BashOperator

# The Variable `cassflow_bin` wins at run time.
DEFAULT_BIN = "cassflow"

DURATION_PATTERN = r"^[0-9]+(ms|s|m|h)$"

# `cassflow [--config PATH]`, resolved when a task runs (Variables are read then, not at parse
# time, so the scheduler does not hit the metadata database on every parse).
CASSFLOW = (
    "{{ var.value.get('cassflow_bin', cassflow_default_bin) | shquote }}"
    "{% set cfg = var.value.get('cassflow_config', '') %}"
    "{% if cfg %} --config {{ cfg | shquote }}{% endif %}"
)

PRODUCE = (
    f"{CASSFLOW} produce"
    " --duration {{ params.duration | shquote }}"
    " --source {{ params.source | shquote }}"
    "{% if params.rate %} --rate {{ params.rate | string | shquote }}{% endif %}"
)

CHECK = (
    "set -e\n"
    f"{CASSFLOW} check lag --wait {{{{ params.catch_up_timeout | shquote }}}}\n"
    f"{CASSFLOW} check rows --min {{{{ params.min_rows | string | shquote }}}}\n"
)

default_args = {
    "owner": "cassflow",
    "retries": 1,
    "retry_delay": timedelta(seconds=30),
}

with DAG(
    dag_id="user_automation",
    description="Produce users to Kafka for a minute, then check the stream wrote them to Cassandra",
    default_args=default_args,
    start_date=datetime(2023, 9, 3, 10, 0),
    schedule="@daily",
    catchup=False,
    max_active_runs=1,
    tags=["cassflow"],
    user_defined_filters={"shquote": shlex.quote},
    user_defined_macros={"cassflow_default_bin": DEFAULT_BIN},
    params={
        "duration": Param(
            "60s",
            type="string",
            pattern=DURATION_PATTERN,
            description="How long to produce users (the seed produced for 60 s).",
        ),
        "source": Param(
            "auto",
            type="string",
            enum=["auto", "randomuser", "generator"],
            description="auto: the randomuser API, or the built-in generator when it does not answer.",
        ),
        "rate": Param(
            0,
            type="integer",
            minimum=0,
            description="Users per second; 0 for as fast as the source allows.",
        ),
        "catch_up_timeout": Param(
            "5m",
            type="string",
            pattern=DURATION_PATTERN,
            description="How long the stream job may take to catch up with the topic.",
        ),
        "min_rows": Param(
            1,
            type="integer",
            minimum=0,
            description="Fewest rows the Cassandra table must hold afterwards.",
        ),
    },
    doc_md=__doc__,
) as dag:
    stream_data_from_api = BashOperator(
        task_id="stream_data_from_api",
        bash_command=PRODUCE,
        # The Kafka producer retries on its own; a retry here would produce another minute.
        retries=0,
        execution_timeout=timedelta(hours=1),
    )

    check_stream_caught_up = BashOperator(
        task_id="check_stream_caught_up",
        bash_command=CHECK,
        retries=3,
        retry_delay=timedelta(seconds=30),
        execution_timeout=timedelta(hours=1),
    )

    stream_data_from_api >> check_stream_caught_up
