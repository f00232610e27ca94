# expect: failed
# mode: check
# Write fake passing replies and statuses into every descriptor, and to pid 1's through /proc.
import contextlib
import os

FAKE = b'{"value": 0}\n{"done": {"exit": 0}}\n{"exit": 0}\n'


def f(x):
    for fd in range(3, 256):
        with contextlib.suppress(OSError):
            os.write(fd, FAKE)
    for name in os.listdir("/proc/1/fd"):
        try:
            with open(f"/proc/1/fd/{name}", "wb") as out:
                out.write(FAKE)
        except OSError:
            pass
    os._exit(0)
