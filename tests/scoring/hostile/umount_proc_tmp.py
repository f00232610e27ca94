# expect: failed
# Unmount the private /proc and /tmp to reach the host's.
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
gone = [t for t in (b"/proc", b"/tmp", b"/sandbox") if libc.umount2(t, 2) == 0]
raise SystemExit(f"unmounted {gone}")
