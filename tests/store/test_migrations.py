"""Schema migrations: applied once, in order, atomically; newer databases are refused untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from gapbench.errors import StoreError, UsageError
from gapbench.store import Store
from gapbench.store import migrations as mig


def fingerprint(db: Path) -> tuple[str, list[str]]:
    """The file's bytes and the names next to it: a refused database must keep both."""
    names = sorted(p.name for p in db.parent.iterdir())
    return hashlib.sha256(db.read_bytes()).hexdigest(), names


def applied_rows(db: Path) -> list[tuple[int, str, float]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, name, applied_at FROM _migrations ORDER BY id").fetchall()


def user_version(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_fresh_database_gets_every_migration(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    Store.open(db).close()
    names = [name for _, name, _ in applied_rows(db)]
    assert names == [fn.__name__ for fn in mig.MIGRATIONS]
    assert len(set(names)) == len(names) >= 1
    assert user_version(db) == len(mig.MIGRATIONS)
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "samples", "_migrations"} <= tables


def test_reopening_applies_nothing(tmp_path: Path) -> None:
    db = tmp_path / "again.db"
    Store.open(db).close()
    before = applied_rows(db)
    Store.open(db).close()
    assert applied_rows(db) == before
    with sqlite3.connect(db, isolation_level=None) as conn:
        assert mig.migrate(conn, str(db)) == []


def test_a_new_migration_is_applied_once_on_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "grow.db"
    Store.open(db).close()
    calls: list[int] = []

    def m999_add_notes(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute("ALTER TABLE runs ADD COLUMN notes TEXT")

    monkeypatch.setattr(mig, "MIGRATIONS", [*mig.MIGRATIONS, m999_add_notes])
    Store.open(db).close()
    Store.open(db).close()
    assert calls == [1]
    assert [name for _, name, _ in applied_rows(db)][-1] == "m999_add_notes"
    assert user_version(db) == len(mig.MIGRATIONS)
    with sqlite3.connect(db) as conn:
        assert "notes" in {r[1] for r in conn.execute("PRAGMA table_info(runs)")}


def test_a_failing_migration_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "fail.db"
    Store.open(db).close()
    before = applied_rows(db), user_version(db)

    def m998_half_done(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x INTEGER)")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(mig, "MIGRATIONS", [*mig.MIGRATIONS, m998_half_done])
    with pytest.raises(RuntimeError, match="migration bug"):
        Store.open(db)
    assert (applied_rows(db), user_version(db)) == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name='half'").fetchone() is None


@pytest.mark.parametrize("readonly", [False, True])
def test_higher_user_version_is_refused_untouched(tmp_path: Path, readonly: bool) -> None:
    db = tmp_path / "newer.db"
    newer = len(mig.MIGRATIONS) + 3
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE future (x)")
        conn.execute(f"PRAGMA user_version = {newer}")
    before = fingerprint(db)
    with pytest.raises(StoreError, match="newer gapbench") as err:
        Store.open(db, readonly=readonly)
    assert f"schema {newer}, this one knows {len(mig.MIGRATIONS)}" in str(err.value)
    assert "upgrade gapbench or use another --db" in str(err.value)
    assert fingerprint(db) == before


def test_unknown_migration_name_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "unknown.db"
    Store.open(db).close()
    with sqlite3.connect(db) as conn:
        # Same user_version as ours: only the recorded name tells that a newer gapbench wrote it.
        conn.execute(
            "INSERT INTO _migrations (name, applied_at) VALUES ('m500_from_the_future', 0)"
        )
    before = fingerprint(db)
    with pytest.raises(StoreError, match="newer gapbench"):
        Store.open(db)
    assert fingerprint(db) == before


def test_another_programs_database_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "theirs.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE contacts (name TEXT)")
    before = fingerprint(db)
    with pytest.raises(UsageError, match="not a gapbench database"):
        Store.open(db)
    assert fingerprint(db) == before


def test_readonly_refuses_an_older_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "older.db"
    Store.open(db).close()

    def m997_later(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE later (x)")

    monkeypatch.setattr(mig, "MIGRATIONS", [*mig.MIGRATIONS, m997_later])
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with pytest.raises(StoreError, match="older gapbench"):
        Store.open(db, readonly=True)
    # Only the bytes: a read-only reader of a WAL file may leave empty -wal/-shm files behind,
    # since it is not allowed to delete them; the next writer tidies them up.
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_a_schema_1_database_upgrades_and_keeps_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database written before run measures existed gains the columns; old runs read as
    unmeasured and new runs store their measures."""
    from gapbench.store import RunInfo, RunMeasures

    db = tmp_path / "old.db"
    monkeypatch.setattr(mig, "MIGRATIONS", mig.MIGRATIONS[:1])
    info = RunInfo(
        gapbench_version="0.0.1", model_id="m", backend="scripted", engine_version="x",
        sampling={"temperature": 0.0}, settings_hash="h",
    )  # fmt: skip
    with Store.open(db) as store:
        old_run = store.start_run(info)
    assert user_version(db) == 1
    monkeypatch.undo()

    with Store.open(db) as store:
        new_run = store.start_run(info)
        store.finish_run(new_run, "completed", RunMeasures(12.5, 321.0))
        runs = {run.id: run for run in store.runs()}
    assert user_version(db) == len(mig.MIGRATIONS)
    assert runs[old_run].measures is None and runs[old_run].info.model_id == "m"
    assert runs[new_run].measures == RunMeasures(12.5, 321.0)


def test_a_schema_3_database_with_samples_upgrades_to_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m004 rebuilds the samples table to put the draw in its key: every stored row survives,
    value for value, as draw 0; the indexes come back; and a second draw of a stored instance can
    then be added beside the first while a repeat of the first is still refused."""
    from gapbench.store import RunInfo, SampleKey, SampleRecord

    db = tmp_path / "schema3.db"
    monkeypatch.setattr(mig, "MIGRATIONS", mig.MIGRATIONS[:3])
    info = RunInfo(
        gapbench_version="0.0.3", model_id="m", backend="scripted", engine_version="x",
        sampling={"temperature": 0.0}, settings_hash="h",
    )  # fmt: skip
    with Store.open(db) as store:
        run = store.start_run(info)
    assert user_version(db) == 3
    monkeypatch.undo()
    # Rows written as gapbench wrote them at schema 3 (no draw column), failures and NULLs too.
    old_columns = (
        "model_id, task, task_version, seed, instance_index, difficulty, settings_hash, run_id, "
        "prompt, output, reasoning, extracted, extraction_ok, correct, reference, prompt_tokens, "
        "completion_tokens, finish_reason, ttft_s, latency_s, error, created_at, "
        "reasoning_tokens, retries"
    )
    old_rows = [
        ("m", "arith", "1", 0, i, "easy", "h", run, f"q{i} 漢字", f"Answer: {i}",
         None if i % 2 else "thought", str(i), 1, int(i % 3 == 0), str(i), 10 + i, 5, "stop",
         None if i == 4 else 0.25, 1.5, "boom" if i == 4 else None, 1000.0 + i,
         None if i % 2 else 7, i % 2)
        for i in range(6)
    ]  # fmt: skip
    with sqlite3.connect(db) as conn:
        conn.executemany(
            f"INSERT INTO samples ({old_columns}) VALUES ({', '.join('?' * 24)})", old_rows
        )
        before = conn.execute(f"SELECT id, {old_columns} FROM samples ORDER BY id").fetchall()

    with Store.open(db) as store:
        assert store.done_draws("m", "arith", "1", 0, "easy", "h") == {
            (i, 0) for i in range(6) if i != 4
        }
        assert [s.key.draw for s in store.samples(include_failed=True)] == [0] * 6
        second = SampleRecord(
            key=SampleKey("m", "arith", "1", 0, 0, "easy", "h", draw=1), run_id=run,
            prompt="q0", output="Answer: 1", extracted="1", extraction_ok=True, correct=False,
            reference="0", prompt_tokens=10, completion_tokens=2, finish_reason="stop",
            latency_s=1.0,
        )  # fmt: skip
        assert store.add_sample(second)
        repeat = SampleRecord(
            key=SampleKey("m", "arith", "1", 0, 0, "easy", "h"), run_id=run, prompt="q0",
            output="other", extracted="9", extraction_ok=True, correct=False, reference="0",
            prompt_tokens=10, completion_tokens=1, finish_reason="stop", latency_s=1.0,
        )  # fmt: skip
        assert not store.add_sample(repeat)
    assert user_version(db) == len(mig.MIGRATIONS)
    assert "m004_sample_draw" in [name for _, name, _ in applied_rows(db)]
    with sqlite3.connect(db) as conn:
        after = conn.execute(
            f"SELECT id, {old_columns}, draw FROM samples WHERE id <= 6 ORDER BY id"
        ).fetchall()
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert after == [(*row, 0) for row in before]
    assert {"samples_task", "samples_run_id"} <= indexes
    assert "samples_m004" not in tables


def test_a_schema_4_database_gains_claims_and_run_holders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m005 adds the claims table and the holder and measure columns of runs; a run an older
    gapbench left 'running' keeps its status (nothing can tell whether its process lives)."""
    from gapbench.store import RunInfo, RunMeasures

    db = tmp_path / "schema4.db"
    monkeypatch.setattr(mig, "MIGRATIONS", mig.MIGRATIONS[:4])
    info = RunInfo(
        gapbench_version="0.0.4", model_id="m", backend="scripted", engine_version="x",
        sampling={"temperature": 0.0}, settings_hash="h",
    )  # fmt: skip
    with Store.open(db) as store:
        old = store.start_run(info)
    monkeypatch.undo()
    with Store.open(db) as store:
        assert store.reap_dead_runs(1e12) == []
        new = store.start_run(info)
        store.finish_run(
            new, "completed", RunMeasures(2.0, 10.0, latency_seconds=1.5, generations=3)
        )
        runs = {run.id: run for run in store.runs()}
    assert runs[old].status == "running" and runs[old].holder is None
    assert runs[new].measures == RunMeasures(2.0, 10.0, latency_seconds=1.5, generations=3)
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert "claims" in tables
    assert "m005_claims_and_run_holders" in [name for _, name, _ in applied_rows(db)]


def test_a_schema_5_database_gains_prompt_phrasing_and_score_method(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m006: every stored sample takes its run's recorded prompt style, the first phrasing, and no
    score method (it was never kept); every other value survives."""
    from gapbench.store import RunInfo

    db = tmp_path / "schema5.db"
    monkeypatch.setattr(mig, "MIGRATIONS", mig.MIGRATIONS[:5])
    runs = {}
    with Store.open(db) as store:
        for style in ("chat", "fewshot-3"):
            info = RunInfo(
                gapbench_version="0.0.5", model_id=style, backend="scripted", engine_version="x",
                sampling={"temperature": 0.0, "prompt_style": style}, settings_hash="h",
            )  # fmt: skip
            runs[style] = store.start_run(info)
    with sqlite3.connect(db) as conn:
        for style, run_id in runs.items():
            conn.execute(
                "INSERT INTO samples (model_id, task, task_version, seed, instance_index, "
                "difficulty, settings_hash, draw, run_id, prompt, output, extracted, "
                "extraction_ok, correct, reference, prompt_tokens, completion_tokens, "
                "finish_reason, latency_s, created_at, retries) VALUES "
                "(?, 'arith', '1', 0, 0, 'easy', 'h', 0, ?, 'p', 'Answer: 4', '4', 1, 1, '4', "
                "3, 2, 'stop', 0.5, 1000.0, 0)",
                (style, run_id),
            )
    monkeypatch.undo()
    with Store.open(db) as store:
        stored = {s.key.model_id: s for s in store.samples()}
    assert {m: (s.prompt_style, s.prompt_variant, s.score_method) for m, s in stored.items()} == {
        "chat": ("chat", 0, None),
        "fewshot-3": ("fewshot-3", 0, None),
    }
    sample = stored["chat"]
    assert (sample.output, sample.extracted, sample.correct, sample.latency_s) == (
        "Answer: 4", "4", True, 0.5,
    )  # fmt: skip
    assert "m006_sample_prompt_and_score_method" in [name for _, name, _ in applied_rows(db)]


def _rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(db) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name != '_migrations'"
            )
        ]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}


def test_a_schema_1_file_with_samples_upgrades_through_every_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file as the first gapbench wrote it, runs and samples (failures and NULLs included),
    opened by this one: every migration runs in turn and every row keeps every value; then the
    file, now current, is opened again (as a writer and as a reader) and nothing changes."""
    db = tmp_path / "schema1.db"
    monkeypatch.setattr(mig, "MIGRATIONS", mig.MIGRATIONS[:1])
    Store.open(db).close()
    monkeypatch.undo()
    run_columns = (
        "gapbench_version, model_id, backend, engine_version, sampling, settings_hash, "
        "batch_size, device, command, created_at, status, finished_at"
    )
    sample_columns = (
        "model_id, task, task_version, seed, instance_index, difficulty, settings_hash, run_id, "
        "prompt, output, reasoning, extracted, extraction_ok, correct, reference, prompt_tokens, "
        "completion_tokens, finish_reason, ttft_s, latency_s, error, created_at"
    )
    with sqlite3.connect(db) as conn:
        conn.execute(
            f"INSERT INTO runs ({run_columns}) VALUES ('0.0.1', 'm', 'scripted', 'x', "
            """'{"prompt_style":"chat"}', 'h', 1, 'cpu', 'gapbench run', 5.0, 'completed', 6.0)"""
        )
        conn.executemany(
            f"INSERT INTO samples ({sample_columns}) VALUES ({', '.join('?' * 22)})",
            [
                ("m", "arith", "1", 2**40, i, "easy", "h", 1, f"q{i} 漢字", f"Answer: {i}",
                 None if i % 2 else "r", None if i == 3 else str(i), int(i != 3), int(i % 2),
                 str(i), 10 + i, 5, "stop", None if i == 2 else 0.25, 1.5 + i,
                 "boom" if i == 2 else None, 1000.0 + i)
                for i in range(5)
            ],
        )  # fmt: skip
        runs_before = conn.execute(f"SELECT id, {run_columns} FROM runs").fetchall()
        samples_before = conn.execute(f"SELECT id, {sample_columns} FROM samples").fetchall()
    assert user_version(db) == 1

    with Store.open(db) as store:
        samples = store.samples(include_failed=True)
    assert user_version(db) == len(mig.MIGRATIONS)
    with sqlite3.connect(db) as conn:
        assert conn.execute(f"SELECT id, {run_columns} FROM runs").fetchall() == runs_before
        assert conn.execute(f"SELECT id, {sample_columns} FROM samples").fetchall() == (
            samples_before
        )
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [(s.key.index, s.key.draw, s.prompt_style, s.error) for s in samples] == [
        (i, 0, "chat", "boom" if i == 2 else None) for i in range(5)
    ]

    current = _rows(db)
    Store.open(db).close()
    Store.open(db, readonly=True).close()
    assert _rows(db) == current
