# expect: failed, forbidden
# A .pth file in site-packages runs at every start of that Python.
with open("__SITE__/gapbench_escape.pth", "w") as f:
    f.write("import os; os.system('echo escaped')\n")
