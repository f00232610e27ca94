# expect: failed
# mode: check
# Read ahead on the request pipe hoping to see the expected answers (they never cross).
import os


def f(x):
    data = b""
    for fd in range(3, 16):
        try:
            os.set_blocking(fd, False)
            data += os.read(fd, 65536)
        except OSError:
            pass
    if b"9" in data:
        return 9
    return -1
