"""Generate the benchmark ledger: N records over S subjects (Parquet, text columns as a
furnisher would send them), about 5% of records with events, a few invalid and repeated rows."""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from socialcredit.demo_city import organisation_id, person_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000_000)
    parser.add_argument("--subjects", type=int, default=2_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench/data"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rng = random.Random(1)
    ids = [person_id(rng) if i % 10 else organisation_id(rng) for i in range(args.subjects)]
    for i in range(0, args.subjects, 1000):  # about 0.1% invalid identifiers
        ids[i] = ids[i][:-1] + ("0" if ids[i][-1] != "0" else "1")
    con = duckdb.connect()
    con.register("ids_arrow", pa.table({"subject_id": ids}))
    con.execute(
        "CREATE TABLE ids AS SELECT row_number() OVER () - 1 AS n, subject_id FROM ids_arrow"
    )
    con.execute(f"""
        CREATE TABLE rec AS
        SELECT
            ['court', 'bank', 'utility', 'civil', 'samr', 'police', 'tax', 'water'][1 + i % 8] AS furnisher,
            'R' || i AS record_id,
            ids.subject_id,
            CASE WHEN ids.subject_id[1:2] = '91' AND i % 2 = 0 THEN 'court.judgment_default'
                 ELSE ['court.arrears', 'utility.late_fees', 'civic.honour', 'court.judgment_default',
                       'utility.late_fees', 'court.arrears', 'traffic.offence_minor'][1 + (i // 8) % 7]
            END AS code,
            CAST(DATE '2020-01-01' + CAST(hash(i) % 2400 AS INTEGER) AS VARCHAR) AS occurred_on,
            CASE WHEN i % 3 = 0 THEN '' ELSE CAST(hash(i * 7) % 5000 AS VARCHAR) || '.50' END AS amount,
            CAST(DATE '2020-01-01' + CAST(hash(i) % 2400 AS INTEGER) + 3 AS VARCHAR)
                || 'T09:00:00+08:00' AS recorded_at
        FROM range({args.records}) t(i)
        JOIN ids ON ids.n = hash(i * 31) % {args.subjects}
    """)
    # Persons may not carry organisation-only codes and vice versa: none of the codes above is
    # organisation-only; traffic.offence_minor on organisations is rejected (a realistic error).
    con.execute(f"""
        COPY (
            SELECT * FROM rec
            UNION ALL SELECT * FROM rec WHERE hash(record_id) % 2000 = 0   -- exact repeats
            ORDER BY record_id
        ) TO '{args.out}/records.parquet' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
    """)
    con.execute(f"""
        COPY (
            SELECT furnisher, record_id,
                   ['fulfilled', 'fulfilled', 'repaired', 'retracted'][CAST(1 + hash(record_id) % 4 AS BIGINT)] AS event,
                   CAST(CAST(occurred_on AS DATE) + 200 AS VARCHAR) AS date,
                   CAST(CAST(occurred_on AS DATE) + 201 AS VARCHAR) || 'T10:00:00Z' AS recorded_at
            FROM rec WHERE hash(record_id || 'e') % 20 = 0
        ) TO '{args.out}/events.parquet' (FORMAT parquet)
    """)
    counts = con.execute("SELECT count(*) FROM rec").fetchone()
    print(
        f"generated {counts[0] if counts else 0} records in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
