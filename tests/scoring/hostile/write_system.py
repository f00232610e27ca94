# expect: forbidden
# levels: namespaces
with open("/etc/gapbench-escaped", "w") as f:
    f.write("escaped")
