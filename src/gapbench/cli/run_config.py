"""`gapbench run --config FILE`: a run described in a TOML file, so that a nightly job is one
reviewed file rather than a long command line.

Keys are the flag names of `gapbench run` with underscores, as gapbench.toml writes its keys
(`max_tokens = 512` for `--max-tokens 512`); the dashed spelling is accepted too. Two keys are
plural because they hold lists: `models` (the repeated --model) and `tasks` (--task). A flag given
on the command line, or through its environment variable (GAPBENCH_DB), beats the file; the file
beats the flags' defaults. docs/config.md lists every key with its type and default.

The whole file is checked (keys, types, ranges, task and model names) before anything is opened,
loaded or stored, and each mistake is one sentence naming the file and the key, exit 2.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import click
from click.core import ParameterSource
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gapbench.cli.run_cmds import (
    CONFIG_FILE_META,
    MAX_N,
    MAX_PROMPT_VARIANTS,
    MAX_SAMPLES,
    MAX_SEED,
)
from gapbench.errors import UsageError

NonEmpty = Annotated[str, Field(min_length=1)]
Positive = Annotated[int, Field(ge=1)]
WHOLE = "a whole number"


def _key(what: str, example: str, **constraints: Any) -> Any:
    """A key of the file: `what` completes 'X is not ...' in its error, `example` is a value to
    write (TOML syntax). Every key defaults to None, 'not in the file', so the flag's own default
    applies: one default per setting, the CLI's."""
    return Field(default=None, description=what, examples=[example], **constraints)


class RunFile(BaseModel):
    """The keys of a run file. Strict: TOML has its own types, so "20" for n is a mistake to
    report, not a string to coerce (integers are still accepted where a number is)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    models: list[NonEmpty] | None = _key(
        "a list of models (catalog ids, .gguf paths, scripted:NAME, provider/model, "
        "openai:URL#model or hf:PATH)",
        '["smollm2-135m-instruct", "./my-model.gguf"]',
        min_length=1,
    )
    tasks: list[NonEmpty] | None = _key("a list of task names", '["arith", "logic"]', min_length=1)
    suite: NonEmpty | None = _key("a suite name", '"quick"')
    n: int | None = _key(f"{WHOLE} of instances per task from 1 to {MAX_N:,}", "20", ge=1, le=MAX_N)
    seed: int | None = _key(f"{WHOLE} from 0 to 2**63 - 1", "7", ge=0, le=MAX_SEED)
    difficulty: Literal["easy", "medium", "hard"] | None = _key(
        '"easy", "medium" or "hard"', '"medium"'
    )
    max_tokens: int | None = _key(f"{WHOLE} of at least 1", "256", ge=1)
    temperature: float | None = _key("a number of at least 0 (0 is greedy decoding)", "0.8", ge=0)
    samples: int | None = _key(
        f"{WHOLE} of draws per instance from 1 to {MAX_SAMPLES:,}", "5", ge=1, le=MAX_SAMPLES
    )
    prompt_style: Literal["reasoning", "answer-line"] | None = _key(
        '"reasoning" or "answer-line"', '"answer-line"'
    )
    prompt_variants: int | None = _key(
        f"{WHOLE} of phrasings from 1 to {MAX_PROMPT_VARIANTS}", "3", ge=1, le=MAX_PROMPT_VARIANTS
    )
    unsafe_sandbox: bool | None = _key("true or false", "false")
    threads: int | None = _key(f"{WHOLE} of at least 1", "4", ge=1)
    batch_size: Positive | Literal["auto"] | None = _key(
        f'"auto" or {WHOLE} of at least 1', '"auto"'
    )
    concurrency: int | None = _key(f"{WHOLE} of at least 1", "16", ge=1)
    ray: str | None = _key(
        'the Ray cluster\'s address, "" for the one RAY_ADDRESS names', '"127.0.0.1:6379"'
    )
    until_verdict: bool | None = _key("true or false", "true")
    margin: float | None = _key("a gap in points above 0 and at most 100", "5", gt=0, le=100)
    max_n: int | None = _key(
        f"{WHOLE} of instances per task from 1 to {MAX_N:,}", "500", ge=1, le=MAX_N
    )
    max_usd: float | None = _key("a number of dollars above 0", "2", gt=0)
    max_minutes: float | None = _key("a number of minutes above 0", "30", gt=0)
    db: NonEmpty | None = _key("a path to the results database", '"results/nightly.db"')
    usd_per_hour: float | None = _key("a price in dollars per hour of at least 0", "0.10", ge=0)
    wide: bool | None = _key("true or false", "true")


KEYS: tuple[str, ...] = tuple(RunFile.model_fields)

PARAMS: dict[str, str] = {key: key for key in KEYS} | {
    "models": "model_refs",
    "tasks": "task",
    "db": "db_path",
    "ray": "ray_address",
}
"""Each key's click parameter in `gapbench run`."""

BUDGETS = ("margin", "max_n", "max_usd", "max_minutes")
"""Keys that mean something only with until_verdict (check_until_verdict refuses them without)."""

_EXPLICIT = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT)
"""Where a value comes from that beats the file; DEFAULT (and DEFAULT_MAP) do not."""


@dataclass(frozen=True)
class ConfigFile:
    """A checked run file."""

    path: Path
    """As the user gave it, for messages."""
    sha256: str
    settings: RunFile
    spelling: dict[str, str]
    """Each key set, as the file spells it (max-tokens or max_tokens), for messages."""

    @property
    def folder(self) -> Path:
        """Where the file's relative paths start."""
        return self.path.resolve().parent

    def given(self) -> dict[str, Any]:
        """The keys the file sets, by key."""
        return {key: getattr(self.settings, key) for key in self.settings.model_fields_set}

    def name(self, key: str) -> str:
        return self.spelling.get(key, key)


def load_config_file(path: Path) -> ConfigFile:
    """Read and check a run file: UsageError naming the file (and the line or the key) for a
    missing file, bad TOML, an unknown key or a value of the wrong type or range."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"Config file {path} does not exist: check the path given to --config."
        ) from None
    except OSError as exc:
        raise UsageError(
            f"Cannot read config file {path} ({exc.strerror}): give --config a readable file."
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(
            f"{path} line {line} is not UTF-8 text: save the file as UTF-8 (TOML requires it)."
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(_toml_error(path, str(exc), text)) from None
    spelling = _spellings(raw, path)
    values = {key: raw[spelled] for key, spelled in spelling.items()}
    try:
        settings = RunFile.model_validate(values)
    except ValidationError as exc:
        raise UsageError(_value_error(path, exc, values, spelling)) from None
    digest = hashlib.sha256(data).hexdigest()
    return ConfigFile(path=path, sha256=digest, settings=settings, spelling=spelling)


def _toml_error(path: Path, message: str, text: str) -> str:
    """tomllib says 'Invalid value (at line 3, column 5)' or 'Unclosed array (at end of
    document)': lead with the line."""
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found is not None:
        what = message[: found.start()].strip().lower()
        return (
            f"{path} line {found.group(1)}, column {found.group(2)} is not valid TOML ({what}): "
            'fix that line (strings need quotes, as in suite = "quick").'
        )
    what = re.sub(r"\s*\(at end of document\)$", "", message).strip().lower()
    last = len(text.splitlines()) or 1
    return (
        f"{path} is not valid TOML at its end, line {last} ({what}): close what an earlier "
        "line opened (a [ or a quote)."
    )


def _spellings(raw: dict[str, Any], path: Path) -> dict[str, str]:
    """Each key of the file under its underscore name, refusing unknown and doubled keys."""
    spelling: dict[str, str] = {}
    for written in raw:
        key = written.replace("-", "_")
        if key not in KEYS and isinstance(raw[written], dict):
            raise UsageError(
                f"{path} has a [{written}] table, but a run file is flat: write its keys at the "
                f"top of the file, without the [{written}] line (docs/config.md lists them)."
            )
        if key not in KEYS:
            raise UsageError(f"Unknown key '{written}' in {path}: {_suggestion(key)}")
        if key in spelling:
            raise UsageError(
                f"{path} sets {key} twice, as '{spelling[key]}' and as '{written}': keep one."
            )
        spelling[key] = written
    return spelling


def _suggestion(key: str) -> str:
    """'write models instead' for the closest key (the flag names of `run`, so that 'model',
    'max-token' or 'db_path' find theirs), else where the keys are listed."""
    aliases = {"model": "models", "task": "tasks", "db_path": "db", "model_refs": "models"}
    best = aliases.get(key) or next(
        iter(difflib.get_close_matches(key, KEYS, n=1, cutoff=0.6)), None
    )
    if best is None:
        return "docs/config.md lists every key (the flags of `gapbench run`, with underscores)."
    return f"did you mean '{best}'? (docs/config.md lists every key)"


def _value_error(
    path: Path, exc: ValidationError, values: dict[str, Any], spelling: dict[str, str]
) -> str:
    """The first bad value as one sentence: the key, what it holds, what to write."""
    error = exc.errors(include_url=False)[0]
    key = str(error["loc"][0])
    field = RunFile.model_fields.get(key)
    if field is None or key not in values:  # extra="forbid": _spellings has refused these
        return f"{path}: {error['msg']} ({key})."
    written = spelling[key]
    example = (field.examples or ["..."])[0]
    return (
        f"{path}: {written} = {_toml(values[key])} is not {field.description}: write e.g. "
        f"{written} = {example}."
    )


def _toml(value: Any) -> str:
    """A value as the file wrote it (near enough: TOML and JSON agree on these types)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def apply_config_file(ctx: click.Context, file: str | Path) -> None:
    """Fill the parameters of `gapbench run` not given explicitly from the run file, after
    checking the whole file; record the file in ctx.meta for the runs' provenance."""
    path = Path(file)
    config = load_config_file(path)
    given = config.given()
    if "tasks" in given and "suite" in given:
        raise UsageError(
            f"{path} sets both {config.name('tasks')} and {config.name('suite')}: keep one."
        )
    _check_names(config, given)
    # Over the command's parameters, not ctx.params, which lacks --wide (kept in ctx.meta).
    names = [param.name for param in ctx.command.params if param.name]
    explicit = {name for name in names if ctx.get_parameter_source(name) in _EXPLICIT}
    taken: dict[str, Any] = {}
    for key, value in given.items():
        param = PARAMS[key]
        # --task and --suite are one choice: either flag replaces the file's tasks and suite.
        overridden = (
            {"task", "suite"} & explicit if param in ("task", "suite") else {param} & explicit
        )
        if not overridden:
            taken[key] = value
    _check_until_verdict(
        config, taken, bool(taken.get("until_verdict", ctx.params["until_verdict"]))
    )
    for key, value in taken.items():
        if key == "wide":
            from gapbench.cli.options import WIDE

            ctx.meta[WIDE] = value
        else:
            ctx.params[PARAMS[key]] = _as_param(key, value, config)
    if not ctx.params.get("model_refs"):
        raise UsageError(
            f"{path} names no models and no --model was given: add e.g. "
            'models = ["smollm2-135m-instruct"] to it, or pass --model.'
        )
    ctx.meta[CONFIG_FILE_META] = {
        "config_file": {"path": str(path.resolve()), "sha256": config.sha256}
    }


def _as_param(key: str, value: Any, config: ConfigFile) -> Any:
    """A file value as the command receives the flag's (after its click callback)."""
    if key == "models":
        return tuple(_model_ref(ref, config.folder) for ref in value)
    if key == "tasks":
        return ",".join(value)
    if key == "batch_size":
        return None if value == "auto" else value
    if key == "db":
        from gapbench.store.location import conceal, is_postgres_url

        return conceal(value) if is_postgres_url(value) else str(_beside(value, config.folder))
    return value


def _beside(value: str, folder: Path) -> Path:
    """A path of the file, relative to the file's folder (not to where the command runs, which
    for a nightly job is anywhere)."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else folder / path


def _model_ref(ref: str, folder: Path) -> str:
    """A model reference with its local path, if it has a relative one, made relative to the
    file's folder: a .gguf path, or PREFIX:PATH for a backend whose references may be paths
    (hf:PATH) where PATH exists there or starts with '.' (a Hub id such as hf:Org/Name never
    does). Ids of local models come from file names, so this changes where the weights are read
    from, not which results they are stored under."""
    from gapbench.backends.references import backend_of_reference

    ref = ref.strip()
    entry = backend_of_reference(ref)
    if entry is not None and entry.prefix and ref.startswith(entry.prefix):
        if not entry.path_references:
            return ref
        rest = ref.removeprefix(entry.prefix)
        local = _beside(rest, folder)
        if rest.startswith(".") or (not Path(rest).expanduser().is_absolute() and local.exists()):
            return f"{entry.prefix}{local}"
        return ref
    if ref.lower().endswith(".gguf"):
        return str(_beside(ref, folder))
    return ref


def _check_names(config: ConfigFile, given: dict[str, Any]) -> None:
    """Task, suite and model names resolved as the command resolves them, so that a typo in the
    file is reported with the file and the key."""
    from gapbench.backends.references import backend_of_reference, resolve_model
    from gapbench.tasks.registry import get_task
    from gapbench.tasks.suites import get_suite

    def checked(key: str, resolve: Any, name: str) -> None:
        try:
            resolve(name)
        except UsageError as exc:
            raise UsageError(f"{config.path}, {config.name(key)}: {exc}") from None

    for task in given.get("tasks") or ():
        checked("tasks", get_task, task)
    if "suite" in given:
        checked("suite", get_suite, given["suite"])
    for ref in given.get("models") or ():
        ref = _model_ref(ref, config.folder)
        # A reference resolved by asking a remote service (a Hub id, hf:Org/Name) is resolved
        # once, by the command, right after this.
        entry = backend_of_reference(ref)
        if entry is not None and entry.resolves_online:
            rest = ref.split(":", 1)[1] if ":" in ref else ref.split("/", 1)[1]
            if not Path(rest).exists():
                continue
        checked("models", resolve_model, ref)


def _check_until_verdict(config: ConfigFile, taken: dict[str, Any], until_verdict: bool) -> None:
    """The file's n and budgets against until_verdict, in the file's words (the command's own
    check speaks of flags)."""
    path = config.path
    if until_verdict and "n" in taken:
        raise UsageError(
            f"{path} sets {config.name('n')} = {taken['n']}, but until_verdict draws instances "
            f"in rounds and stops by itself: remove {config.name('n')} from {path} and cap the "
            "instances per task with max_n."
        )
    budgets = [config.name(key) for key in BUDGETS if key in taken]
    if not until_verdict and budgets:
        raise UsageError(
            f"{path} sets {' and '.join(budgets)}, which only "
            f"{'applies' if len(budgets) == 1 else 'apply'} with until_verdict: add "
            f"until_verdict = true to {path} (or pass --until-verdict), or remove "
            f"{'it' if len(budgets) == 1 else 'them'}."
        )
