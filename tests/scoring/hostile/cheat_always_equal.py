# expect: failed
# reason: cannot be checked outside
# mode: check
class Whatever:
    def __eq__(self, other):
        return True


def f(x):
    return Whatever()
