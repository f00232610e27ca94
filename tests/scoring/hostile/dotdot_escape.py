# expect: failed, forbidden
# Climb out of the working directory with '..' to the user's shell profile.
with open("../../../../../../../.." + "__HOME__/.bashrc", "a") as f:
    f.write("echo escaped\n")
