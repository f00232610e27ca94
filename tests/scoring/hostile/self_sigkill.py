# expect: failed
# reason: still here
# SIGKILL ourselves: the old sandbox called this "CPU time limit exceeded". As pid 1 of its
# namespace the program does not even die of it.
import os
import signal

os.kill(os.getpid(), signal.SIGKILL)
raise SystemExit("still here")
