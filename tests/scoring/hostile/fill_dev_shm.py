# expect: forbidden
# reason: No space left
# Fill /dev/shm: it is the sandbox's own sized tmpfs.
for i in range(1000):
    with open(f"/dev/shm/gapbench-escape-shm{i}", "wb") as f:
        for _ in range(8):
            f.write(b"x" * (1 << 20))
