"""Databases for the report, server and export tests: scripted runs, and hostile text."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from gapbench.cli.main import main
from gapbench.store.records import RunInfo
from gapbench.store.repository import Store

US_A = "scripted:usa?accuracy=0.7&origin=US&released=2024-06-01"
CN_B = "scripted:cnb?accuracy=0.6&origin=CN&released=2024-09-01"
CN_C = "scripted:cnc?accuracy=0.72&noanswer=0.1&origin=CN&released=2025-01-20"

XSS_OUTPUT = (
    'Sure.<script>window.__xss=1</script> <img src=x onerror="window.__xss=1"> '
    '<a href="javascript:window.__xss=1">click</a> </script><!-- \u2028 & done'
)
XSS_MODEL = 'evil<img src=x onerror="window.__xss=1"></script>'


def run(db: Path, *args: str) -> None:
    result = CliRunner().invoke(main, ["run", *args, "--db", str(db)], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def scripted_db(db: Path, n: int, *models: str, tasks: str = "arith,logic") -> Path:
    run(db, *(a for m in models for a in ("--model", m)), "--task", tasks, "--n", str(n))
    return db


def add_hostile(db: Path, like: str, count: int = 30) -> str:
    """A model with a hostile id whose stored texts are hostile, answering the first `count`
    instances `like` answered (alternately right and wrong); returns its id."""
    with Store.open(db) as store:
        template = [s for s in store.samples(model_ids=[like]) if s.key.draw == 0][:count]
        run_id = store.start_run(
            RunInfo(
                gapbench_version="0.1.0",
                model_id=XSS_MODEL,
                backend="scripted",
                engine_version=XSS_OUTPUT,
                sampling={"note": XSS_OUTPUT},
                settings_hash=template[0].key.settings_hash,
                device=XSS_OUTPUT,
                command=XSS_OUTPUT,
            )
        )
        store.add_samples(
            [
                replace(
                    s,
                    key=replace(s.key, model_id=XSS_MODEL),
                    run_id=run_id,
                    prompt=XSS_OUTPUT,
                    output=XSS_OUTPUT,
                    reasoning=XSS_OUTPUT,
                    extracted=XSS_OUTPUT,
                    reference=XSS_OUTPUT,
                    correct=i % 2 == 0,
                    score_method=XSS_OUTPUT,
                    error=XSS_OUTPUT if i % 7 == 3 else None,
                    created_at=0.0,
                )
                for i, s in enumerate(template)
            ]
        )
        store.finish_run(run_id, "completed")
    return XSS_MODEL
