# expect: failed
# reason: exited with code 121
# An exit code the old sandbox read as "memory limit".
raise SystemExit(121)
