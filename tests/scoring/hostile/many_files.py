# expect: forbidden
handles = [open(f"f{i}.txt", "w") for i in range(100_000)]  # noqa: SIM115
