# expect: failed
# A double-forked daemon in its own session outlives the program unless the sandbox reaps it.
import os
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(120)
    os._exit(0)
time.sleep(0.2)
raise SystemExit("left a daemon behind")
