# expect: failed, forbidden
# __HOST_DIR__ is a world-writable directory of the test; nothing may appear in it.
import os

with open(os.path.join("__HOST_DIR__", "escaped.txt"), "w") as f:
    f.write("escaped")
