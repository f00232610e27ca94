"""The results store on a real PostgreSQL server (tests/store/postgres_server.py): the same answers
as on SQLite, the same migrations under the same names, claims that two runners never both get,
and bad input refused in one sentence with nothing stored touched."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.helpers import race, run_gapbench
from tests.store.postgres_server import PostgresServer

from gapbench.errors import StoreError, UsageError
from gapbench.store import RunInfo, RunMeasures, SampleKey, SampleRecord, Store, leases
from gapbench.store import migrations as mig
from gapbench.store import postgres as pg
from gapbench.store.location import conceal, scrub
from gapbench.store.records import RunHolder

LEASE = 60.0


def info(model: str = "m", command: str = "gapbench run") -> RunInfo:
    return RunInfo(
        gapbench_version="0", model_id=model, backend="scripted", engine_version="0",
        sampling={"prompt_style": "chat", "temperature": 0.0}, settings_hash="h",
        command=command, created_at=1_700_000_000.5,
    )  # fmt: skip


def key(i: int, draw: int = 0, model: str = "m") -> SampleKey:
    return SampleKey(model, "arith", "1", 0, i, "easy", "h", draw)


def sample(run_id: int, i: int, error: str | None = None, **kw: Any) -> SampleRecord:
    fields: dict[str, Any] = dict(
        key=key(i), run_id=run_id, prompt="q 漢字", output="Answer: 1", extracted="1",
        extraction_ok=error is None, correct=error is None and i % 2 == 0, reference="1",
        prompt_tokens=1, completion_tokens=3, finish_reason="error" if error else "stop",
        latency_s=0.1 + i / 1000, error=error,
    )  # fmt: skip
    fields.update(kw)
    return SampleRecord(**fields)


def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET search_path = gapbench")
        cur = conn.execute(sql, params)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []


def claims(url: str) -> dict[int, int]:
    return dict(query(url, "SELECT instance_index, run_id FROM claims"))  # type: ignore[arg-type]


def status(url: str, run_id: int) -> str:
    return str(query(url, "SELECT status FROM runs WHERE id = %s", (run_id,))[0][0])


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of every schema but the system's: what 'untouched' compares."""
    tables = query(
        url,
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
    )
    out = {}
    for schema, table in tables:
        rows = query(url, f'SELECT * FROM "{schema}"."{table}"')
        out[f"{schema}.{table}"] = sorted(rows, key=repr)
    return out


def other_host(expires_at: float) -> RunHolder:
    return RunHolder("elsewhere/boot/1", 4242, "77", expires_at)


# The same answers as SQLite


def _exercise(target: str | Path) -> dict[str, Any]:
    """The same writes and reads on either database; returns everything read back."""
    big_seed = 2**40 + 7
    out: dict[str, Any] = {}
    with Store.open(target) as store:
        a = store.start_run(info("m", "gapbench run --db x"), leases.this_process(2e9))
        b = store.start_run(info("n"), other_host(1.5))
        out["claim_a"] = store.claim(a, [key(i) for i in range(5)], 1000.0, LEASE)
        out["claim_b"] = store.claim(b, [key(i) for i in range(3, 8)], 1001.0, LEASE)
        out["stored"] = [
            store.add_sample(sample(a, 0, created_at=1_700_000_000.123456)),
            store.add_sample(sample(a, 0, output="again", created_at=1.0)),  # success is final
            store.add_sample(sample(a, 1, error="timeout", created_at=2.0)),
            store.add_sample(sample(a, 1, output="retried", created_at=3.0)),  # failure replaced
            store.add_sample(sample(b, 3, error="boom", created_at=4.0, reasoning="r", ttft_s=0.5)),
        ]
        out["many"] = store.add_samples(
            [
                sample(b, 9, created_at=5.0, prompt_style="chat-reasoning", score_method="boxed"),
                sample(b, 10, created_at=6.0, reasoning_tokens=7, retries=2, prompt_variant=1),
                replace_key(sample(b, 11, created_at=7.0), seed=big_seed, draw=3),
            ]
        )
        out["many_again"] = store.add_samples(  # a stored success is final; a failure is not
            [
                sample(b, 9, created_at=8.0, output="again"),
                sample(b, 12, error="timeout", created_at=9.0),
                sample(b, 12, created_at=10.0, output="retried"),
            ]
        )
        out["none"] = store.add_samples([])
        out["claim_after"] = store.claim(b, [key(i) for i in range(5)], 1002.0, LEASE)
        out["done"] = store.done_draws("m", "arith", "1", 0, "easy", "h")
        store.record_measures(a, RunMeasures(1.25, 300.5, latency_seconds=0.7, generations=3))
        store.finish_run(b, "failed", RunMeasures(2.0, None))
        out["reaped"] = store.reap_dead_runs(2.0)
        out["runs"] = [
            (r.status, r.info, r.measures, r.holder, r.finished_at is None) for r in store.runs()
        ]
        out["runs_n"] = [r.info.model_id for r in store.runs("n")]
    with Store.open(target, readonly=True) as store:
        out["samples"] = store.samples(include_failed=True)
        out["ok_samples"] = store.samples(model_ids=["m"], tasks=["arith"])
        out["latency"] = store.run_latency_totals()
        out["models"], out["tasks"] = store.models(), store.tasks()
    return out


def replace_key(rec: SampleRecord, **changes: Any) -> SampleRecord:
    from dataclasses import replace

    return replace(rec, key=replace(rec.key, **changes))


def test_the_store_answers_as_on_sqlite(tmp_path: Path, pg_url: str) -> None:
    """Every read after the same writes, value for value (floats, Unicode, NULLs, 64-bit seeds,
    claim outcomes in key order) as on SQLite."""
    on_sqlite = _exercise(tmp_path / "same.db")
    on_postgres = _exercise(pg_url)
    assert on_postgres.keys() == on_sqlite.keys()
    for name in on_sqlite:
        assert on_postgres[name] == on_sqlite[name], name
    assert on_sqlite["stored"] == [True, False, True, True, True]
    assert on_sqlite["many"] == 3 and on_sqlite["many_again"] == 2 and on_sqlite["none"] == 0
    assert len(on_sqlite["samples"]) == 7


def test_a_batch_of_samples_is_stored_all_or_nothing_and_releases_its_claims(pg_url: str) -> None:
    """The runner's writer stores a batch in one round trip (store/postgres.py `add_samples`)."""
    with Store.open(pg_url) as store:
        run = store.start_run(info(), leases.this_process(2e9))
        store.claim(run, [key(i) for i in range(300)], 1000.0, LEASE)
        assert store.add_samples([sample(run, i) for i in range(256)]) == 256
        assert sorted(claims(pg_url)) == list(range(256, 300))
        orphan = sample(run + 100, 299)  # no such run: the foreign key rejects the whole batch
        with pytest.raises(psycopg.errors.ForeignKeyViolation):  # as sqlite3.IntegrityError
            store.add_samples([sample(run, 256), orphan])
        assert len(store.samples()) == 256 and len(claims(pg_url)) == 44
        assert store.add_samples([sample(run, i) for i in range(250, 300)]) == 44
        assert len(store.samples()) == 300 and claims(pg_url) == {}


def test_the_url_may_come_in_sqlalchemy_spelling_and_shows_no_password(
    postgres: PostgresServer, pg_url: str
) -> None:
    alchemy = pg_url.replace("postgresql://", "postgresql+psycopg://")
    with Store.open(alchemy) as store:
        assert store.location == pg_url.replace(f":{postgres.password}@", "@")
        assert postgres.password not in store.location
        with pytest.raises(TypeError, match="not a file"):
            _ = store.path


# Schema versions


def test_a_fresh_database_gets_every_migration_under_sqlites_names(pg_url: str) -> None:
    Store.open(pg_url).close()
    names = [r[0] for r in query(pg_url, "SELECT name FROM _migrations ORDER BY id")]
    assert names == [fn.__name__ for fn in mig.MIGRATIONS]
    assert names == [fn.__name__ for fn in pg.PG_MIGRATIONS]
    tables = query(
        pg_url,
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 2",
    )
    # In a schema of its own: a team database's other tables (even a 'runs') are left alone.
    assert tables == [("gapbench", t) for t in ("_migrations", "claims", "runs", "samples")]
    Store.open(pg_url).close()
    assert len(query(pg_url, "SELECT name FROM _migrations")) == len(names)


def test_a_database_of_an_older_schema_upgrades_and_keeps_every_row(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written at schema 3 (no draws, no claims, no prompt styles), then opened by this gapbench:
    every row survives value for value, samples become draw 0 and take their run's style."""
    monkeypatch.setattr(pg, "PG_MIGRATIONS", pg.PG_MIGRATIONS[:3])
    with Store.open(pg_url) as store:
        run = store._transaction(
            lambda conn: conn.execute(
                "INSERT INTO runs (gapbench_version, model_id, backend, engine_version, sampling, "
                "settings_hash, batch_size, device, command, created_at) "
                "VALUES ('0.0.3', 'm', 'scripted', 'x', ?, 'h', 1, '', 'old', 5.0) RETURNING id",
                (json.dumps({"prompt_style": "fewshot-3"}),),
            ).fetchone()[0]
        )
        for i in range(3):
            store._transaction(
                lambda conn, i=i: conn.execute(
                    "INSERT INTO samples (model_id, task, task_version, seed, instance_index, "
                    "difficulty, settings_hash, run_id, prompt, output, extraction_ok, correct, "
                    "reference, prompt_tokens, completion_tokens, finish_reason, latency_s, "
                    "error, created_at, retries) VALUES ('m', 'arith', '1', 0, ?, 'easy', 'h', ?, "
                    "'q', 'o', 1, ?, '1', 1, 1, 'stop', 0.5, ?, 9.0, 0)",
                    (i, run, i % 2, "bad" if i == 2 else None),
                )
            )
    assert len(query(pg_url, "SELECT name FROM _migrations")) == 3
    monkeypatch.undo()
    with Store.open(pg_url) as store:
        samples = store.samples(include_failed=True)
        assert [(s.key.index, s.key.draw, s.correct, s.error) for s in samples] == [
            (0, 0, False, None), (1, 0, True, None), (2, 0, False, "bad"),
        ]  # fmt: skip
        assert {s.prompt_style for s in samples} == {"fewshot-3"}
        # The new key holds: another draw of instance 0 is a sample of its own.
        run2 = store.start_run(info())
        assert store.add_sample(replace_key(sample(run2, 0), draw=1))
        assert not store.add_sample(sample(run2, 0))
    assert len(query(pg_url, "SELECT name FROM _migrations")) == len(mig.MIGRATIONS)


@pytest.mark.parametrize("readonly", [False, True])
def test_a_database_of_a_newer_schema_is_refused_untouched(pg_url: str, readonly: bool) -> None:
    with Store.open(pg_url) as store:
        store.add_sample(sample(store.start_run(info()), 0))
    query(pg_url, "INSERT INTO _migrations (name, applied_at) VALUES ('m500_future', 0)")
    before = dump(pg_url)
    with pytest.raises(StoreError, match="newer gapbench") as err:
        Store.open(pg_url, readonly=readonly)
    known = len(mig.MIGRATIONS)
    assert f"schema {known + 1}, this one knows {known}" in str(err.value)
    assert dump(pg_url) == before


def test_another_programs_gapbench_schema_is_refused_untouched(pg_url: str) -> None:
    query(pg_url, "CREATE SCHEMA gapbench")
    query(pg_url, "CREATE TABLE gapbench.contacts (name TEXT)")
    before = dump(pg_url)
    with pytest.raises(UsageError, match="not a gapbench database"):
        Store.open(pg_url)
    assert dump(pg_url) == before


def test_other_tables_of_a_team_database_are_left_alone(pg_url: str) -> None:
    query(pg_url, "CREATE TABLE public.runs (id INT, note TEXT)")
    query(pg_url, "INSERT INTO public.runs VALUES (1, 'theirs')")
    with Store.open(pg_url) as store:
        store.start_run(info())
    assert query(pg_url, "SELECT * FROM public.runs") == [(1, "theirs")]


def test_readers_refuse_an_empty_or_older_database_and_write_nothing(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(StoreError, match=r"No results in .* yet") as nothing:
        Store.open(pg_url, readonly=True)
    assert nothing.value.exit_code == 2  # an input error: nothing was run there
    assert dump(pg_url) == {}
    monkeypatch.setattr(pg, "PG_MIGRATIONS", pg.PG_MIGRATIONS[:4])
    Store.open(pg_url).close()
    monkeypatch.undo()
    before = dump(pg_url)
    with pytest.raises(StoreError, match="older gapbench"):
        Store.open(pg_url, readonly=True)
    assert dump(pg_url) == before


def test_runners_starting_together_migrate_once(postgres: PostgresServer, pg_url: str) -> None:
    code = "import sys; from gapbench.store import Store; Store.open(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url]) for _ in range(6)]
    assert [p.wait(120) for p in procs] == [0] * 6
    names = [r[0] for r in query(pg_url, "SELECT name FROM _migrations ORDER BY id")]
    assert names == [fn.__name__ for fn in mig.MIGRATIONS]


# Claims and leases


def test_a_claim_is_taken_once_until_it_expires(pg_url: str) -> None:
    now = 1000.0
    with Store.open(pg_url) as store:
        a, b = store.start_run(info()), store.start_run(info())
        first = store.claim(a, [key(i) for i in range(4)], now, LEASE)
        assert first.claimed == tuple(key(i) for i in range(4)) and not first.held
        second = store.claim(b, [key(i) for i in range(5, 1, -1)], now + 1, LEASE)
        assert second.claimed == (key(5), key(4)) and second.held == (key(3), key(2))
        assert store.claim(a, [key(0)], now + 2, LEASE).claimed == (key(0),)
        assert store.claim(b, [key(2)], now + LEASE - 1, LEASE).held == (key(2),)
        assert store.claim(b, [key(2)], now + LEASE + 1, LEASE).claimed == (key(2),)
    assert claims(pg_url) == {0: a, 1: a, 2: b, 3: a, 4: b, 5: b}


def test_renewal_keeps_claims_finishing_and_storing_release_them(pg_url: str) -> None:
    now = 1000.0
    with Store.open(pg_url) as store:
        a, b = store.start_run(info()), store.start_run(info())
        store.claim(a, [key(0), key(1), key(2)], now, LEASE)
        store.renew_lease(a, now + 50, LEASE)
        assert store.claim(b, [key(0)], now + LEASE + 1, LEASE).held == (key(0),)
        store.add_sample(sample(a, 0))
        store.add_sample(sample(a, 1, error="timeout"))
        assert claims(pg_url) == {2: a}
        outcome = store.claim(b, [key(0), key(1), key(2)], now + 2, LEASE)
        assert (outcome.done, outcome.claimed, outcome.held) == ((key(0),), (key(1),), (key(2),))
        store.finish_run(a, "completed")
        assert claims(pg_url) == {1: b}


def test_a_claim_another_transaction_is_busy_with_is_held_without_waiting(pg_url: str) -> None:
    """FOR UPDATE SKIP LOCKED: an expired claim that another session has locked (it is storing
    or renewing it) is reported held at once, not waited for."""
    with Store.open(pg_url, busy_timeout=30) as store:
        a, b = store.start_run(info()), store.start_run(info())
        store.claim(a, [key(0), key(1)], 0.0, 1.0)  # expires at 1.0
        with psycopg.connect(pg_url) as other:  # a transaction of its own, left open
            other.execute("SELECT 1 FROM gapbench.claims WHERE instance_index = 0 FOR UPDATE")
            started = time.monotonic()
            outcome = store.claim(b, [key(0), key(1)], 10.0, LEASE)
            assert time.monotonic() - started < 2
            assert outcome.held == (key(0),) and outcome.claimed == (key(1),)
            other.rollback()
        assert store.claim(b, [key(0)], 11.0, LEASE).claimed == (key(0),)


def test_reaping_marks_only_dead_runs_and_frees_their_claims(pg_url: str) -> None:
    now = time.time()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead_local = RunHolder(leases.host_identity(), child.pid, "12345", now + LEASE)
    with Store.open(pg_url) as store:
        live = store.start_run(info(), leases.this_process(now + LEASE))
        dead = store.start_run(info(), dead_local)
        remote_live = store.start_run(info(), other_host(now + LEASE))
        remote_dead = store.start_run(info(), other_host(now - 1))
        for run_id, i in ((live, 0), (dead, 1), (remote_live, 2), (remote_dead, 3)):
            store.claim(run_id, [key(i)], now - 1, LEASE * 2)
        assert sorted(store.reap_dead_runs(now)) == [dead, remote_dead]
        assert store.reap_dead_runs(now) == []
    assert [status(pg_url, r) for r in (live, dead, remote_live, remote_dead)] == [
        "running", "interrupted", "running", "interrupted",
    ]  # fmt: skip
    assert claims(pg_url) == {0: live, 2: remote_live}


def test_a_read_only_store_marks_dead_runs_through_its_own_session(pg_url: str) -> None:
    with Store.open(pg_url) as store:
        run = store.start_run(info(), other_host(1.0))
        store.add_sample(sample(run, 0))
    with Store.open(pg_url, readonly=True) as store:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            store.connection.execute("DELETE FROM claims")
        assert store.reap_dead_runs(time.time()) == [run]
        assert [r.status for r in store.runs()] == ["interrupted"]


RACER = """
import json, sys, time
from gapbench.store import RunInfo, SampleKey, SampleRecord, Store
url = sys.argv[1]
with Store.open(url, busy_timeout=30) as store:
    run = store.start_run(RunInfo(gapbench_version="0", model_id="m", backend="b",
                                  engine_version="0", sampling={}, settings_hash="h"))
    me = start_together()
    mine, done = [], 0
    order = range(0, 400, 8) if me % 2 == 0 else range(392, -8, -8)
    for chunk in order:
        keys = [SampleKey("m", "arith", "1", 0, i, "easy", "h") for i in range(chunk, chunk + 8)]
        outcome = store.claim(run, keys, time.time(), 60)
        done += len(outcome.done)
        for k in outcome.claimed:
            store.add_sample(SampleRecord(
                key=k, run_id=run, prompt="q", output="o", extracted="1", extraction_ok=True,
                correct=True, reference="1", prompt_tokens=1, completion_tokens=1,
                finish_reason="stop", latency_s=0.0))
            mine.append(k.index)
            time.sleep(0.005)  # "generating" the next: the race lasts ~0.5 s, however fast
print(json.dumps(mine))
"""


def test_racing_processes_generate_each_sample_once(tmp_path: Path, pg_url: str) -> None:
    """Four processes claim the same 400 keys from the same moment, two front to back and two
    back to front, storing what they get: every key is claimed and stored by exactly one."""
    Store.open(pg_url).close()
    outputs = race(RACER, pg_url, tmp_path)
    assert all(status == 0 for _, _, status in outputs), [err for _, err, _ in outputs]
    results = [json.loads(out) for out, _, _ in outputs]
    every = [i for got in results for i in got]
    assert sorted(every) == list(range(400))
    assert sum(1 for got in results if got) >= 3, "the racers did overlap"
    assert query(pg_url, "SELECT COUNT(*), COUNT(DISTINCT instance_index) FROM samples") == [
        (400, 400)
    ]
    assert claims(pg_url) == {}


# Bad input and credentials


def test_bad_databases_are_refused_in_one_sentence(postgres: PostgresServer) -> None:
    secret = postgres.password
    wrong = postgres.url().replace(secret, "wrong-password")
    cases: list[tuple[str, type[Exception], str]] = [
        (wrong, UsageError, "Cannot log in to"),
        (postgres.url("no_such_db"), UsageError, "names a database that does not exist"),
        (f"postgresql://gapbench:{secret}@127.0.0.1:1/x", StoreError, "Cannot reach"),
        (f"postgresql://gapbench:{secret}@127.0.0.1:abc/x", UsageError, "not a usable"),
        (f"postgresql://gapbench:{secret}@127.0.0.1:5432/x?nonsense=1", UsageError, "not a usable"),
    ]
    for url, kind, start in cases:
        started = time.monotonic()
        with pytest.raises(kind) as err:
            Store.open(url)
        message = str(err.value)
        assert start in message, message
        assert secret not in message and "wrong-password" not in message
        assert message.count("\n") == 0 and message.endswith("."), message
        assert time.monotonic() - started < 10


def test_cli_bad_input_exits_2_for_usage_1_for_runtime_without_a_traceback(
    postgres: PostgresServer, pg_url: str
) -> None:
    with Store.open(pg_url) as store:
        store.add_sample(sample(store.start_run(info()), 0))
    query(pg_url, "INSERT INTO _migrations (name, applied_at) VALUES ('m500_future', 0)")
    before = dump(pg_url)
    wrong = pg_url.replace(postgres.password, "wrong-password")
    run = ["run", "--model", "scripted:x", "--task", "arith", "--n", "2"]
    cases = [
        (["leaderboard", "--db", wrong], 2, "Cannot log in"),
        ([*run, "--db", wrong], 2, "log in"),
        (["leaderboard", "--db", f"postgresql://u:{postgres.password}@127.0.0.1:1/x"], 1, "reach"),
        (["leaderboard", "--db", pg_url], 1, "newer gapbench"),
        ([*run, "--db", pg_url], 1, "newer"),
    ]
    for args, code, words in cases:
        result = run_gapbench(*args)
        assert result.returncode == code, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], lines
        assert "Traceback" not in result.stderr
        assert postgres.password not in result.stdout + result.stderr
    assert dump(pg_url) == before


def test_without_the_driver_a_postgres_url_asks_for_the_extra(pg_url: str) -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from gapbench.cli.main import main\n"
        "sys.argv = ['gapbench', 'leaderboard', '--db', sys.argv[1]]; main()"
    )
    result = subprocess.run([sys.executable, "-c", code, pg_url], capture_output=True, text=True)
    assert result.returncode == 2
    assert "pip install 'gapbench[postgres]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_and_sqlite_runs_never_import_the_driver(tmp_path: Path) -> None:
    for args in (["--help"], ["run", "--model", "scripted:x", "--task", "arith", "--n", "3",
                              "--db", str(tmp_path / "x.db")]):  # fmt: skip
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "gapbench", *args],
            capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        imported = [line for line in result.stderr.splitlines() if "import time:" in line]
        assert imported, "importtime reported nothing"
        assert not [line for line in imported if "psycopg" in line or "sqlalchemy" in line]


def test_passwords_never_reach_output_runs_or_messages(postgres: PostgresServer) -> None:
    """A password in --db, in GAPBENCH_DB or as a ?password= parameter: nowhere in what the
    commands print, nor in any row of any table."""
    url = postgres.create_database()
    secret = postgres.password
    name = url.rsplit("/", 1)[1]
    where = f"{postgres.host}:{postgres.port}/{name}"
    as_param = f"postgresql://{postgres.user}@{where}?password={secret}"
    run = ["run", "--task", "arith", "--n", "5", "--model"]
    runs = [
        run_gapbench(*run, "scripted:a", "--db", url),
        run_gapbench(*run, "scripted:b", env={"GAPBENCH_DB": as_param}),
        run_gapbench("leaderboard", "--db", as_param, "--json"),
        run_gapbench("compare", "scripted:a", "scripted:b", "--db", url),
        run_gapbench("compare", "scripted:a", "scripted:zz", "--db", url),  # an error message
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 2], [r.stderr for r in runs]
    for result in runs:
        assert secret not in result.stdout + result.stderr
    assert where in runs[4].stderr
    everything = json.dumps(dump(url), default=str)
    assert "scripted:a" in everything and secret not in everything
    commands = [r[0] for r in query(url, "SELECT command FROM runs ORDER BY id")]
    assert len(commands) == 2 and all(secret not in c for c in commands)


def test_conceal_and_scrub_take_out_passwords_only() -> None:
    assert conceal("results/x.db") == "results/x.db"
    assert conceal("postgresql://u:p%40ss@db.example:5432/x") == "postgresql://u@db.example:5432/x"
    assert conceal("postgres://u@h/x?sslmode=require&password=zz") == (
        "postgresql://u@h/x?sslmode=require"
    )
    assert scrub("gapbench run --db 'postgresql://u:s3cret@h/x' --n 3") == (
        "gapbench run --db 'postgresql://u@h/x' --n 3"
    )
    from gapbench.store.location import password_for

    assert password_for("postgresql://u@db.example:5432/x") == "p@ss"


def test_a_run_file_may_name_a_postgres_database(tmp_path: Path, postgres: PostgresServer) -> None:
    """`db = "postgresql://..."` in a --config file is a URL, not a path beside the file."""
    url = postgres.create_database()
    config = tmp_path / "eval.toml"
    config.write_text(f'models = ["scripted:cfg"]\ntasks = ["arith"]\nn = 4\ndb = "{url}"\n')
    result = run_gapbench("run", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert postgres.password not in result.stdout + result.stderr
    assert query(url, "SELECT COUNT(*) FROM samples") == [(4,)]
    assert not list(tmp_path.glob("postgresql*"))


def test_a_server_that_goes_away_mid_run_ends_it_in_one_sentence(
    postgres: PostgresServer,
) -> None:
    """A server of its own, shut down while a run writes to it: exit 1 (a runtime failure), one
    sentence that says what to do, no traceback."""
    from tests.store.postgres_server import start

    server = start(postgres.bindir)
    try:
        url = server.create_database()
        args = ["run", "--model", "scripted:x?delay=0.01", "--task", "arith", "--n", "600"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "gapbench", *args, "--db", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not query_or_zero(url) >= 50:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        server.proc.send_signal(2)  # fast shutdown: sessions are terminated
        server.proc.wait(30)
        _, stderr = proc.communicate(timeout=60)
    finally:
        server.stop()
    assert proc.returncode == 1, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and "Lost the connection to" in lines[0], stderr
    assert "Traceback" not in stderr and server.password not in stderr


def query_or_zero(url: str) -> int:
    try:
        return int(query(url, "SELECT COUNT(*) FROM samples")[0][0])
    except psycopg.Error:
        return 0
