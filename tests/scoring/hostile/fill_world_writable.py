# expect: failed
# World-writable host folders keep files past the program, beyond any tmpfs size: try them all.
import os

kept = []
for folder in (
    "/tmp",
    "/var/tmp",
    "/var/lock",
    "/run/lock",
    "/dev/shm",
    "/dev/mqueue",
    "/var/crash",
):
    try:
        with open(os.path.join(folder, "gapbench-escape-ww"), "wb") as f:
            f.write(b"x" * 4096)
        kept.append(folder)
    except OSError:
        pass
raise SystemExit(f"wrote into {kept} (the sandbox's own tmpfs, if anywhere)")
