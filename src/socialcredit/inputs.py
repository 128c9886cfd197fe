"""Read furnished files (CSV, JSON lines, Parquet) into one shape every engine reads.

The shape is an Arrow table of strings: ``_row`` (the row number, from 1 at the first data row),
one string column per known field (null when absent), and ``_error`` (why a row could not be read
at all, else null). Typed Parquet columns are turned into the same text a CSV would carry, so
that every format and every engine reads exactly the same values.
"""

from __future__ import annotations

import csv
import json
import mmap
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from socialcredit.errors import UsageError

FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}
CHUNK = 100_000
LONE_CR = re.compile(rb"\r(?!\n)")

# The most characters one field may hold. No field of a furnished row is near it (an identifier
# is 18, a record_id at most 100, a name a few dozen); a longer one is refused with its row, so
# that a huge value costs the furnisher its row and never the file.
MAX_FIELD = 4096
# The csv module's own limit (131,072 by default) would refuse the whole file at the first
# longer field; the body limit bounds what can arrive, so the reader takes any field and the
# row is refused below.
csv.field_size_limit(2**31 - 1)
# Bytes that are not UTF-8, as the reader keeps them (surrogateescape).
ESCAPED = re.compile("[\udc80-\udcff]")
BOM = b"\xef\xbb\xbf"


@dataclass
class Input:
    """One furnished file: its name (for the rejects report), its row count and its rows.

    ``table`` is built on first use. For a Parquet file whose columns are all text, ``parquet``
    names the file and ``present`` its known columns, so that an engine may scan the file itself
    (numbering rows from 1 in file order) without the Arrow copy.
    """

    name: str
    rows: int
    load: Callable[[], pa.Table]
    parquet: Path | str | None = None  # a str: a URL only Spark reads (see remote_parquet)
    present: tuple[str, ...] = ()
    _table: pa.Table | None = field(default=None, repr=False)

    @property
    def table(self) -> pa.Table:
        if self._table is None:
            self._table = self.load()
        return self._table

    def iter_rows(self) -> Iterator[tuple[int, dict[str, str | None]]]:
        """(row number, fields) in file order, for the reference engine."""
        for batch in self.table.to_batches(max_chunksize=CHUNK):
            for fields in batch.to_pylist():
                yield int(fields.pop("_row")), fields


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"{path}: unknown file type {path.suffix!r}; use .csv, .jsonl (JSON lines) or .parquet"
        )
    return fmt


def _check_columns(path: Path, present: Sequence[str], required: Sequence[str]) -> None:
    missing = [name for name in required if name not in present]
    if missing:
        raise UsageError(
            f"{path}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (found: {', '.join(present) or 'none'})"
        )


def repeated(names: Sequence[str]) -> list[str]:
    """The names that occur more than once, sorted (one pass: a header of a million columns
    costs a million steps, not a million squared)."""
    return sorted(name for name, count in Counter(names).items() if count > 1)


def guess_encoding(raw: bytes) -> str | None:
    """The likeliest encoding of bytes that are not UTF-8, for the hint in a rejection: GB18030
    (which includes GBK and GB2312) first, as most text a Chinese furnisher's tools save in
    another encoding is in it; else charset-normalizer's best guess."""
    try:
        raw.decode("gb18030")
    except UnicodeDecodeError:
        pass
    else:
        return "GBK (GB18030)"
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    return None if best is None else best.encoding


def not_utf8(raw: bytes) -> str:
    """Why a row is refused for bytes that are not UTF-8, with the encoding guessed."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        where = f"{error.reason} at byte {error.start + 1} of the row"
    else:  # pragma: no cover - only called for rows that are not UTF-8
        where = "invalid bytes"
    guess = guess_encoding(raw)
    hint = f"; it looks like {guess}: re-save the file as UTF-8" if guess else "; re-save as UTF-8"
    return f"not UTF-8 text ({where}){hint}"


def too_long(values: dict[str, str | None]) -> str | None:
    """Why a row is refused for a field longer than :data:`MAX_FIELD`, or None."""
    for name, value in values.items():
        if value is not None and len(value) > MAX_FIELD:
            return (
                f"field {name} holds {len(value):,} characters; a field holds at most {MAX_FIELD:,}"
            )
    return None


def _table(columns: dict[str, list[Any]], fields: Sequence[str]) -> pa.Table:
    arrays = {"_row": pa.array(columns["_row"], pa.int64())}
    for name in (*fields, "_error"):
        arrays[name] = pa.array(columns[name], pa.string())
    return pa.table(arrays)


def _empty_columns(fields: Sequence[str]) -> dict[str, list[Any]]:
    return {name: [] for name in ("_row", *fields, "_error")}


def _fast_csv(path: Path, header: list[str], fields: Sequence[str]) -> pa.Table | None:
    """The same table through Arrow's vectorised CSV reader, or None whenever the file has
    anything the Python reader treats specially (a short or long row, a blank line, invalid
    UTF-8): then the Python reader below reads it and says exactly what is wrong."""
    if len(header) < 2:
        return None
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data.find(b"\n\n") != -1 or data.find(b"\n\r\n") != -1:
            return None  # a blank line is a rejected row to the Python reader
        if data.find(b"\r") != -1 and LONE_CR.search(data):
            return None  # a lone carriage return ends a line only for the Python reader
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError):
        return None
    if table.column_names != header:
        return None
    for name in header:  # a field over the limit is a refused row: the Python reader says so
        longest = pc.max(pc.utf8_length(table.column(name))).as_py()
        if longest is not None and longest > MAX_FIELD:
            return None
    rows = table.num_rows
    arrays: dict[str, Any] = {"_row": pa.array(range(1, rows + 1), pa.int64())}
    for name in fields:
        arrays[name] = table.column(name) if name in header else pa.nulls(rows, pa.string())
    arrays["_error"] = pa.nulls(rows, pa.string())
    return pa.table(arrays)


def _read_csv(path: Path, fields: Sequence[str], required: Sequence[str]) -> pa.Table:
    try:
        handle = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from error
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise UsageError(f"{path}: the file is empty; expected a header row")
            if any(ESCAPED.search(name) for name in header):
                raw = ",".join(header).encode("utf-8", "surrogateescape")
                raise UsageError(f"{path}: the header row is {not_utf8(raw)}")
            duplicates = repeated(header)
            if duplicates:
                shown = ", ".join(duplicates[:10]) + (" …" if len(duplicates) > 10 else "")
                raise UsageError(f"{path}: repeated column names {shown}")
            _check_columns(path, header, required)
            fast = _fast_csv(path, header, fields)
            if fast is not None:
                return fast
            position = {name: header.index(name) for name in fields if name in header}
            columns = _empty_columns(fields)
            for number, row in enumerate(reader, start=1):
                columns["_row"].append(number)
                problem = None
                if len(row) != len(header):
                    problem = (
                        "empty row"
                        if not row
                        else f"row has {len(row)} fields, the header has {len(header)}"
                    )
                elif any(ESCAPED.search(value) for value in row):
                    problem = not_utf8(",".join(row).encode("utf-8", "surrogateescape"))
                else:
                    problem = too_long(dict(zip(header, row, strict=True)))
                if problem is not None:
                    row = []
                columns["_error"].append(problem)
                for name in fields:
                    index = position.get(name)
                    columns[name].append(row[index] if index is not None and row else None)
        except csv.Error as error:
            raise UsageError(
                f"{path}: unreadable CSV at line {reader.line_num}: {error}"
            ) from error
    return _table(columns, fields)


def _json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    raise TypeError


def _json_row(line: bytes, fields: Sequence[str], seen: set[str]) -> dict[str, str | None]:
    """One JSON line's fields; ValueError says why the row cannot be read."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(not_utf8(line.rstrip(b"\r\n"))) from None
    try:
        # Numbers keep their exact text: 12.50 stays "12.50", 1e3 stays "1e3".
        obj = json.loads(text, parse_float=str, parse_int=str)
    except RecursionError:
        raise ValueError("unreadable JSON: nested too deeply") from None
    except ValueError as error:  # JSONDecodeError is a ValueError
        raise ValueError(f"unreadable JSON: {error}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"unreadable JSON: the row is a JSON {_json_type(obj)}, not an object")
    seen.update(name for name in obj if name in fields)
    values: dict[str, str | None] = {}
    for name in fields:
        try:
            values[name] = _json_text(obj.get(name))
        except TypeError:
            raise ValueError(
                f"unreadable JSON: field {name!r} holds a JSON {_json_type(obj[name])}; "
                "expected a string, a number or null"
            ) from None
    problem = too_long(values)
    if problem is not None:
        raise ValueError(problem)
    return values


def _json_type(value: Any) -> str:
    names: dict[type, str] = {dict: "object", list: "array", str: "string"}
    return names.get(type(value), type(value).__name__)


def _read_jsonl(path: Path, fields: Sequence[str], required: Sequence[str]) -> pa.Table:
    """JSON lines, read as bytes: a line that is not UTF-8, not JSON, not an object or nested
    too deeply is a refused row, and the other lines are read."""
    columns = _empty_columns(fields)
    seen: set[str] = set()
    try:
        handle = path.open("rb")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from error
    with handle:
        number = 0
        for index, line in enumerate(handle):
            if index == 0 and line.startswith(BOM):
                line = line[len(BOM) :]
            if not line.strip():
                continue
            number += 1
            columns["_row"].append(number)
            try:
                values = _json_row(line, fields, seen)
                unreadable = None
            except ValueError as problem:
                values, unreadable = {}, str(problem)
            columns["_error"].append(unreadable)
            for name in fields:
                columns[name].append(values.get(name))
    if number:
        _check_columns(path, sorted(seen), required)
    return _table(columns, fields)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_string(kind):
        return column
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return column.cast(pa.string())
    if pa.types.is_timestamp(kind):
        if kind.tz is None:  # a naive timestamp carries no zone: written without one, malformed
            return pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
        utc = column.cast(pa.timestamp(kind.unit, tz="UTC"))
        return pc.binary_join_element_wise(pc.strftime(utc, format="%Y-%m-%dT%H:%M:%S"), "Z", "")
    if pa.types.is_null(kind):
        return column.cast(pa.string())
    if pa.types.is_boolean(kind):
        return pc.if_else(column, "true", "false")
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise UsageError(f"column of type {kind} cannot be read as text") from None


def _parquet_table(path: Path, fields: Sequence[str], present: Sequence[str]) -> pa.Table:
    table = pq.read_table(path, columns=list(present))
    ones = pa.repeat(pa.scalar(1, pa.int64()), table.num_rows)
    arrays: dict[str, pa.ChunkedArray] = {"_row": pa.chunked_array([pc.cumulative_sum(ones)])}
    for name in fields:
        if name in present:
            arrays[name] = _as_text(table.column(name))
        else:
            arrays[name] = pa.chunked_array([pa.nulls(table.num_rows, pa.string())])
    arrays["_error"] = pa.chunked_array([pa.nulls(table.num_rows, pa.string())])
    return pa.table(arrays)


def _read_parquet(path: Path, fields: Sequence[str], required: Sequence[str]) -> Input:
    try:
        metadata = pq.read_metadata(path)
        schema = metadata.schema.to_arrow_schema()
    except (OSError, pa.ArrowInvalid) as error:
        raise UsageError(f"{path}: not a readable Parquet file: {error}") from error
    _check_columns(path, schema.names, required)
    present = tuple(name for name in fields if name in schema.names)
    all_text = all(pa.types.is_string(schema.field(name).type) for name in present)
    return Input(
        name=path.name,
        rows=int(metadata.num_rows),
        load=lambda: _parquet_table(path, fields, present),
        parquet=path if all_text else None,
        present=present,
    )


def _eager(path: Path, table: pa.Table) -> Input:
    return Input(name=path.name, rows=int(table.num_rows), load=lambda: table, _table=table)


def is_url(location: str | Path) -> bool:
    """A location with a scheme (``hdfs://``, ``s3a://``, ``file://``…), for Spark to open."""
    return "://" in str(location)


def remote_parquet(url: str) -> Input:
    """A Parquet file at a URL, read by the Spark engine itself: its columns are checked and
    its rows counted when Spark opens it (``rows`` is -1 until then)."""

    def unavailable() -> pa.Table:
        raise UsageError(f"{url}: a URL is read by --engine spark only")

    if not url.rstrip("/").endswith(".parquet"):
        raise UsageError(f"{url}: only Parquet files are read from a URL (a .parquet name)")
    return Input(name=url.rstrip("/").rsplit("/", 1)[-1], rows=-1, load=unavailable, parquet=url)


def read_input(path: Path, *, fields: Sequence[str], required: Sequence[str]) -> Input:
    """Read a furnished file. A missing required column is a usage error (exit status 2)."""
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    fmt = file_format(path)
    if fmt == "parquet":
        return _read_parquet(path, fields, required)
    reader = _read_csv if fmt == "csv" else _read_jsonl
    return _eager(path, reader(path, fields, required))


def _json_scalar(event: str, value: Any) -> str:
    """The JSON text of a scalar event of ijson: numbers keep their digits."""
    if event == "number":
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def json_array_to_lines(source: Path, target: Path) -> int:
    """Rewrite a JSON array of row objects as JSON lines, streaming (ijson's events), so that a
    body of any depth or size is read in bounded memory and each item becomes one row for the
    JSON-lines reader: an item that is not an object is kept as such and refused as its row,
    a field that holds an array or an object is kept as an empty one and refused with its row,
    and the other rows are read. Returns the number of items. Raises :class:`UsageError` when
    the body is not one JSON array."""
    import ijson

    items = 0
    level = 0  # 0: between the items of the array; 1: inside an item; more: nested deeper
    fields: list[str] | None = None  # the item's "key":value texts; None: not an object
    shape = ""  # the item's text when it is not an object
    key = ""
    try:
        with source.open("rb") as raw, target.open("w", encoding="utf-8") as out:
            events = ijson.basic_parse(raw, use_float=False)
            first = next(events, None)
            if first is None or first[0] != "start_array":
                raise UsageError("the body must be a JSON array of objects, one per row")
            for event, value in events:
                if event in ("start_map", "start_array"):
                    level += 1
                    if level == 1:
                        fields = [] if event == "start_map" else None
                        shape = "[]"
                    elif level == 2 and fields is not None:
                        empty = "{}" if event == "start_map" else "[]"
                        fields.append(f"{json.dumps(key)}:{empty}")
                elif event in ("end_map", "end_array"):
                    if level == 0:
                        break  # the end of the array
                    level -= 1
                    if level == 0:
                        items += 1
                        text = "{" + ",".join(fields) + "}" if fields is not None else shape
                        out.write(text + "\n")
                elif event == "map_key":
                    key = str(value)
                elif level == 0:  # a scalar item
                    items += 1
                    out.write(_json_scalar(event, value) + "\n")
                elif level == 1 and fields is not None:
                    fields.append(f"{json.dumps(key)}:{_json_scalar(event, value)}")
            for _ in events:  # anything after the array is an error ijson raises
                raise UsageError("the body holds more than one JSON value")
    except ijson.JSONError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(f"the body is not JSON: {reason}") from None
    return items
