# expect: forbidden, failed
# Try to kill the test process, our parent and pid 1 (ourselves): none of it reaches the host.
import os
import signal

refused = []
for pid in (int("__TEST_PID__"), os.getppid(), 1):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as exc:
        refused.append(f"{pid}: {exc}")
raise PermissionError(f"refused: {refused}")
