# expect: failed, forbidden
# Code that would run at the user's next login.
with open("__HOME__/.bashrc", "a") as f:
    f.write("echo escaped\n")
