# expect: failed, forbidden
with open("__HOME__/.ssh/id_ed25519") as f:
    print(f.read())
