"""
### radar_nowcast

Cray's precipitation nowcasting, a run per 30 minutes of radar (stages: `tasks/radar_nowcast/`):
**wait_for_frames** (`raw/radar/dt=D/`, D = the interval's day) → **ingest** the day's frames
up to the interval's end (late frames are picked up; bad ones are quarantined with a reason) →
**forecast** the next hour at every complete window of the interval (the nowcaster,
`advection_radar` by default, persistence, flow) into `forecasts/radar` → **verify** the forecasts valid in the interval and the hour
before it into `scores/radar`, with pictures. Each stage rewrites only its interval of the
day, atomically; one run at a time, since runs of a day share its partitions. Trigger with
config `{"start": "00:00", "end": "24:00"}` to (re)run a whole day.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, chain, dag
from airflow.timetables.interval import CronDataIntervalTimetable

from lakesight_airflow.operators import LakesightStageOperator
from lakesight_airflow.sensors import LakePartitionSensor

DAY = "{{ data_interval_start.strftime('%Y-%m-%d') }}"
START = "{{ params.start or data_interval_start.isoformat() }}"
END = "{{ params.end or data_interval_end.isoformat() }}"
HOUR_BEFORE = "{{ params.start or (data_interval_start - macros.timedelta(hours=1)).isoformat() }}"
INTERVALS = {"ingest": ("{{ params.start or '' }}", END), "forecast": (START, END),
             "verify": (HOUR_BEFORE, END)}  # fmt: skip


@dag(
    schedule=CronDataIntervalTimetable("*/30 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["lakesight", "radar_nowcast"],
    default_args={"owner": "lakesight", "retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "start": Param(None, type=["null", "string"]),
        "end": Param(None, type=["null", "string"]),
    },
    doc_md=__doc__,
)
def radar_nowcast():
    wait = LakePartitionSensor(  # frames arrive all day: the folder is enough (whole=False)
        task_id="wait_for_frames", dataset="raw/radar", dt=DAY, whole=False,
        mode="reschedule", poke_interval=timedelta(minutes=2), timeout=timedelta(hours=2),
    )  # fmt: skip
    chain(wait, *[
        LakesightStageOperator(task_id=name, stage=f"radar_nowcast.{name}", dt=DAY,
                               stage_options={"--start": start, "--end": end})
        for name, (start, end) in INTERVALS.items()
    ])  # fmt: skip


radar_nowcast()
