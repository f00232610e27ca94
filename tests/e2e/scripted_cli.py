"""The gapbench CLI, run as `python tests/e2e/scripted_cli.py ARGS...`, with the scripted backend
instrumented for tests through environment variables (the backend itself stays as shipped):

- GAPBENCH_TEST_GENERATIONS=PATH appends "pid request_id" to PATH for every generation, so a test
  can count how often each sample was generated, across processes;
- GAPBENCH_TEST_FAIL=F makes a deterministic share F of requests fail (by a hash of the request
  id), as an API that errors would.
"""

from __future__ import annotations

import os
import time

from gapbench.backends import scripted
from gapbench.backends.types import Generation, GenerationRequest

_answer = scripted.ScriptedBackend._generate_one


def _instrumented(self: scripted.ScriptedBackend, request: GenerationRequest) -> Generation:
    log = os.environ.get("GAPBENCH_TEST_GENERATIONS")
    if log:
        # One O_APPEND write per line: lines from concurrent processes never interleave.
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{os.getpid()} {request.request_id}\n".encode())
        finally:
            os.close(fd)
    share = float(os.environ.get("GAPBENCH_TEST_FAIL", "0"))
    if share and scripted._unit_hash("fail", request.request_id) < share:
        return Generation.failed(request.request_id, time.perf_counter(), "injected failure")
    return _answer(self, request)


scripted.ScriptedBackend._generate_one = _instrumented  # type: ignore[method-assign]

if __name__ == "__main__":
    from gapbench.cli.main import main

    main()
