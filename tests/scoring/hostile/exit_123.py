# expect: failed
# reason: exited with code 123
# An exit code the old sandbox read as "sandbox setup failed".
raise SystemExit(123)
