# expect: failed, forbidden
# The user's checkout of gapbench itself.
with open("__SRC__/gapbench/__init__.py", "a") as f:
    f.write("ESCAPED = True\n")
