#!/usr/bin/env python3
"""How fast SQLite takes an import's transition rows, outside Engine (issue 29; see HISTORY.md).

Reads every row of the transitions table of a SQLite ingest log (the log.db that deploy/bench/replay.sh leaves in
/tmp/engine-replay after an import with a model) and inserts them into a fresh file with the same table and indexes
(WAL, synchronous=FULL, as Engine opens its log), once per variant, printing a JSON line each:
  arrival-1000, arrival-10000   in the order Engine wrote them, in transactions of 1,000 and 10,000 rows;
  customer-10000                 grouped by customer (each customer's rows together, as a bulk import would write
                                 them), in transactions of 10,000;
  lean-10000                     arrival order without drivers and segment names;
  no-indexes-10000               arrival order, lean, without the (customer_id, number) and `at` indexes;
  events-10000                   the import's events themselves into the ingest log's table (its unique index and
                                 the customer_head upsert per transaction, as SqliteEventLog appends a batch): the
                                 other rows the same file's one writer must take in an import.
Usage: deploy/bench/transition-rows.py /tmp/engine-replay/log.db [scratch.db]
"""
import json
import os
import resource
import sqlite3
import sys
import time

COLUMNS = "customer_id, number, from_segment, to_segment, at, cause, model_version, drivers, from_name, to_name, log_position"
TABLE = """CREATE TABLE transitions (id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id TEXT NOT NULL,
  number INTEGER NOT NULL, from_segment TEXT NOT NULL, to_segment TEXT NOT NULL, at INTEGER NOT NULL,
  cause INTEGER NOT NULL, model_version INTEGER NOT NULL, drivers TEXT NULL, from_name TEXT NULL, to_name TEXT NULL,
  log_position INTEGER NULL{unique})"""


EVENTS = """CREATE TABLE ingest_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,
  customer_id TEXT NOT NULL, kind INTEGER NOT NULL, occurred_at INTEGER NOT NULL, amount REAL NOT NULL, category TEXT NULL,
  attributes TEXT NULL, as_of INTEGER NOT NULL, prev_seq INTEGER NOT NULL DEFAULT 0, model_version INTEGER NULL,
  UNIQUE (event_id, customer_id))"""
HEADS = "CREATE TABLE customer_head (customer_id TEXT NOT NULL PRIMARY KEY, last_seq INTEGER NOT NULL) WITHOUT ROWID"
EVENT_COLUMNS = "seq, event_id, customer_id, kind, occurred_at, amount, category, attributes, as_of, prev_seq, model_version"
MOVE_HEADS = """INSERT INTO customer_head (customer_id, last_seq)
  SELECT customer_id, MAX(seq) FROM ingest_log WHERE seq > ? GROUP BY customer_id
  ON CONFLICT (customer_id) DO UPDATE SET last_seq = excluded.last_seq"""


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fresh(path):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


def insert(path, rows, group, indexes):
    db = fresh(path)
    db.execute(TABLE.format(unique=", UNIQUE (customer_id, number)" if indexes else ""))
    if indexes:
        db.execute("CREATE INDEX ix_transitions_at ON transitions (at)")
    statement = f"INSERT INTO transitions ({COLUMNS}) VALUES ({', '.join('?' * 11)})"
    return timed(db, rows, group, lambda start, chunk: db.executemany(statement, chunk))


def append_events(path, rows, group):
    db = fresh(path)
    db.execute(EVENTS)
    db.execute(HEADS)
    statement = f"""INSERT OR IGNORE INTO ingest_log ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
      COALESCE(?10, (SELECT last_seq FROM customer_head WHERE customer_id = ?3), 0), ?11)"""

    def append(start, chunk):
        # As SqliteEventLog: the link to a previous row of the same batch is known, any other comes from the head.
        in_batch = {row[0] for row in chunk}
        db.executemany(statement, [row[:9] + (row[9] if row[9] in in_batch else None,) + row[10:] for row in chunk])
        db.execute(MOVE_HEADS, (chunk[0][0] - 1,))
    return timed(db, rows, group, append)


def timed(db, rows, group, write):
    wall, cpu = time.monotonic(), cpu_seconds()
    for start in range(0, len(rows), group):
        db.execute("BEGIN")
        write(start, rows[start:start + group])
        db.execute("COMMIT")
    wall, cpu = time.monotonic() - wall, cpu_seconds() - cpu
    db.close()
    return {"rows": len(rows), "rows_per_second": round(len(rows) / wall), "seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2)}


def main():
    source, scratch = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "/tmp/transition-rows.db"
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as db:
        arrival = db.execute(f"SELECT {COLUMNS} FROM transitions ORDER BY id").fetchall()
        events = db.execute(f"SELECT {EVENT_COLUMNS} FROM ingest_log ORDER BY seq").fetchall()
    if not arrival:
        sys.exit(f"{source} has no transitions: import with a model first (deploy/bench/replay.sh)")
    by_customer = sorted(arrival, key=lambda row: (row[0], row[1]))
    lean = [row[:7] + (None, None, None) + row[10:] for row in arrival]
    variants = [("arrival-1000", arrival, 1000, True), ("arrival-10000", arrival, 10000, True),
                ("customer-10000", by_customer, 10000, True), ("lean-10000", lean, 10000, True),
                ("no-indexes-10000", lean, 10000, False)]
    for name, rows, group, indexes in variants:
        print(json.dumps({"variant": name, "sqlite": sqlite3.sqlite_version, **insert(scratch, rows, group, indexes)}),
              flush=True)
    print(json.dumps({"variant": "events-10000", "sqlite": sqlite3.sqlite_version,
                      **append_events(scratch, events, 10000)}), flush=True)


if __name__ == "__main__":
    main()
