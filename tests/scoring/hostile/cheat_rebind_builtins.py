# expect: failed
# mode: check
# Rebind what an in-sandbox check would use to compare, then answer wrongly.
import builtins

builtins.type = lambda obj: int
builtins.isinstance = lambda obj, cls: True
builtins.AssertionError = type("Nothing", (Exception,), {})


def f(x):
    return float(x * x) + 0.5
