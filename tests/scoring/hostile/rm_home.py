# expect: failed, forbidden
import os
import shutil

os.system("rm -rf ~ __HOME__ 2>/dev/null")
shutil.rmtree("__HOME__", ignore_errors=True)
os.remove(os.path.join("__HOST_DIR__", "sentinel.txt"))
