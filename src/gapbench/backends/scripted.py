"""A deterministic backend that knows the answers: drives the whole pipeline in fast tests.

Model ref: `scripted:<name>?accuracy=0.7&noanswer=0.1&delay=0.0` (plus `kind=base`,
`origin=CN` and `released=2025-01-20`, which the catalog loader reads: what the model is, not how
it answers). For each request the backend
rebuilds the task instance from the request id, then answers correctly with probability `accuracy`,
gives no extractable answer with probability `noanswer`, and a wrong answer otherwise. The choice
is a hash of (name, request id), so it is reproducible across runs and processes, and two names with
the same accuracy disagree on which items they get right, as two real models would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, urlsplit

from gapbench.backends.types import (
    BackendInfo,
    FinishReason,
    Generation,
    GenerationRequest,
    Timing,
)
from gapbench.errors import UsageError

if TYPE_CHECKING:
    from gapbench.backends.registry import BackendOptions
    from gapbench.catalog.types import ModelSpec

NO_ANSWER_TEXT = "Let me think. This one is hard and I am not sure."
_CATALOG_OPTIONS = ("kind", "origin", "released")
"""Options that describe the model (catalog/loader.py reads them), not its answers."""


@dataclass(frozen=True)
class ScriptedBehaviour:
    """Parsed `scripted:` model ref."""

    name: str
    accuracy: float = 0.7
    noanswer: float = 0.0
    delay: float = 0.0
    """Seconds slept per request, to make runs slow enough to interrupt in tests."""

    @classmethod
    def parse(cls, ref: str) -> ScriptedBehaviour:
        """Parse 'scripted:<name>?accuracy=..&noanswer=..&delay=..' ('scripted:' is optional)."""
        body = ref.removeprefix("scripted:")
        parts = urlsplit(body)
        name = parts.path
        if not name:
            raise UsageError(f"Scripted model '{ref}' has no name; use e.g. 'scripted:alice'.")
        values: dict[str, float] = {}
        for key, raw in parse_qsl(parts.query, keep_blank_values=True):
            if key in _CATALOG_OPTIONS:
                continue  # read by the catalog loader, not a behaviour
            if key not in ("accuracy", "noanswer", "delay"):
                raise UsageError(
                    f"Unknown parameter '{key}' in scripted model '{ref}'; "
                    "use accuracy, noanswer, delay, kind, origin or released."
                )
            try:
                values[key] = float(raw)
            except ValueError:
                raise UsageError(
                    f"Parameter '{key}' of scripted model '{ref}' must be a number (got '{raw}')."
                ) from None
        behaviour = cls(name=name, **values)
        behaviour._check(ref)
        return behaviour

    def _check(self, ref: str) -> None:
        if not (0.0 <= self.accuracy <= 1.0 and 0.0 <= self.noanswer <= 1.0):
            raise UsageError(f"accuracy and noanswer of '{ref}' must lie between 0 and 1.")
        if self.accuracy + self.noanswer > 1.0 + 1e-9:
            raise UsageError(f"accuracy + noanswer of '{ref}' must not exceed 1.")
        if self.delay < 0:
            raise UsageError(f"delay of '{ref}' must not be negative.")


WRONG_CODE_TEXT = "```python\nraise NotImplementedError('scripted wrong answer')\n```"
"""A wrong answer to a code task: code that runs and fails every test."""


def _unit_hash(*parts: str) -> float:
    """A uniform number in [0, 1) from the parts; stable across processes (unlike hash())."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _parse_number(text: str) -> Fraction | None:
    cleaned = text.strip().replace(",", "")
    try:
        if "/" in cleaned:
            return Fraction(cleaned)
        return Fraction(Decimal(cleaned))
    except (ValueError, ZeroDivisionError, InvalidOperation):
        return None


def _format_like(value: Fraction, reference: str) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    if "/" in reference:
        return f"{value.numerator}/{value.denominator}"
    return format(Decimal(value.numerator) / Decimal(value.denominator), "f")


_OPPOSITES = {"yes": "no", "no": "yes", "true": "false", "false": "true"}
_WORD = re.compile(r"[^\W\d_]+")
# After a full stop, possibly closing or opening a quotation: 'says: "At least ...' starts one.
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n][\"”]?\s*[\"“]?)$")


def _proper_nouns(question: str) -> list[str]:
    """Capitalised words seen at least once mid-sentence: names, not 'Who' or 'The'."""
    found = [
        m.group()
        for m in _WORD.finditer(question)
        if m.group().istitle() and not _SENTENCE_START.search(question[: m.start()])
    ]
    return list(dict.fromkeys(found))


def _pick(pool: list[str], key: float) -> str:
    return pool[int(key * len(pool))]


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LAST_INT = re.compile(r"\d+(?!.*\d)", re.DOTALL)


def _shift_structured(ref: str, by: int) -> str | None:
    """Answers with numbers inside: an ISO date moves `by` days, a CJK numeral grows by `by`,
    a list or era year ('[3, 1]', '平成31年', '令和元年') gets its last integer raised, and a
    JSON object becomes '{}' (which no generated schema accepts); plain words return None."""
    import datetime as dt

    from gapbench.scoring.numbers import parse_number, to_chinese_numeral

    if ref.startswith("{"):
        return "{}"
    if "元年" in ref:
        return ref.replace("元年", f"{1 + by}年")
    if _ISO_DATE.fullmatch(ref):
        return (dt.date.fromisoformat(ref) + dt.timedelta(days=by)).isoformat()
    value = parse_number(ref)
    if value is not None and value.denominator == 1 and 0 <= value < 10**12 - by:
        return to_chinese_numeral(int(value) + by)
    if not _LAST_INT.search(ref):
        return None
    return _LAST_INT.sub(lambda m: str(int(m.group()) + by), ref, count=1)


def wrong_answer(reference: str, question: str, key: float) -> str:
    """A plausible answer that differs from `reference`, chosen deterministically by `key` in [0,1).

    Numbers get reference + 1..9 (dates that many days, lists and era years their last integer);
    yes/no-style answers their opposite; names another name from
    the question; other words another word of the question (for unspaced scripts such as Chinese,
    another span of the same length).
    """
    ref = reference.strip()
    number = _parse_number(ref)
    if number is not None:
        return _format_like(number + 1 + int(key * 9), ref)
    shifted = _shift_structured(ref, 1 + int(key * 9))
    if shifted is not None:
        return shifted
    opposite = _OPPOSITES.get(ref.lower())
    if opposite is not None:
        return opposite.capitalize() if ref[:1].isupper() else opposite
    if ref.istitle() or ref == "none":  # 'none': an empty set of names, as in knights
        names = [w for w in _proper_nouns(question) if w != ref and len(w) > 1]
        if names:
            return _pick(names, key)
    words = [w for w in dict.fromkeys(_WORD.findall(question)) if w.casefold() != ref.casefold()]
    if ref.isascii():
        pool = [w for w in words if w.isascii() and len(w) > 1]
    else:
        # Unspaced scripts: the "words" are whole clauses, so take same-length spans instead.
        spans = {w[i : i + len(ref)] for w in words for i in range(len(w) - len(ref) + 1)}
        pool = sorted(x for x in spans if x != ref and len(x) == len(ref))
    return _pick(pool, key) if pool else f"not {ref}"


def _prompt_text(request: GenerationRequest) -> str:
    if request.messages is not None:
        return "\n".join(m.content for m in request.messages)
    return request.prompt or ""


class ScriptedBackend:
    """See the module docstring. Implements the Backend protocol."""

    def __init__(self, behaviour: ScriptedBehaviour) -> None:
        self.behaviour = behaviour

    def info(self) -> BackendInfo:
        """Provenance: the scripted engine at this gapbench version."""
        import gapbench

        return BackendInfo(
            backend="scripted",
            engine_version=f"scripted {gapbench.__version__}",
            batch_size=1,
            device="scripted (no model)",
            extra={
                "accuracy": str(self.behaviour.accuracy),
                "noanswer": str(self.behaviour.noanswer),
            },
        )

    def answer(self, request_id: str) -> str:
        """The output text for one request id; raises ValueError/KeyError/UsageError for an id
        that names no known task instance."""
        from gapbench.tasks.prompts import parse_request_id
        from gapbench.tasks.registry import get_task

        task_name, version, seed, index, difficulty = parse_request_id(request_id)
        task = get_task(task_name)
        if version != task.version:
            # Another version may generate a different instance: answering it would be a lie.
            raise ValueError(f"task {task_name} is at version {task.version}, not {version}")
        instance = task.instance(seed, index, difficulty)
        b = self.behaviour
        roll = _unit_hash(b.name, request_id)
        # Tasks whose answer is not a line of text (code) say what a right output looks like.
        reference_output = task.reference_output(instance)
        if roll < b.accuracy:
            if reference_output is not None:
                return reference_output
            return f"Let me think. I worked it out step by step. Answer: {instance.answer}"
        if roll < b.accuracy + b.noanswer:
            return NO_ANSWER_TEXT
        if reference_output is not None:
            return WRONG_CODE_TEXT
        wrong = wrong_answer(
            instance.answer, instance.question, _unit_hash(b.name, request_id, "w")
        )
        return f"Let me think. I worked it out step by step. Answer: {wrong}"

    def _generate_one(self, request: GenerationRequest) -> Generation:
        start = time.perf_counter()
        if self.behaviour.delay:
            time.sleep(self.behaviour.delay)
        prompt_tokens = len(_prompt_text(request).split())
        try:
            text = self.answer(request.request_id)
        except Exception as exc:  # any failure to rebuild the instance is this request's error
            end = time.perf_counter()
            return Generation(
                request_id=request.request_id,
                text="",
                prompt_tokens=prompt_tokens,
                completion_tokens=0,
                finish_reason="error",
                timing=Timing(start=start, end=end),
                error=f"scripted backend cannot answer request '{request.request_id}': {exc}",
            )
        words = text.split()
        finish: FinishReason = "stop"
        if len(words) > request.sampling.max_tokens:
            words = words[: request.sampling.max_tokens]
            text = " ".join(words)
            finish = "length"
        end = time.perf_counter()
        # Nothing streams here; placing the first token halfway keeps derived speeds (TPOT,
        # tokens/s) finite and the ordering start <= first_token <= end true.
        return Generation(
            request_id=request.request_id,
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(words),
            finish_reason=finish,
            timing=Timing(start=start, end=end, first_token=start + (end - start) / 2),
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[Generation]:
        """Answer each request in order, one Generation per request."""
        for request in requests:
            yield self._generate_one(request)

    def close(self) -> None:
        """Nothing to free."""


def create(spec: ModelSpec, model_path: Path | None, options: BackendOptions) -> ScriptedBackend:
    """Registry factory: the behaviour is read from the model id ('scripted:<name>?...')."""
    del model_path, options  # a scripted model has no weights and no engine settings
    return ScriptedBackend(ScriptedBehaviour.parse(spec.id))


PREFIX = "scripted:"


def scripted_spec(ref: str) -> ModelSpec:
    """The spec of 'scripted:<name>[?k=v&...]' (the registry's resolver): its options travel in
    the id and are parsed by the backend; origin= and released= fill the spec's own fields."""
    from gapbench.catalog.types import ModelSpec

    name, _, query = ref.removeprefix(PREFIX).partition("?")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise UsageError(
            f"Bad scripted model {ref!r}: write scripted:<name>[?key=value&...], "
            "with a name of letters, digits, '.', '_' or '-'."
        )
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True) if query else []
    except ValueError:
        raise UsageError(
            f"Bad options in scripted model {ref!r}: write key=value pairs joined by '&'."
        ) from None
    options = dict(pairs)
    kind: Literal["base", "instruct"] = "base" if options.get("kind") == "base" else "instruct"
    return ModelSpec(
        id=ref,
        display_name=ref,
        family="scripted",
        organisation="gapbench",
        origin=_scripted_origin(options.get("origin"), ref),
        params=0,
        kind=kind,
        license="Apache-2.0",
        release_date=_scripted_release(options.get("released"), ref),
        context_length=1_000_000,
        quantization="none",
        backend="scripted",
    )


def _scripted_origin(value: str | None, ref: str) -> str:
    """'origin=CN' of a scripted ref, as the catalog writes origins: a country code."""
    if value is None:
        return "unknown"
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise UsageError(
            f"Bad origin {value!r} in scripted model {ref!r}: give a two-letter country code, "
            "e.g. origin=CN."
        )
    return value.upper()


def _scripted_release(value: str | None, ref: str) -> dt.date | None:
    """'released=2025-01-20' of a scripted ref."""
    if value is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:  # 2025-02-30
            pass
    raise UsageError(
        f"Bad release date {value!r} in scripted model {ref!r}: write it as YYYY-MM-DD, "
        "e.g. released=2025-01-20."
    )
