# expect: failed
# Make the read-only root and /usr writable again, or mount a fresh /proc.
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
done = [t for t in (b"/", b"/usr") if libc.mount(None, t, None, 32 | 4096, None) == 0]
if libc.mount(b"proc", b"/tmp", b"proc", 0, None) == 0:
    done.append(b"proc")
raise SystemExit(f"remounted {done}")
