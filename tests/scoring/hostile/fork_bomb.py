# expect: forbidden, timeout
import os

while True:
    os.fork()
