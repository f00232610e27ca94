"""Runs the hostile programs through gapbench's sandbox and prints the results as JSON.

A script, not a test: test_sandbox_hostile.py runs it in a subprocess, once as root and once as an
unprivileged user with an interpreter and a copy of gapbench that user can reach, because what
the sandbox must hold against depends on who runs it. Usage: python hostile_driver.py CONFIG.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any


def main() -> None:
    config = json.loads(sys.argv[1])
    sys.path.insert(0, config["src"])
    from gapbench.scoring.sandbox import Check, Job, SandboxLimits, isolation_level, run_jobs

    def verify(f: Any) -> None:
        for x in (3, 7, 12, -5):
            got = f(x)
            assert type(got) is int and got == x * x, f"f({x}) returned {got!r}"

    square = Check("f", verify)
    jobs = [Job(p["source"], square if p["mode"] == "check" else None) for p in config["programs"]]
    # The evaluation goes on after all of them: an honest answer still passes.
    jobs.append(Job("def f(x):\n    return x * x\n", square))
    limits = SandboxLimits(**config["limits"])
    results = run_jobs(jobs, limits, workers=2)
    isolation = isolation_level()
    print(json.dumps({"isolation": asdict(isolation), "results": [asdict(r) for r in results]}))


if __name__ == "__main__":
    main()
