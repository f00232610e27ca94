"""`gapbench run --config FILE` end to end with the scripted backend: a file stores exactly what
the equivalent flags store, flags typed on the command line beat the file, the file's relative
paths start at its folder, and every mistake in the file is one sentence and exit 2 before
anything is stored."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path

import click
import pytest
from tests.helpers import CliInvoke, run_gapbench

from gapbench.cli.run_cmds import run
from gapbench.cli.run_config import KEYS, PARAMS, RunFile, load_config_file

GOOD = "scripted:good?accuracy=0.8"
WEAK = "scripted:weak?accuracy=0.4"
ROOT = Path(__file__).resolve().parents[2]

SAMPLE_COLUMNS = (
    "model_id, task, task_version, seed, instance_index, difficulty, settings_hash, draw, prompt, "
    "output, extracted, extraction_ok, correct, reference, prompt_style, prompt_variant"
)


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _samples(db: Path) -> list[tuple[object, ...]]:
    return _rows(db, f"SELECT {SAMPLE_COLUMNS} FROM samples ORDER BY {SAMPLE_COLUMNS}")


def _settings(db: Path) -> dict[str, dict[str, object]]:
    return {
        str(model): json.loads(str(sampling))
        for model, sampling in _rows(db, "SELECT model_id, sampling FROM runs")
    }


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


EVAL_TOML = f"""\
# A nightly run, every setting away from its default.
models = ["{GOOD}", "{WEAK}"]
tasks = ["arith", "logic"]
n = 6
seed = 11
difficulty = "easy"
max-tokens = 64
temperature = 0.7
samples = 2
prompt_style = "answer-line"
prompt_variants = 2
batch_size = 3
db = "results/nightly.db"
"""

EQUIVALENT_FLAGS = (
    "--model", GOOD, "--model", WEAK, "--task", "arith,logic", "--n", "6", "--seed", "11",
    "--difficulty", "easy", "--max-tokens", "64", "--temperature", "0.7", "--samples", "2",
    "--prompt-style", "answer-line", "--prompt-variants", "2", "--batch-size", "3",
)  # fmt: skip


def test_a_file_stores_the_samples_its_flags_would(
    cli: CliInvoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags_db = tmp_path / "flags.db"
    result = cli("run", *EQUIVALENT_FLAGS, "--db", str(flags_db))
    assert result.exit_code == 0, result.output

    config = _write(tmp_path / "jobs" / "eval.toml", EVAL_TOML)
    (config.parent / "results").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the file's db is found beside the file, not here
    result = cli("run", "--config", "../jobs/eval.toml")
    assert result.exit_code == 0, result.output
    file_db = config.parent / "results" / "nightly.db"
    assert not (elsewhere / "results").exists() and not (elsewhere / "gapbench.db").exists()

    stored = _samples(file_db)
    # 2 models x 2 tasks x 6 instances x 2 phrasings x 2 draws.
    assert len(stored) == 2 * 2 * 6 * 2 * 2
    assert {row[5] for row in stored} == {"easy"} and {row[3] for row in stored} == {11}
    assert stored == _samples(flags_db)

    # The runs record the file (absolute path and sha256), and otherwise the same settings.
    by_flags, by_file = _settings(flags_db), _settings(file_db)
    assert set(by_file) == {GOOD, WEAK}
    for model, settings in by_file.items():
        assert settings.pop("config_file") == {
            "path": str(config.resolve()),
            "sha256": _digest(config),
        }
        assert settings == by_flags[model]
        assert "config_file" not in by_flags[model]
    batch_sizes = _rows(file_db, "SELECT DISTINCT batch_size FROM runs")
    assert batch_sizes == _rows(flags_db, "SELECT DISTINCT batch_size FROM runs")


def test_flags_typed_on_the_command_line_beat_the_file(cli: CliInvoke, tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    config = _write(
        tmp_path / "eval.toml",
        f'models = ["{GOOD}", "{WEAK}"]\nsuite = "quick"\nn = 6\ndifficulty = "easy"\n'
        f'db = "{db.name}"\n',
    )
    # --difficulty medium is the flag's default, typed: it still beats the file's "easy".
    result = cli(
        "run", "--config", str(config), "--n", "3", "--model", GOOD, "--task", "arith",
        "--difficulty", "medium",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _rows(db, "SELECT model_id, task, difficulty, COUNT(*) FROM samples GROUP BY 1, 2") == [
        (GOOD, "arith", "medium", 3)
    ]
    # Without the flags, the file's values hold (the rest of the file still applies above).
    result = cli("run", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert _rows(
        db,
        "SELECT task, COUNT(*) FROM samples WHERE difficulty = 'easy' AND model_id = "
        f"'{WEAK}' GROUP BY 1 ORDER BY 1",
    ) == [("arith", 6), ("logic", 6), ("zh_arith", 6)]


def test_the_environment_beats_the_file(cli: CliInvoke, tmp_path: Path) -> None:
    config = _write(tmp_path / "eval.toml", f'models = ["{GOOD}"]\ntasks = ["arith"]\nn = 2\n'
                    'db = "file.db"\n')  # fmt: skip
    env_db = tmp_path / "env.db"
    result = cli("run", "--config", str(config), env={"GAPBENCH_DB": str(env_db)})
    assert result.exit_code == 0, result.output
    assert _rows(env_db, "SELECT COUNT(*) FROM samples") == [(2,)]
    assert not (tmp_path / "file.db").exists()


def test_wide_from_the_file_shows_every_column(cli: CliInvoke, tmp_path: Path) -> None:
    text = f'models = ["{GOOD}"]\ntasks = ["arith"]\nn = 2\ndb = "r.db"\n'
    narrow = cli("run", "--config", str(_write(tmp_path / "a.toml", text)), env={"COLUMNS": "80"})
    assert narrow.exit_code == 0 and "Left out to fit 80 columns" in narrow.stdout
    wide = _write(tmp_path / "b.toml", text + "wide = true\n")
    result = cli("run", "--config", str(wide), env={"COLUMNS": "80"})
    assert result.exit_code == 0 and "Left out" not in result.stdout, result.stdout


def test_until_verdict_from_a_file(cli: CliInvoke, tmp_path: Path) -> None:
    config = _write(
        tmp_path / "eval.toml",
        'models = ["scripted:twin_a?accuracy=0.7", "scripted:twin_b?accuracy=0.7"]\n'
        'tasks = ["arith"]\nuntil_verdict = true\nmax_n = 12\ndb = "seq.db"\n',
    )
    result = cli("run", "--config", str(config))
    assert result.exit_code == 0, result.output
    # Level models cannot settle in 12 instances: rounds of 10, then 12, capped by max_n.
    assert _rows(tmp_path / "seq.db", "SELECT COUNT(DISTINCT instance_index) FROM samples") == [
        (12,)
    ]


def _refused(result: object, *phrases: str) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, (result.returncode, stderr)  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    for phrase in phrases:
        assert phrase in stderr, stderr
    return stderr


def test_an_unknown_key_names_the_closest_and_stores_nothing(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "eval.toml",
        f'models = ["{GOOD}"]\ntasks = ["arith"]\nmax_token = 64\ndb = "results.db"\n',
    )
    result = run_gapbench("run", "--config", str(config))
    stderr = _refused(result, "'max_token'", str(config), "'max_tokens'")
    assert stderr.count("\n") == 1  # one line
    assert not (tmp_path / "results.db").exists()


def test_a_bad_task_is_refused_before_any_sample(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    result = run_gapbench("run", "--model", GOOD, "--task", "arith", "--n", "3", "--db", str(db))
    assert result.returncode == 0, result.stderr
    before = _digest(db)
    config = _write(
        tmp_path / "eval.toml",
        f'models = ["{GOOD}", "{WEAK}"]\ntasks = ["arith", "logik"]\nn = 5\ndb = "{db.name}"\n',
    )
    result = run_gapbench("run", "--config", str(config))
    _refused(result, str(config), "tasks", "'logik'", "logic")
    assert _digest(db) == before
    assert _rows(db, "SELECT COUNT(*) FROM runs") == [(1,)]


def test_invalid_toml_gives_the_line(tmp_path: Path) -> None:
    config = _write(tmp_path / "eval.toml", f'models = ["{GOOD}"]\ntasks = ["arith"]\nn = twenty\n')
    _refused(run_gapbench("run", "--config", str(config)), str(config), "line 3")
    _refused(
        run_gapbench("run", "--config", str(tmp_path / "missing.toml")),
        "missing.toml does not exist",
    )


@pytest.mark.parametrize(
    ("line", "phrases"),
    [
        ('n = "20"', ['n = "20"', "n = 20"]),
        ("n = 0", ["n = 0", "from 1 to 1,000,000"]),
        ("seed = -1", ["seed = -1", "2**63 - 1"]),
        ("temperature = nan", ["temperature = nan"]),
        ('difficulty = "hardest"', ['"easy", "medium" or "hard"']),
        ("batch_size = 0", ['"auto" or a whole number']),
        ("prompt_variants = 6", ["from 1 to 5"]),
        ("samples = true", ["samples = true"]),
        ("max-tokens = 64\nmax_tokens = 32", ["max_tokens twice"]),
        ("margin = 3", ["margin", "until_verdict = true"]),
        ('suite = "quick"', ["both tasks and suite"]),
        ("[sampling]\ntemperature = 0.5", ["[sampling] table"]),
        ('models = ["smollm2-135m"]', ["models", "smollm2-135m-instruct"]),
    ],
)
def test_each_mistake_is_one_sentence_naming_the_key(
    cli: CliInvoke, tmp_path: Path, line: str, phrases: list[str]
) -> None:
    models = "" if line.startswith("models") else f'models = ["{GOOD}"]\n'
    config = _write(tmp_path / "eval.toml", f'{models}tasks = ["arith"]\n{line}\ndb = "r.db"\n')
    result = cli("run", "--config", str(config))
    assert result.exit_code == 2, result.output
    assert str(config) in result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr
    assert not (tmp_path / "r.db").exists()


def test_file_paths_start_at_the_file(
    cli: CliInvoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _write(tmp_path / "jobs" / "eval.toml", 'models = ["weights/mine.gguf"]\n')
    monkeypatch.chdir(tmp_path)
    result = cli("run", "--config", "jobs/eval.toml")
    assert result.exit_code == 2
    assert str(config.parent.resolve() / "weights" / "mine.gguf") in result.stderr


@pytest.mark.slow
def test_a_gguf_path_in_the_file_is_read_beside_it(
    cli: CliInvoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_file: Path
) -> None:
    """The file's relative model path, run for real: the weights are found next to the file
    (the command runs elsewhere), and the model's id comes from the file name."""
    weights = tmp_path / "jobs" / "weights"
    weights.mkdir(parents=True)
    (weights / "mine.gguf").symlink_to(smollm2_file)
    config = _write(
        tmp_path / "jobs" / "eval.toml",
        'models = ["weights/mine.gguf"]\ntasks = ["arith"]\nn = 1\nmax_tokens = 8\n'
        'prompt_style = "answer-line"\ndb = "r.db"\n',
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = cli("run", "--config", str(config))
    assert result.exit_code in (0, 1), result.output  # 1: its one sample failed; still stored
    assert _rows(config.parent / "r.db", "SELECT model_id, backend FROM runs") == [
        ("mine", "llamacpp")
    ]


def test_n_with_until_verdict_in_the_file_is_refused(cli: CliInvoke, tmp_path: Path) -> None:
    config = _write(
        tmp_path / "eval.toml",
        f'models = ["{GOOD}", "{WEAK}"]\ntasks = ["arith"]\nn = 30\ndb = "r.db"\n',
    )
    result = cli("run", "--config", str(config), "--until-verdict")
    assert result.exit_code == 2
    assert "remove n" in result.stderr and "max_n" in result.stderr
    assert not (tmp_path / "r.db").exists()


def test_model_is_still_required_without_a_file(cli: CliInvoke, db: Path) -> None:
    result = cli("run", "--task", "arith", "--db", str(db))
    assert result.exit_code == 2
    assert "Missing option '--model'" in result.stderr
    assert not db.exists()


def _documented_keys() -> dict[str, tuple[str, str]]:
    """docs/config.md's table: key -> (default cell, flag cell)."""
    rows = re.findall(
        r"^\| `([a-z_]+)` \| [^|]+ \| ([^|]+) \| `(--[a-z-]+)` \|$",
        (ROOT / "docs" / "config.md").read_text(encoding="utf-8"),
        re.M,
    )
    return {key: (default.strip(), flag) for key, default, flag in rows}


def test_every_option_of_run_has_a_key_and_a_documented_row() -> None:
    """A new flag of `run` fails here until the file takes it (or is said not to), and the
    documentation names the right flag and default for every key."""
    options = {p.name: p for p in run.params if isinstance(p, click.Option)}
    assert set(options) - set(PARAMS.values()) == {"config_path"}
    documented = _documented_keys()
    assert set(documented) == set(KEYS)
    for key, (default, flag) in documented.items():
        option = options[PARAMS[key]]
        assert flag in option.opts, (key, flag, option.opts)
        # Flags' defaults (click's UNSET) and the None of 'not set' have no cell to check.
        if isinstance(option.default, (int, float, str)) and not isinstance(option.default, bool):
            assert f"`{json.dumps(option.default)}`" == default, (key, default)


@pytest.mark.parametrize("key", ["difficulty", "prompt_style"])
def test_choices_agree_with_the_flags(key: str) -> None:
    option = next(p for p in run.params if p.name == key)
    assert isinstance(option.type, click.Choice)
    annotation = str(RunFile.model_fields[key].annotation)
    assert all(f"'{choice}'" in annotation for choice in option.type.choices)
    assert annotation.count("'") == 2 * len(option.type.choices)


@pytest.mark.parametrize(
    ("key", "flag", "high"),
    [("n", "--n", "1000000"), ("samples", "--samples", "1000"),
     ("prompt_variants", "--prompt-variants", "5"), ("seed", "--seed", str(2**63 - 1))],
)  # fmt: skip
def test_bounds_agree_with_the_flags(
    cli: CliInvoke, tmp_path: Path, key: str, flag: str, high: str
) -> None:
    """The file takes the largest value its flag takes, and refuses the next, as the flag does."""
    config = _write(tmp_path / "ok.toml", f"{key} = {high}\n")
    assert getattr(load_config_file(config).settings, key) == int(high)
    over = str(int(high) + 1)
    result = cli("run", "--model", GOOD, "--task", "arith", flag, over, "--db", "x.db")
    assert result.exit_code == 2, result.output
    result = cli("run", "--config", str(_write(tmp_path / "over.toml", f"{key} = {over}\n")))
    assert result.exit_code == 2, result.output
