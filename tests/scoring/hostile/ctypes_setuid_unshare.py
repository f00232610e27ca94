# expect: failed
# setuid(0), a new user namespace and a new network namespace through libc: all refused.
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
granted = []
if libc.setuid(0) == 0:
    granted.append("setuid")
for name, flag in (("user", 0x10000000), ("net+mount", 0x40000000 | 0x00020000)):
    if libc.unshare(flag) == 0:
        granted.append(name)
if granted:
    raise SystemExit(0)
raise SystemExit(f"refused: setuid, unshare (errno {ctypes.get_errno()})")
