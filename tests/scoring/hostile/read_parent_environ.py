# expect: failed
# Hunt for the parent's API key in every readable /proc/*/environ and cmdline.
import os

SECRET = b"sk-test-" + b"canary"
leaked = []
for entry in os.listdir("/proc"):
    for name in ("environ", "cmdline"):
        try:
            with open(f"/proc/{entry}/{name}", "rb") as f:
                if SECRET in f.read():
                    leaked.append(entry)
        except OSError:
            pass
if leaked:
    print("LEAKED", leaked)
    raise SystemExit(0)
raise SystemExit("no secret found")
