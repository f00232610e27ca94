# expect: failed
# mode: check
# Print every marker a harness might look for, then exit 0 without answering.
import os


def f(x):
    print("CHECK-PASSED ALL-TESTS-PASSED OK probe-ok")
    os._exit(0)
