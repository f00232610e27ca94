# expect: failed, forbidden
# levels: namespaces
import os
import shutil

os.system("rm -rf ~ 2>/dev/null")
shutil.rmtree(os.path.expanduser("~"), ignore_errors=True)
os.remove(os.path.join("__HOST_DIR__", "sentinel.txt"))
