# expect: timeout
# reason: wall-clock
import time

time.sleep(600)
