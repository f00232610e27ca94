"""The results store: one SQLite file of runs and scored samples (see repository.py)."""

from gapbench.store.records import (
    RunInfo,
    RunMeasures,
    RunRow,
    SampleKey,
    SampleRecord,
    settings_hash,
)
from gapbench.store.repository import DB_ENV_VAR, Store, default_db_path

__all__ = [
    "DB_ENV_VAR",
    "RunInfo",
    "RunMeasures",
    "RunRow",
    "SampleKey",
    "SampleRecord",
    "Store",
    "default_db_path",
    "settings_hash",
]
