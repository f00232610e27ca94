# expect: failed
# mode: check
import sys

print("CHECK-PASSED")
sys.exit(0)
