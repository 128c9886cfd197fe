"""The vectorised CSV path reads exactly what the Python reader reads, or steps aside."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcredit import inputs

CASES = {
    "bom": "\ufeffa,b\n1,2\n",
    "blank line": "a,b\n1,2\n\n3,4\n",
    "blank line at the end": "a,b\n1,2\n\n",
    "short row": "a,b\n1\n",
    "long row": "a,b\n1,2,3\n",
    "quotes and newlines": 'a,b\n"x,""y",2\n"multi\nline",3\n',
    "quote inside a field": 'a,b\nab"c,2\n',
    "text after a closing quote": 'a,b\n"abc"def,2\n',
    "crlf": "a,b\r\n1,2\r\n",
    "no final newline": "a,b\n1,2",
    "empty fields": "a,b\n,\n",
    "chinese": "a,b\n张三,荣成市\n",
}


def both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[dict], list[dict]]:  # type: ignore[type-arg]
    fast = inputs._read_csv(path, ["a", "b", "c"], ["a"]).to_pylist()
    with monkeypatch.context() as patch:
        patch.setattr(inputs, "_fast_csv", lambda *_args: None)
        slow = inputs._read_csv(path, ["a", "b", "c"], ["a"]).to_pylist()
    return fast, slow


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_csv_reads_what_the_python_reader_reads(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(CASES[case].encode("utf-8"))
    fast, slow = both(path, monkeypatch)
    assert fast == slow


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet=st.sampled_from('ab,"\n\r 张'), max_size=6),
            st.text(alphabet=st.sampled_from('ab,"\n 1'), max_size=6),
        ),
        max_size=8,
    )
)
def test_any_csv_writer_output_reads_the_same(rows: list[tuple[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["a", "b"])
    writer.writerows(rows)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.csv"
        path.write_bytes(buffer.getvalue().encode("utf-8"))
        fast = inputs._read_csv(path, ["a", "b"], ["a"]).to_pylist()
        original = inputs._fast_csv
        inputs._fast_csv = lambda *_args: None  # type: ignore[assignment]
        try:
            slow = inputs._read_csv(path, ["a", "b"], ["a"]).to_pylist()
        finally:
            inputs._fast_csv = original  # type: ignore[assignment]
    assert fast == slow
