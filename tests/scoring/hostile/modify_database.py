# expect: failed, forbidden
# Change the results database in the user's project folder.
import sqlite3

with open("__DB__", "r+b") as f:
    f.write(b"corrupted")
conn = sqlite3.connect("__DB__")
conn.execute("DELETE FROM results")
conn.commit()
