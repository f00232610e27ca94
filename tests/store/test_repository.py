"""Round trips, uniqueness and resume semantics of the results store, on real SQLite files."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from gapbench.errors import NoResultsError, StoreError
from gapbench.store import RunInfo, SampleKey, SampleRecord, Store, default_db_path, settings_hash


def make_run(model_id: str = "m1", created_at: float = 0.0) -> RunInfo:
    return RunInfo(
        gapbench_version="0.1.0",
        model_id=model_id,
        model_sha256="ab" * 32,
        backend="scripted",
        engine_version="1.2.3",
        sampling={"temperature": 0.0, "max_tokens": 64, "stop": ["\n"]},
        settings_hash="0123456789abcdef",
        threads=2,
        batch_size=4,
        device="test cpu",
        command="gapbench run --model m1",
        created_at=created_at,
    )


def make_sample(
    run_id: int,
    index: int,
    *,
    model_id: str = "m1",
    task: str = "arith",
    task_version: str = "1",
    seed: int = 0,
    difficulty: str = "medium",
    settings: str = "0123456789abcdef",
    output: str = "Answer: 4",
    error: str | None = None,
    created_at: float = 1000.0,
    draw: int = 0,
) -> SampleRecord:
    key = SampleKey(model_id, task, task_version, seed, index, difficulty, settings, draw)
    return SampleRecord(
        key=key,
        run_id=run_id,
        prompt=f"What is 2+{index}? 漢字",
        output=output,
        reasoning="thinking" if index % 2 else None,
        extracted=None if error else "4",
        extraction_ok=error is None,
        correct=error is None and index % 3 == 0,
        reference="4",
        prompt_tokens=10 + index,
        completion_tokens=5,
        finish_reason="error" if error else "stop",
        ttft_s=None if error else 0.25,
        latency_s=1.5,
        error=error,
        created_at=created_at,
    )


def key(rec: SampleRecord) -> tuple[str, str, int]:
    return rec.key.model_id, rec.key.task, rec.key.index


def count_rows(db: Path, table: str = "samples") -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_default_db_path_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GAPBENCH_DB", raising=False)
    assert default_db_path() == Path("gapbench.db")
    monkeypatch.setenv("GAPBENCH_DB", str(tmp_path / "x.db"))
    assert default_db_path() == tmp_path / "x.db"
    monkeypatch.setenv("GAPBENCH_DB", "")
    assert default_db_path() == Path("gapbench.db")


def test_settings_hash_is_sha256_of_canonical_json() -> None:
    expected = hashlib.sha256(
        b'{"prompt_style":"chat","sampling":{"max_tokens":8,"temperature":0.5}}'
    ).hexdigest()[:16]
    assert settings_hash({"temperature": 0.5, "max_tokens": 8}, "chat") == expected
    assert settings_hash({"max_tokens": 8, "temperature": 0.5}, "chat") == expected
    assert settings_hash({"max_tokens": 8, "temperature": 0.5}, "completion") != expected
    assert settings_hash({"max_tokens": 9, "temperature": 0.5}, "chat") != expected


def test_runs_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with Store.open(db) as store:
        first = store.start_run(make_run("m1"))
        second = store.start_run(make_run("m2", created_at=42.0))
        store.finish_run(first, "completed")
        with pytest.raises(ValueError):
            store.finish_run(second, "running")
        with pytest.raises(ValueError):
            store.finish_run(999, "failed")
    with Store.open(db, readonly=True) as store:
        runs = store.runs()
        assert [r.id for r in runs] == [first, second]
        assert runs[0].status == "completed" and runs[0].finished_at is not None
        assert runs[0].created_at > 1e9  # set by the store: a real unix time
        assert runs[0].info == replace(make_run("m1"), created_at=runs[0].created_at)
        assert runs[1].status == "running" and runs[1].finished_at is None
        assert runs[1].info == make_run("m2", created_at=42.0)
        assert [r.id for r in store.runs("m2")] == [second]
        assert store.runs("nope") == []


def test_samples_round_trip_and_filters(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    written: list[SampleRecord] = []
    with Store.open(db) as store:
        r1 = store.start_run(make_run("m1"))
        r2 = store.start_run(make_run("m2"))
        for model, run in (("m1", r1), ("m2", r2)):
            for task in ("arith", "logic"):
                for i in range(3):
                    rec = make_sample(run, i, model_id=model, task=task)
                    assert store.add_sample(rec)
                    written.append(rec)
        failed = make_sample(r1, 7, error="timeout")
        assert store.add_sample(failed)
    with Store.open(db) as store:
        assert sorted(store.samples(), key=key) == sorted(written, key=key)
        assert sorted(store.samples(include_failed=True), key=key) == sorted(
            [*written, failed], key=key
        )
        only = store.samples(model_ids=["m2"], tasks=["logic"])
        assert sorted(only, key=key) == [
            r for r in sorted(written, key=key) if r.key.model_id == "m2" and r.key.task == "logic"
        ]
        assert store.samples(model_ids=[]) == []
        assert store.models() == ["m1", "m2"]
        assert store.tasks() == ["arith", "logic"]


def test_store_sets_created_at_when_zero(tmp_path: Path) -> None:
    with Store.open(tmp_path / "c.db") as store:
        run = store.start_run(make_run())
        store.add_sample(make_sample(run, 0, created_at=0.0))
        assert store.samples()[0].created_at > 1e9


def test_same_key_twice_keeps_one_row(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    with Store.open(db) as store:
        run = store.start_run(make_run())
        assert store.add_sample(make_sample(run, 0, output="first"))
        assert not store.add_sample(make_sample(run, 0, output="second"))
        assert not store.add_sample(make_sample(run, 0, error="late failure"))
        assert store.add_samples([make_sample(run, 0, output="third")]) == 0
        assert [s.output for s in store.samples(include_failed=True)] == ["first"]
    assert count_rows(db) == 1


def test_draws_of_one_instance_are_separate_samples(tmp_path: Path) -> None:
    db = tmp_path / "draws.db"
    with Store.open(db) as store:
        run = store.start_run(make_run())
        draws = [make_sample(run, 4, draw=d, output=f"draw {d}") for d in (2, 0, 1)]
        assert store.add_samples(draws) == 3
        # The key includes the draw: a repeat of one draw is still refused.
        assert not store.add_sample(make_sample(run, 4, draw=1, output="again"))
        stored = store.samples()
        assert [s.key.draw for s in stored] == [0, 1, 2]  # key order, draw last
        assert [s.output for s in stored] == ["draw 0", "draw 1", "draw 2"]
        assert stored == sorted(draws, key=lambda s: s.key.draw)
        settings = "0123456789abcdef"
        assert store.done_draws("m1", "arith", "1", 0, "medium", settings) == {
            (4, d) for d in (0, 1, 2)
        }
    assert count_rows(db) == 3


def test_failed_sample_is_replaced_by_success(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    with Store.open(db) as store:
        run = store.start_run(make_run())
        assert store.add_sample(make_sample(run, 5, error="backend crashed"))
        assert store.done_draws("m1", "arith", "1", 0, "medium", "0123456789abcdef") == set()
        assert store.samples() == []
        assert store.add_sample(make_sample(run, 5, error="crashed again"))
        assert [s.error for s in store.samples(include_failed=True)] == ["crashed again"]
        retry_run = store.start_run(make_run())
        success = make_sample(retry_run, 5, output="Answer: 4")
        assert store.add_sample(success)
        assert store.samples(include_failed=True) == [success]
        assert store.done_draws("m1", "arith", "1", 0, "medium", "0123456789abcdef") == {(5, 0)}
    assert count_rows(db) == 1


def test_done_draws_matches_an_independent_tally(tmp_path: Path) -> None:
    rng = random.Random(7)
    expected: dict[tuple[str, int, str, str], set[tuple[int, int]]] = {}
    with Store.open(tmp_path / "d.db") as store:
        run = store.start_run(make_run())
        for _ in range(300):
            version, seed = rng.choice(["1", "2"]), rng.choice([0, 1])
            difficulty, settings = rng.choice(["easy", "hard"]), rng.choice(["aaaa", "bbbb"])
            index, draw = rng.randrange(20), rng.randrange(3)
            error = "boom" if rng.random() < 0.3 else None
            rec = make_sample(
                run,
                index,
                task_version=version,
                seed=seed,
                difficulty=difficulty,
                settings=settings,
                error=error,
                draw=draw,
            )
            store.add_sample(rec)
            if error is None:
                expected.setdefault((version, seed, difficulty, settings), set()).add((index, draw))
        for version in ("1", "2"):
            for seed in (0, 1):
                for difficulty in ("easy", "hard"):
                    for settings in ("aaaa", "bbbb"):
                        got = store.done_draws("m1", "arith", version, seed, difficulty, settings)
                        want = expected.get((version, seed, difficulty, settings), set())
                        assert got == want
        assert store.done_draws("m2", "arith", "1", 0, "easy", "aaaa") == set()


def test_add_samples_is_all_or_nothing(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with Store.open(db) as store:
        run = store.start_run(make_run())
        assert store.add_samples([make_sample(run, i) for i in range(3)]) == 3
        orphan = make_sample(run + 100, 9)  # no such run: the foreign key rejects it
        with pytest.raises(sqlite3.IntegrityError):
            store.add_samples([make_sample(run, 3), orphan])
        assert sorted(s.key.index for s in store.samples()) == [0, 1, 2]
        # The failed batch left no transaction open: the store still writes.
        assert store.add_sample(make_sample(run, 3))
    assert count_rows(db) == 4


def test_wal_mode_is_on(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    Store.open(db).close()
    with sqlite3.connect(db) as conn:  # journal_mode=WAL is stored in the file itself
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_readonly_store_reads_but_refuses_writes(tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    with Store.open(db) as store:
        run = store.start_run(make_run())
        store.add_sample(make_sample(run, 0))
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with Store.open(db, readonly=True) as store:
        assert len(store.samples()) == 1
        with pytest.raises(StoreError, match="read-only"):
            store.add_sample(make_sample(run, 1))
        with pytest.raises(StoreError, match="read-only"):
            store.start_run(make_run())
        # SQLite itself refuses too (mode=ro), whatever our own check says.
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store._conn.execute("DELETE FROM samples")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert count_rows(db) == 1


def test_readonly_without_results_says_run_first(tmp_path: Path) -> None:
    with pytest.raises(NoResultsError, match=r"No database at .*absent.db") as absent:
        Store.open(tmp_path / "absent.db", readonly=True)
    assert not (tmp_path / "absent.db").exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(NoResultsError, match=r"No results in .* yet") as nothing:
        Store.open(empty, readonly=True)
    assert empty.read_bytes() == b""
    # A StoreError (data untouched) that the CLI reports as an input error.
    assert isinstance(absent.value, StoreError)
    assert absent.value.exit_code == nothing.value.exit_code == 2


def test_sampling_json_round_trips_non_ascii(tmp_path: Path) -> None:
    info = replace(make_run(), sampling={"stop": ["答案", "\n"], "temperature": 0.7})
    with Store.open(tmp_path / "j.db") as store:
        store.start_run(info)
        assert store.runs()[0].info.sampling == info.sampling
