# expect: forbidden, failed
import os

os.setuid(0)
os.chmod("/etc/passwd", 0o666)
