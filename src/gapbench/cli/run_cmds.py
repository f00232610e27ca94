"""`gapbench run` and `gapbench demo`: the commands that generate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from gapbench.cli.options import (
    check_prices,
    db_option,
    finite,
    load_results,
    open_store,
    price_option,
    task_selection,
    wide_option,
    wide_requested,
)
from gapbench.cli.until_verdict import until_verdict_options

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from gapbench.backends.registry import BackendOptions
    from gapbench.catalog.types import ModelSpec
    from gapbench.runner import BackendFactory, RunConfig, RunOutcome
    from gapbench.sequential_run import PairState
    from gapbench.stats.summary import ScoreRow
    from gapbench.store.records import SampleRecord
    from gapbench.tasks.base import Difficulty, Task

MAX_N = 1_000_000
"""Instances per task. A typo such as --n 10**12 would otherwise run for years; a million is far
past any real study (the Wilson interval at that n is +-0.1 points, below the noise between task
versions, and a million samples fill about a gigabyte of SQLite), so nothing real is refused.
HumanEval and other fixed datasets refuse indices past their size themselves."""
MAX_SAMPLES = 1000
"""Draws per instance: five times the 200 of the Codex paper, which reported pass@100 from them."""
MAX_PROMPT_VARIANTS = 5
"""The phrasings tasks/prompts.py has for every family (MAX_PROMPT_VARIANTS there)."""
MAX_SEED = 2**63 - 1
"""The seed is stored as an SQLite integer, which has 64 bits with a sign."""

DEMO_TASKS = "logic,boolean"
"""Ordering puzzles and boolean formulas: the families where the three offline models differ
most under the answer-line prompt (docs/benchmarks.md, prompt styles), so that sequential
sampling can settle a pair within the demo's budget."""
DEMO_MAX_N = 33
"""Instances per task at most: the demo draws rounds of 10, 12, 15, 18, 22, 27 and 33
(--until-verdict) and stops sooner once every pair is settled. Qwen2.5-Coder's lead over
SmolLM2 settled at the round of 33 in every measured demo at 8 slots, and the round of 40
settled nothing more. With a cap of 40 the demo took 221 s on the 2-core machine one day and
330 s, past its 5-minute budget, on a slower day of the same VM; with 53, 291 s
(docs/benchmarks.md)."""
DEMO_DIFFICULTY: Difficulty = "easy"
"""Sub-1B models score near zero on harder levels, which would leave nothing to compare."""
DEMO_MAX_TOKENS = 128
"""In three demo runs at 192 tokens every correct answer took at most 101 tokens, and every output
of Qwen2.5-Coder and Gemma 3 at most 86; what ran longer was SmolLM2's repetition loops, wrong
either way. 192 let those loops hold their slots, and the end of every round, half as long again
(docs/benchmarks.md)."""
DEMO_PROMPT_STYLE = "answer-line"
"""The reasoning style (gapbench run's default) makes Qwen2.5-Coder-0.5B write 180-230 tokens
where the answer line takes 4-23 (docs/benchmarks.md, prompt styles): on 2 cores that would take
the demo past its 5-minute budget."""
DEMO_BATCH_SIZE = 8
"""Continuous batching: measured 1.1-1.9x the sequential throughput on these models."""


def _check_levels(tasks: list[Task], difficulty: str) -> None:
    """An explicit level a generated task lacks is a usage error; fixed datasets (HumanEval) have
    one level and ignore the flag."""
    from gapbench.tasks.registry import check_level

    for task in tasks:
        if task.kind == "fresh":
            check_level(task, difficulty)  # type: ignore[arg-type]  # a click.Choice value


def _batch_size(value: str) -> int | None:
    """--batch-size: 'auto' (None: the backend chooses) or a whole number of at least 1."""
    if value.strip().lower() == "auto":
        return None
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 1:
        raise click.BadParameter(f"'{value}' is neither 'auto' nor a whole number of at least 1.")
    return size


def _bounded(value: int, flag: str, high: int, what: str, low: int = 1) -> int:
    """Click callback: an integer option within [low, high], else one sentence saying which."""
    if not low <= value <= high:
        unit = f" {what}" if what else ""
        bound = f"{high:,}" if high < 2**40 else "2**63 - 1"
        raise click.BadParameter(
            f"{value:,}{unit} is out of range: give {flag} from {low} to {bound}.",
            param_hint=f"'{flag}'",
        )
    return value


def _check_draws(samples: int, temperature: float) -> None:
    """Several draws under greedy decoding would store the same answer several times and report
    a pass@k that is only pass@1: refuse before anything runs."""
    from gapbench.errors import UsageError

    if samples > 1 and temperature == 0:
        raise UsageError(
            f"--samples {samples} with greedy decoding (--temperature 0) would draw the same "
            f"answer {samples} times: add --temperature 0.8, as the Codex paper did for pass@k."
        )


def _check_sandbox(tasks: list[Task], unsafe: bool) -> None:
    """Code tasks run model code: refuse them before anything runs where the sandbox cannot
    (bubblewrap missing, user namespaces off), unless the user accepts running without it."""
    if not any(task.area == "code" for task in tasks):
        return
    from gapbench.scoring import sandbox

    sandbox.allow_unsafe(unsafe)
    isolation = sandbox.isolation_level()
    if isolation.warning:
        click.echo(f"Warning: {isolation.warning}; scores are marked '!'.", err=True)


def _preflight(models: list[ModelSpec]) -> None:
    """Fail before anything runs when a later model could not: a missing API key, or a local file
    that is not a GGUF, would otherwise surface only after the earlier models' runs."""
    from gapbench.backends.registry import preflight

    for spec in models:
        preflight(spec)


def _execute(config: RunConfig, db_path: str, options: BackendOptions) -> list[RunOutcome]:
    from gapbench.backends.registry import model_loader
    from gapbench.report.progress import RichProgress
    from gapbench.runner import run_evaluation

    with open_store(db_path) as store, RichProgress() as progress:
        return run_evaluation(config, store, model_loader(options), progress)


def _execute_on_ray(
    config: RunConfig, db_path: str, options: BackendOptions, address: str | None
) -> list[RunOutcome]:
    from gapbench.ray_run import check_store_reachable, connect, run_on_ray
    from gapbench.report.progress import RichProgress

    connect(address)  # a bad address fails first, before the database is opened or made
    try:
        check_store_reachable(db_path)
        with open_store(db_path):
            pass  # a bad database fails here, before any worker starts
        with RichProgress() as progress:
            return run_on_ray(config, db_path, options, progress)
    finally:
        import ray

        ray.shutdown()


def show_results(
    config: RunConfig,
    scopes: Mapping[str, frozenset[tuple[str, str]]],
    db_path: str,
    usd_per_hour: float | None,
    n_by_model: Mapping[str, int] | None = None,
    sequential: Sequence[PairState] | None = None,
) -> None:
    """The results of exactly what was planned (other seeds, levels or settings stored for the
    same models stay out), with planned counts beside the scores; exit 1 when some planned
    sample has no answer. After --until-verdict, `n_by_model` gives the instances per task each
    model ran (else config.n), and the sequential verdicts replace the fixed-n ones, which
    would not hold after looking at the data round by round."""
    from gapbench.cli.gap_cmds import overall_origin_gap
    from gapbench.report.console import print_gap_line, print_leaderboard, print_verdicts
    from gapbench.stats.summary import OVERALL, pairwise, summarize

    def planned(sample: SampleRecord) -> bool:
        k = sample.key
        return (
            (k.task, k.settings_hash) in scopes.get(k.model_id, frozenset())
            and (k.seed, k.difficulty) == (config.seed, config.difficulty)
            and k.index < per_model.get(k.model_id, config.n)
            and k.draw < config.samples
        )

    per_model = dict(n_by_model or {})

    samples, accounting = load_results(
        db_path,
        [t.name for t in config.tasks],
        [m.id for m in config.models],
        usd_per_hour,
        keep=planned,
    )
    counts = {
        (m.id, t.name): per_model.get(m.id, config.n) * config.samples
        for m in config.models
        for t in config.tasks
    }
    rows = summarize(samples, accounting, planned=counts)
    print_leaderboard(rows, "Results", accounting.usd_per_hour, wide=wide_requested())
    if sequential is not None:
        from gapbench.report.sequential import print_sequential_verdicts

        print_sequential_verdicts(sequential)
    elif len(config.models) > 1:
        print_verdicts(pairwise(samples, rows))
    if len(config.models) > 1:
        gap = overall_origin_gap(samples, None)
        if gap is not None:
            print_gap_line(gap)
    _check_answered([row for row in rows if row.task == OVERALL], db_path)


def _check_answered(overall: list[ScoreRow], db_path: str) -> None:
    """Exit 1, saying how many and how to retry, unless every planned sample was answered."""
    from gapbench.errors import GapbenchError

    short = [row for row in overall if row.n < row.planned]
    if not short:
        return
    planned = sum(row.planned for row in short)
    failed = sum(row.failed for row in short)
    unanswered = sum(row.planned - row.n - row.failed for row in short)
    which = ", ".join(f"{row.model}: {row.planned - row.n}" for row in short)
    if failed:
        raise GapbenchError(
            f"{failed} of {planned} planned samples failed ({which}); their errors are stored "
            f"in {db_path}: rerun the same command to retry them."
        )
    raise GapbenchError(
        f"{unanswered} of {planned} planned samples were not answered ({which}): "
        "rerun the same command to generate them."
    )


CONFIG_FILE_META = "gapbench.config_file"
"""ctx.meta key of the run file used (its path and sha256), stored with each run's settings."""


class ConfigFileCommand(click.Command):
    """`run`, whose options may come from a TOML file (--config; cli/run_config.py): the file
    fills every option not given on the command line before the command runs."""

    def invoke(self, ctx: click.Context) -> Any:
        path = ctx.params.pop("config_path", None)
        if path is not None:
            from gapbench.cli.run_config import apply_config_file

            apply_config_file(ctx, path)
        if not ctx.params.get("model_refs"):  # required, unless the file names the models
            model = next(param for param in self.params if param.name == "model_refs")
            raise click.MissingParameter(ctx=ctx, param=model)
        return super().invoke(ctx)


@click.command(cls=ConfigFileCommand)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="A TOML file of these options (docs/config.md), checked before anything runs; flags "
    "given as well override it.",
)
@click.option(
    "--model",
    "model_refs",
    multiple=True,
    help="Catalog id, path to a .gguf file, or scripted:NAME (repeat for several models; "
    "required unless --config names them).",
)
@task_selection
@click.option(
    "--n",
    type=int,
    callback=lambda ctx, param, value: _bounded(value, "--n", MAX_N, "instances per task"),
    default=20,
    show_default=True,
    help=f"Instances per task (at most {MAX_N:,}).",
)
@click.option(
    "--seed",
    type=int,
    callback=lambda ctx, param, value: _bounded(value, "--seed", MAX_SEED, "", low=0),
    default=0,
    show_default=True,
    help="Instance stream (0 to 2**63 - 1).",
)
@click.option(
    "--difficulty",
    type=click.Choice(["easy", "medium", "hard"]),
    default="medium",
    show_default=True,
)
@click.option("--max-tokens", type=click.IntRange(min=1), default=256, show_default=True)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0),
    callback=finite,
    default=0.0,
    show_default=True,
    help="Sampling temperature; 0 is greedy decoding.",
)
@click.option(
    "--samples",
    type=int,
    callback=lambda ctx, param, value: _bounded(
        value, "--samples", MAX_SAMPLES, "draws per instance"
    ),
    default=1,
    show_default=True,
    help=f"Draws per instance, for pass@k (needs --temperature above 0; at most {MAX_SAMPLES}).",
)
@click.option(
    "--prompt-style",
    type=click.Choice(["reasoning", "answer-line"]),
    default="reasoning",
    show_default=True,
    help="How instruct models are asked: reason step by step with the final answer in \\boxed{} "
    "(the makers' published prompt), or the task's own 'Answer: X' line.",
)
@click.option(
    "--prompt-variants",
    type=int,
    callback=lambda ctx, param, value: _bounded(
        value, "--prompt-variants", MAX_PROMPT_VARIANTS, "phrasings"
    ),
    default=1,
    show_default=True,
    help=f"Phrasings of the prompt per instance (at most {MAX_PROMPT_VARIANTS}); the leaderboard "
    "shows the accuracy spread across them.",
)
@click.option(
    "--unsafe-sandbox",
    is_flag=True,
    help="Run code tasks even where the bubblewrap sandbox cannot run, with resource limits only; "
    "recorded in the run and marked beside its scores.",
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="Default: physical cores."
)
@click.option(
    "--batch-size",
    callback=lambda ctx, param, value: _batch_size(value),
    default="auto",
    show_default=True,
    help="Sequences decoded together by a local model (continuous batching); 'auto' lets the "
    "backend choose (llama.cpp: 8, fewer if their KV cache would not fit), 1 decodes one at a "
    "time. Greedy outputs can differ between batch sizes (floating-point order); the size is "
    "stored with every run.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Requests in flight per API model (default: the catalog's, else 16).",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Spread the run over a Ray cluster: HOST:PORT or ray://HOST:PORT, or nothing for the "
    "cluster RAY_ADDRESS or `ray start` names (else a one-machine one). Needs "
    "pip install 'gapbench[ray]'.",
)
@until_verdict_options
@db_option
@price_option
@wide_option
def run(
    model_refs: tuple[str, ...],
    task: str | None,
    suite: str | None,
    n: int,
    seed: int,
    difficulty: str,
    max_tokens: int,
    temperature: float,
    samples: int,
    prompt_style: str,
    prompt_variants: int,
    unsafe_sandbox: bool,
    threads: int | None,
    batch_size: int | None,
    concurrency: int | None,
    ray_address: str | None,
    db_path: str,
    usd_per_hour: float | None,
    until_verdict: bool,
    margin: float | None,
    max_n: int | None,
    max_usd: float | None,
    max_minutes: float | None,
) -> None:
    """Evaluate models on a task or suite; resumes, running only what the database lacks.

    With --until-verdict, instances are drawn in rounds (10 per task, then 1.2x as many each
    round) until every pair of models is settled or a budget is spent."""
    from gapbench.backends.references import resolve_model
    from gapbench.backends.registry import BackendOptions
    from gapbench.cli.until_verdict import check_models_and_tasks, check_until_verdict
    from gapbench.runner import RunConfig, check_config
    from gapbench.tasks.suites import resolve_tasks

    n_source = click.get_current_context().get_parameter_source("n")
    n_given = n_source not in (None, click.core.ParameterSource.DEFAULT)
    margin_fraction, budget = check_until_verdict(
        until_verdict, margin, max_n, max_usd, max_minutes, n_given
    )
    if ray_address is not None and until_verdict:
        from gapbench.errors import UsageError

        raise UsageError(
            "--ray does not run --until-verdict's rounds yet: run a fixed --n on the cluster, "
            "then `gapbench compare`, or drop --ray."
        )
    _check_draws(samples, temperature)
    check_prices(usd_per_hour)
    models = [resolve_model(ref) for ref in model_refs]
    tasks = resolve_tasks(task, suite)
    if until_verdict:
        check_models_and_tasks(models, tasks, budget)
    _check_levels(tasks, difficulty)
    _check_sandbox(tasks, unsafe_sandbox)
    _preflight(models)
    config = RunConfig(
        models=models,
        tasks=tasks,
        n=n,
        seed=seed,
        difficulty=difficulty,  # type: ignore[arg-type]  # click.Choice guarantees the literal
        max_tokens=max_tokens,
        temperature=temperature,
        samples=samples,
        prompt_style=prompt_style,
        prompt_variants=prompt_variants,
        provenance=click.get_current_context().meta.get(CONFIG_FILE_META, {}),
    )
    options = BackendOptions(threads=threads, batch_size=batch_size, concurrency=concurrency)
    if until_verdict:
        from dataclasses import replace

        from gapbench.cli.until_verdict import execute_until_verdict

        check_config(replace(config, n=budget.max_n))
        result = execute_until_verdict(
            config, db_path, options, budget, margin_fraction, usd_per_hour
        )
        final = replace(config, n=max(result.n_by_model.values(), default=0))
        show_results(final, result.scopes, db_path, usd_per_hour, result.n_by_model, result.pairs)
        return
    check_config(config)
    if ray_address is not None:
        outcomes = _execute_on_ray(config, db_path, options, ray_address or None)
    else:
        outcomes = _execute(config, db_path, options)
    show_results(config, _scopes(outcomes), db_path, usd_per_hour)


def _scopes(outcomes: list[RunOutcome]) -> dict[str, frozenset[tuple[str, str]]]:
    """(task, settings hash) pairs each model's run planned: what its results are."""
    return {outcome.model_id: outcome.scope for outcome in outcomes}


def demo_config() -> RunConfig:
    """What `gapbench demo` runs (its n is the budget's; rounds take it up to there)."""
    from gapbench.catalog.loader import list_models
    from gapbench.runner import RunConfig
    from gapbench.tasks.suites import resolve_tasks

    return RunConfig(
        models=[m for m in list_models() if m.in_demo],
        tasks=resolve_tasks(DEMO_TASKS, None),
        n=DEMO_MAX_N,
        difficulty=DEMO_DIFFICULTY,
        max_tokens=DEMO_MAX_TOKENS,
        prompt_style=DEMO_PROMPT_STYLE,
    )


def run_demo(db_path: str, usd_per_hour: float | None, load: BackendFactory | None = None) -> None:
    """The demo once its models are pulled: sequential rounds until every pair is settled or
    DEMO_MAX_N instances per task, then the results. `load` replaces the model loader (the
    README test replays the stored demo with one that refuses to load anything)."""
    from dataclasses import replace

    from gapbench.backends.registry import BackendOptions
    from gapbench.cli.until_verdict import execute_until_verdict
    from gapbench.sequential_run import Budget
    from gapbench.stats.equivalence import DEFAULT_MARGIN

    config = demo_config()
    options = BackendOptions(batch_size=DEMO_BATCH_SIZE)
    budget = Budget(max_n=DEMO_MAX_N)
    result = execute_until_verdict(
        config, db_path, options, budget, DEFAULT_MARGIN, usd_per_hour, load
    )
    final = replace(config, n=max(result.n_by_model.values(), default=0))
    show_results(final, result.scopes, db_path, usd_per_hour, result.n_by_model, result.pairs)


@click.command()
@db_option
@price_option
@wide_option
def demo(db_path: str, usd_per_hour: float | None) -> None:
    """Pull three small offline models, draw logic and boolean instances in rounds until the
    verdicts settle (at most 33 per task), print results, verdicts and the CN-vs-US gap."""
    from gapbench.catalog.pull import pull

    check_prices(usd_per_hour)
    for spec in demo_config().models:
        click.echo(f"Model {spec.id}: ", nl=False, err=True)
        path = pull(spec, progress=lambda msg: click.echo(f"  {msg}", err=True))
        click.echo(f"ready ({path})", err=True)
    run_demo(db_path, usd_per_hour)
