"""Python's sqlite3 module driving the FTS5 code that CVE-2026-11822/CVE-2026-11824 fix.

A transcription into Python of SQLite's own regression test for the fix,
ext/fts5/test/fts5corruptA.test (upstream commit 79db323ce149, public domain):
an FTS5 index whose leaf record claims more bytes than it holds. The fixed
fts5LeafRead() refuses the record as corrupt; the unfixed one reads past it.
Prints the library version, then "corrupt: MESSAGE" or "rows: N".
"""

import sqlite3
import sys

path = sys.argv[1]
db = sqlite3.connect(path)
print("sqlite", sqlite3.sqlite_version)
db.execute("CREATE VIRTUAL TABLE t USING fts5(x, detail='full')")
db.execute("INSERT INTO t(t, rank) VALUES('pgsz', 32)")
db.execute("INSERT INTO t(rowid, x) VALUES(1, ?)", ("a " * 200,))
db.commit()  # FTS5 keeps pending terms in memory until the transaction ends
base, count = db.execute("SELECT min(rowid), count(*) FROM t_data WHERE rowid>1000").fetchone()
for ii in range(5):
    db.execute("INSERT INTO t_data(rowid, block) VALUES(?, zeroblob(4))", (base + count + ii,))
db.execute(
    "INSERT INTO t_data(rowid, block) VALUES(?, ?)",
    (base + count + 5, bytes.fromhex("00000080" + "CC" * 124)),
)
db.commit()
db.close()
with open(path, "rb") as fh:
    data = bytearray(fh.read())
at = data.find(bytes.fromhex("023061018310"))
assert at >= 0, "the record to corrupt is not in the database"
data[at : at + 6] = bytes.fromhex("023061018370")
with open(path, "wb") as fh:
    fh.write(data)
db = sqlite3.connect(path)
try:
    rows = db.execute("SELECT rowid FROM t WHERE t MATCH 'a'").fetchall()
except sqlite3.DatabaseError as exc:
    print("corrupt:", exc)
else:
    print("rows:", len(rows))
