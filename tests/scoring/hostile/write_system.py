# expect: forbidden, failed
for path in ("/etc/gapbench-escaped", "/usr/gapbench-escaped", "/gapbench-escaped"):
    try:
        with open(path, "w") as f:
            f.write("escaped")
    except OSError as exc:
        last = exc
raise last
