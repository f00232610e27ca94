# expect: failed, forbidden
# A symlink from the working directory to the user's shell profile, then append through it.
import os

os.symlink("__HOME__/.bashrc", "profile")
with open("profile", "a") as f:
    f.write("echo escaped\n")
