# expect: forbidden
chunk = b"x" * (1024 * 1024)
with open("huge.bin", "wb") as f:
    for _ in range(1024):
        f.write(chunk)
        f.flush()
