# expect: timeout, forbidden
# A fork bomb that survives failed forks and keeps every child alive.
import os
import time

while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.05)
