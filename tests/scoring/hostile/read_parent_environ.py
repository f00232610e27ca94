# expect: failed
# levels: namespaces
# Hunt for the parent's API key in every readable /proc/*/environ.
import os

SECRET = b"sk-test-" + b"secret"
leaked = []
for entry in os.listdir("/proc"):
    try:
        with open(f"/proc/{entry}/environ", "rb") as f:
            if SECRET in f.read():
                leaked.append(entry)
    except OSError:
        pass
if leaked:
    print("LEAKED", leaked)
    raise SystemExit(0)
raise SystemExit("no secret found")
