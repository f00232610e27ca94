"""Per-instance correctness read in SQL for ranks, paired verdicts and the gap between origins.

As in stats/summary.py `paired_outcomes` and stats/ranking.py `shared_outcomes`: only draw 0 and
the first phrasing of an instance count, and of an instance answered under several settings the
latest answer, and the statistics are the terminal commands' own, fed so that the bootstrap
draws, and so the intervals, are identical.

`OutcomeTable` does it in one query for every set of models and task: SQLite
folds the instances into patterns (which models answered, which were right) per task, version
and difficulty, with each group's smallest "seed, index" (which, there, orders as the instances'
reprs do); Python only merges these few rows into the patterns a set of models shows, in order of
first occurrence over the instances sorted by repr (stats/ranking.py `SharedOutcomes.patterns`),
which is all the bootstrap depends on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gapbench.report.selection import Selection, marks
from gapbench.stats.ranking import SharedOutcomes
from gapbench.store.dbapi import Connection, is_postgres

INSTANCE = "task, task_version, seed, instance_index, difficulty"


def latest_answers(sel: Selection, models: Sequence[str]) -> tuple[str, list[Any]]:
    """A subquery of (instance columns, model_id, correct, sample_id): each model's latest
    answered draw 0 of the first phrasing of every instance."""
    where, params = sel.where()
    sql = f"""
        SELECT {INSTANCE}, model_id, correct, sample_id FROM (
            SELECT {INSTANCE}, model_id, correct, s.id AS sample_id,
                   ROW_NUMBER() OVER (PARTITION BY model_id, {INSTANCE}
                                      ORDER BY created_at DESC, settings_hash DESC) AS rn
            FROM samples AS s
            WHERE s.error IS NULL AND s.draw = 0 AND s.prompt_variant = 0
              AND s.model_id IN ({marks(models)}) AND {where}) AS answers
        WHERE rn = 1"""
    return sql, [*models, *params]


class OutcomeTable:
    """Every instance's answers (latest, draw 0, first phrasing) of the selected models, folded
    into patterns by SQLite, read at the first use and shared by the ranks, the paired verdicts
    and the gap (one scan of the samples instead of one per set of models)."""

    def __init__(
        self, conn: Connection, sel: Selection, models: Sequence[str] | None = None
    ) -> None:
        self.conn = conn
        self.sel = sel
        self.models = None if models is None else tuple(models)
        self._rows: list[tuple[str, dict[str, bool], int, str]] | None = None

    def rows(self) -> list[tuple[str, dict[str, bool], int, str]]:
        """(task, model -> right, instances, repr of the first instance) per pattern and group
        of task, version and difficulty."""
        if self._rows is None:
            self._rows = self._read()
        return self._rows

    def _read(self) -> list[tuple[str, dict[str, bool], int, str]]:
        where, params = self.sel.where()
        models = ""
        if self.models is not None:
            if not self.models:
                return []
            models = f"AND s.model_id IN ({marks(self.models)})"
            params = [*self.models, *params]
        latest = f"""
            SELECT {INSTANCE}, model_id, correct FROM (
                SELECT {INSTANCE}, model_id, correct,
                       ROW_NUMBER() OVER (PARTITION BY model_id, {INSTANCE}
                                          ORDER BY created_at DESC, settings_hash DESC) AS rn
                FROM samples AS s
                WHERE s.error IS NULL AND s.draw = 0 AND s.prompt_variant = 0 {models}
                  AND {where}) AS answers
            WHERE rn = 1"""
        # Each answer as "<right><length of the model id>:<model id>", concatenated.
        answer = "CAST(correct AS TEXT) || CAST(length(model_id) AS TEXT) || ':' || model_id"
        if is_postgres(self.conn):
            # Text compared by code point, as SQLite does, whatever the database's locale.
            concat, by_code_point = f"string_agg({answer}, '' ORDER BY model_id)", ' COLLATE "C"'
        else:
            concat, by_code_point = f"GROUP_CONCAT({answer}, '')", ""
        sql = f"""
            SELECT pattern, task, task_version, difficulty, COUNT(*) AS n,
                   MIN((CAST(seed AS TEXT) || ', ' || CAST(instance_index AS TEXT)){by_code_point})
                       AS first
            FROM (
                SELECT {INSTANCE}, {concat} AS pattern
                FROM ({latest}) AS latest GROUP BY {INSTANCE}) AS patterns
            GROUP BY pattern, task, task_version, difficulty"""
        rows = []
        for pattern, task, version, difficulty, n, first in self.conn.execute(sql, params):
            answers = _answers(str(pattern))
            # Within one task, version and difficulty the reprs differ only in "seed, index"
            # (integers), and a shorter one that is a prefix of another comes first in both
            # SQLite's order and repr's (', ' sorts before a digit): so the group's first
            # instance by repr is the one with the smallest "seed, index" text.
            rows.append(
                (task, answers, int(n), f"({task!r}, {version!r}, {first}, {difficulty!r})")
            )
        return rows

    def shared(self, models: Sequence[str], task: str | None = None) -> SharedOutcomes:
        """`shared_columns` of `models` (on `task` alone, or every selected task), folded."""
        if not models:
            return SharedOutcomes((), (), {})
        found: dict[tuple[bool, ...], list[Any]] = {}
        for row_task, answers, n, first in self.rows():
            if task is not None and row_task != task:
                continue
            if any(m not in answers for m in models):
                continue
            kind = tuple(answers[m] for m in models)
            seen = found.get(kind)
            if seen is None:
                found[kind] = [n, first]
            else:
                seen[0] += n
                seen[1] = min(seen[1], first)
        ordered = sorted(found.items(), key=lambda item: item[1][1])
        return SharedOutcomes(
            models=tuple(models),
            instances=(),
            correct={},
            patterns=tuple((kind, int(n)) for kind, (n, _) in ordered),
        )

    def answered(self) -> dict[str, set[str]]:
        """task -> the models with an answer there (draw 0, first phrasing)."""
        found: dict[str, set[str]] = {}
        for task, answers, _, _ in self.rows():
            found.setdefault(task, set()).update(answers)
        return found

    def pairs(self, models: Sequence[str]) -> dict[tuple[str, str], PairCounts]:
        """`pair_counts` of `models`."""
        counts = {(a, b): [0, 0, 0, 0] for i, a in enumerate(models) for b in models[i + 1 :]}
        for _, answers, n, _ in self.rows():
            for (a, b), c in counts.items():
                if a in answers and b in answers:
                    c[2 * (not answers[a]) + (not answers[b])] += n
        return {pair: (c[0], c[1], c[2], c[3]) for pair, c in counts.items()}


def _answers(pattern: str) -> dict[str, bool]:
    """model -> right, from OutcomeTable's concatenated answers."""
    answers = {}
    at = 0
    while at < len(pattern):
        colon = pattern.index(":", at)
        size = int(pattern[at + 1 : colon])
        answers[pattern[colon + 1 : colon + 1 + size]] = pattern[at] == "1"
        at = colon + 1 + size
    return answers


PairCounts = tuple[int, int, int, int]
"""(both right, only A right, only B right, both wrong) on the instances both answered."""


def columns_from_counts(counts: PairCounts) -> tuple[list[bool], list[bool]]:
    """Aligned outcome columns with these counts (order is immaterial to a paired verdict)."""
    both, only_a, only_b, neither = counts
    a = [True] * (both + only_a) + [False] * (only_b + neither)
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    return a, b


def phrasing_counts(
    conn: Connection, sel: Selection, model_a: str, model_b: str
) -> dict[str, tuple[int, int, int]]:
    """Per prompt phrasing both models were asked in: (paired instances, A right, B right), on
    the instances both answered in it (draw 0, latest answer), as stats/summary.py
    `phrasing_gaps` pairs them."""
    where, params = sel.where()
    sql = f"""
        SELECT style, COUNT(*) AS n, SUM(ra) AS ra, SUM(rb) AS rb FROM (
            SELECT style, SUM(CASE WHEN model_id = ? THEN correct END) AS ra,
                   SUM(CASE WHEN model_id = ? THEN correct END) AS rb
            FROM (
                SELECT {INSTANCE}, model_id, correct,
                       COALESCE(prompt_style, 'unknown') AS style,
                       ROW_NUMBER() OVER (PARTITION BY model_id, {INSTANCE},
                                          COALESCE(prompt_style, 'unknown')
                                          ORDER BY created_at DESC, settings_hash DESC) AS rn
                FROM samples AS s
                WHERE s.error IS NULL AND s.draw = 0 AND s.model_id IN (?, ?) AND {where})
                AS answers
            WHERE rn = 1
            GROUP BY {INSTANCE}, style HAVING COUNT(*) = 2) AS paired
        GROUP BY style"""
    rows = conn.execute(sql, [model_a, model_b, model_a, model_b, *params]).fetchall()
    return {r["style"]: (r["n"], r["ra"], r["rb"]) for r in rows}


def styles_by_model(conn: Connection, sel: Selection) -> dict[str, set[str]]:
    """The prompt phrasings each model's stored samples (failed ones included) were asked in."""
    where, params = sel.where()
    sql = (
        "SELECT DISTINCT model_id, COALESCE(prompt_style, 'unknown') FROM samples AS s "
        f"WHERE {where}"
    )
    found: dict[str, set[str]] = {}
    for model, style in conn.execute(sql, params):
        found.setdefault(model, set()).add(style)
    return found
