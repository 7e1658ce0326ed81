"""One reader for every dataset: KRX/ECOS JSON bodies (optionally gzip) and hand-downloaded
CP949 CSV files, turned into a frame of source strings keyed by the dataset table's fields.

The reader only checks the *shape* of a file (envelope, encoding, columns). Values are typed and
checked by ``pipelines.validation``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.json as pj

from pipelines.sources.datasets import (
    MISSING,
    Dataset,
    LandingFile,
    PathError,
    parse_landing_path,
)

MAX_RECORDED_FAILURES = 1000


@dataclass(frozen=True)
class Failure:
    """One broken rule: which row (None for the whole file), column, rule and value."""

    row_number: int | None
    column: str | None
    check: str
    value: str | None = None
    record: dict | None = None


class FileRejected(Exception):
    """A file that fails validation; it is not loaded."""

    def __init__(self, relpath: str, dataset: str, sha256: str, failures: list[Failure]):
        self.relpath = relpath
        self.dataset = dataset
        self.sha256 = sha256
        self.failures = failures
        super().__init__(describe_rejection(relpath, failures))

    def __reduce__(self):
        return FileRejected, (self.relpath, self.dataset, self.sha256, self.failures)


def describe_rejection(relpath: str, failures: list[Failure]) -> str:
    """``path: row N, column C: rule R (value 'v') [and K more]`` for the first failure."""
    first = failures[0]
    where = "file" if first.row_number is None else f"row {first.row_number}"
    if first.column:
        where += f", column {first.column}"
    value = "" if first.value is None else f" (value {first.value!r})"
    more = f" [and {len(failures) - 1} more failures]" if len(failures) > 1 else ""
    return f"{relpath}: {where}: rule {first.check}{value}{more}"


@dataclass
class RawFile:
    """A landing file read into source strings.

    Row ``i`` of ``frame`` is record ``i + 1`` of the file (CSV: the ``i + 1``-th data line).
    """

    landing: LandingFile
    sha256: str
    frame: pl.DataFrame  # one Utf8 column per source field, in the dataset's order
    body: bytes = field(repr=False)  # the (decompressed) body the frame was read from

    @property
    def dataset(self) -> Dataset:
        return self.landing.dataset

    @property
    def relpath(self) -> str:
        return self.landing.relpath

    @cached_property
    def records(self) -> list[dict]:
        """The records as the source sent them, read again from the body on demand: only
        rejected files need them, so a large load never holds millions of dicts."""
        records, _ = _records(self.landing, self.body)
        return records


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_file(root: Path, relpath: str) -> RawFile:
    """Read and shape-check one landing file; raise ``FileRejected`` naming the file, row, rule."""
    data = (root / relpath).read_bytes()
    return parse_file(relpath, data, file_sha256(data))


def read_changed(
    root: Path, relpaths: list[str], known: dict[str, str]
) -> list[RawFile | FileRejected | None]:
    """Read and shape-check landing files, in order: each as its ``RawFile``, as its
    ``FileRejected`` (not raised, so a worker can return it), or None when its bytes hash to
    ``known[relpath]`` (already loaded).

    The plain JSON files of one dataset whose bodies are compact lists of string-valued
    records (everything KRX and ECOS send) are parsed together by Arrow's JSON reader, a few
    times faster than building columns from Python objects. Every file the fast path cannot
    vouch for, and every file of a group it fails on, is read by ``parse_file``, which names
    each problem; the frames are the same either way.
    """
    results: list[RawFile | FileRejected | None] = [None] * len(relpaths)
    groups: dict[str, list[tuple[int, _Part]]] = {}
    for i, relpath in enumerate(relpaths):
        data = (root / relpath).read_bytes()
        sha = file_sha256(data)
        if sha == known.get(relpath):
            continue
        part = _list_part(relpath, data, sha)
        if part is None:
            results[i] = _parsed(relpath, data, sha)
        else:
            groups.setdefault(part.landing.dataset.name, []).append((i, part))
    for group in groups.values():
        frames = _list_frames([part for _, part in group])
        for n, (i, part) in enumerate(group):
            if frames is None:
                results[i] = _parsed(part.landing.relpath, part.body, part.sha)
            else:
                results[i] = RawFile(part.landing, part.sha, frames[n], part.body)
    return results


def _parsed(relpath: str, data: bytes, sha: str) -> RawFile | FileRejected:
    try:
        return parse_file(relpath, data, sha)
    except FileRejected as exc:
        return exc


@dataclass
class _Part:
    """A plain JSON file whose record list, ``body[start:end]``, the fast path may read: from
    its first record's ``{`` to its last record's ``}`` (empty for an empty list)."""

    landing: LandingFile
    sha: str
    body: bytes
    start: int
    end: int


def _list_part(relpath: str, data: bytes, sha: str) -> _Part | None:
    """The record list of a plain JSON body, or None when the body is not a compact list of
    objects under the dataset's list key (anything unusual is left to ``parse_file``).

    The list is cut out at its key and the last ``}]``; the rest of the body with ``[]`` in its
    place must parse and hold ``[]`` at the list key. What the list holds is checked by
    ``_list_frames``.
    """
    try:
        landing = parse_landing_path(relpath)
    except PathError:
        return None
    dataset = landing.dataset
    if landing.suffix != ".json":
        return None
    marker = b'"' + dataset.list_key[-1].encode() + b'":['
    start = data.find(marker)
    if start < 0:
        return None
    opening = start + len(marker) - 1
    if data[opening + 1 : opening + 2] == b"]":
        closing = opening + 1
    else:
        closing = data.rfind(b"}]") + 1
        if closing <= opening or data[opening + 1 : opening + 2] != b"{":
            return None
    try:
        node = orjson.loads(data[:opening] + b"[]" + data[closing + 1 :])
        for key in dataset.list_key:
            node = node[key]
    except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
        return None
    if node != []:
        return None
    return _Part(landing, sha, data, opening + 1, closing)


#: Arrow's JSON reader, one thread (a long load runs in worker processes): it refuses a
#: number, boolean, list or object where the schema says string, a key the schema lacks and a
#: key given twice; a missing key or a JSON null reads as a null.
_READ_OPTIONS = pj.ReadOptions(use_threads=False, block_size=8 << 20)


def _list_frames(parts: list[_Part]) -> list[pl.DataFrame] | None:
    """One frame per part from a single read of their record lists, or None when the read
    fails or any record lacks a field (a null) or is not where a ``},{`` separator puts it.

    The lists are joined by newlines and each ``},{`` becomes ``}\\n{``: one record per line,
    the NDJSON Arrow reads. A ``},{`` inside a string then leaves a newline in it, which the
    reader refuses; records separated by whitespace alone (not JSON, but Arrow reads them) show
    as more records than separators.
    """
    dataset = parts[0].landing.dataset
    fields = [f.source for f in dataset.fields]
    spans = [memoryview(part.body)[part.start : part.end] for part in parts]
    ends = np.cumsum([len(span) + 1 for span in spans if span]) - 1
    if not len(ends):
        empty = pl.DataFrame(schema={name: pl.Utf8 for name in fields})
        return [empty] * len(parts)
    text = bytearray(b"\n").join(span for span in spans if span)
    codes = np.frombuffer(text, dtype=np.uint8)
    braces = np.flatnonzero(codes[:-2] == ord("}"))  # about one per record: the rest is cheap
    separators = 1 + braces[(codes[braces + 1] == ord(",")) & (codes[braces + 2] == ord("{"))]
    codes[separators] = ord("\n")
    schema = pa.schema([(name, pa.string()) for name in fields])
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
    try:
        table = pj.read_json(pa.py_buffer(text), _READ_OPTIONS, options)
        table.validate(full=True)  # the reader copies strings without checking their UTF-8
    except (pa.ArrowException, UnicodeError):  # UnicodeError: a message quoting bad bytes
        return None
    records = np.diff(np.searchsorted(separators, ends), prepend=0) + 1
    if table.num_rows != records.sum() or any(c.null_count for c in table.columns):
        return None
    frame = pl.from_arrow(table, rechunk=False)
    frames, offset, counts = [], 0, iter(records.tolist())
    for span in spans:
        height = next(counts) if span else 0
        frames.append(frame.slice(offset, height))
        offset += height
    return frames


def parse_file(relpath: str, data: bytes, sha: str) -> RawFile:
    """Shape-check the bytes of the landing file ``relpath``."""
    try:
        landing = parse_landing_path(relpath)
    except PathError as exc:
        failure = Failure(None, None, f"path_layout: {exc}")
        raise FileRejected(relpath, "unknown", sha, [failure]) from None

    def reject(failures: list[Failure]) -> FileRejected:
        return FileRejected(relpath, landing.dataset.name, sha, failures[:MAX_RECORDED_FAILURES])

    if landing.suffix == ".json.gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise reject([Failure(None, None, f"gzip: not a valid gzip stream ({exc})")]) from None
    records, failures = _records(landing, data)
    if failures:
        raise reject(failures)
    frame = _fast_frame(landing.dataset, records)
    if frame is None:  # some record is not as expected: name every problem, row by row
        failures = _record_failures(landing.dataset, records)
        if failures:
            raise reject(failures)
        frame = _frame(landing.dataset, records)
    return RawFile(landing, sha, frame, data)


def _records(landing: LandingFile, data: bytes) -> tuple[list, list[Failure]]:
    """The records of a decompressed body and the failures of its envelope or encoding."""
    if landing.suffix == ".csv":
        return _csv_records(landing.dataset, data)
    return _json_records(landing.dataset, data)


def _json_records(dataset: Dataset, data: bytes) -> tuple[list[dict], list[Failure]]:
    head = data[:64].lstrip()
    if data.startswith(b"\xef\xbb\xbf"):
        return [], [Failure(None, None, "encoding: UTF-8 byte-order mark before the JSON body")]
    if head.startswith(b"<"):
        return [], [Failure(None, None, "html_page: body is an HTML page, not JSON")]
    if head.startswith(b"LOGOUT"):
        return [], [
            Failure(None, None, "logout_answer: the portal answered LOGOUT (not logged in)")
        ]
    if not data.strip():
        return [], [Failure(None, None, "json_syntax: empty file")]
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return [], [Failure(None, None, f"json_syntax: {exc}")]
    if isinstance(body, dict) and "RESULT" in body and dataset.list_key[0] not in body:
        result = body["RESULT"] if isinstance(body["RESULT"], dict) else {}
        code, message = result.get("CODE", "?"), result.get("MESSAGE", "")
        return [], [Failure(None, None, f"source_error: {code} {message}".strip())]
    node = body
    for key in dataset.list_key:
        if not isinstance(node, dict) or key not in node:
            expected = ".".join(dataset.list_key)
            return [], [Failure(None, None, f"envelope: no '{expected}' list in the body")]
        node = node[key]
    if not isinstance(node, list):
        return [], [Failure(None, None, f"envelope: '{'.'.join(dataset.list_key)}' is not a list")]
    return node, []


def _record_failures(dataset: Dataset, records: list) -> list[Failure]:
    """Every record that is not an object of exactly the dataset's fields (plus ignored ones)
    with string values, one failure per problem (the slow path behind ``_fast_frame``)."""
    expected = set(dataset.field_by_source)
    allowed = expected | set(dataset.ignored_fields)
    failures: list[Failure] = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            failures.append(Failure(number, None, "record_shape: record is not an object"))
            continue
        keys = record.keys()
        if keys == expected:
            if all(type(v) is str for v in record.values()):
                continue
        else:
            for column in sorted(expected - keys):
                failures.append(Failure(number, column, "missing_column", record=record))
            for column in sorted(keys - allowed):
                failures.append(Failure(number, column, "unexpected_column", record=record))
        for column in expected & keys:
            value = record[column]
            if not isinstance(value, str):
                failures.append(
                    Failure(
                        number,
                        column,
                        "not_a_string: KRX/ECOS send every value as a string",
                        repr(value),
                        record,
                    )
                )
        if len(failures) >= MAX_RECORDED_FAILURES:
            break
    return failures


def _csv_records(dataset: Dataset, data: bytes) -> tuple[list[dict], list[Failure]]:
    if data.startswith(b"\xef\xbb\xbf"):
        return [], [Failure(None, None, "encoding: UTF-8 byte-order mark; KRX CSV files are CP949")]
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:  # CP949 Hangul is practically never valid UTF-8
            return [], [Failure(None, None, "encoding: UTF-8 text; KRX CSV downloads are CP949")]
    try:
        text = data.decode("cp949")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n")  # data rows follow the header line
        return [], [
            Failure(
                row or None, None, f"encoding: not CP949/EUC-KR ({exc.reason} at byte {exc.start})"
            )
        ]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return [], [Failure(None, None, "csv_header: empty file")]
    aliases = csv_header_aliases(dataset)
    header = [h.strip() for h in rows[0]]
    failures = [
        Failure(None, h, "unknown_header: not in the documented alias table", h)
        for h in header
        if h not in aliases
    ]
    mapped = [aliases.get(h) for h in header]
    seen = [m for m in mapped if m]
    failures += [
        Failure(None, m, "duplicate_header") for m in sorted({m for m in seen if seen.count(m) > 1})
    ]
    failures += [
        Failure(None, f.source, "missing_column") for f in dataset.fields if f.source not in seen
    ]
    if failures:
        return [], failures
    records = []
    for number, row in enumerate(rows[1:], start=1):
        if not row:
            continue
        if len(row) != len(header):
            failures.append(
                Failure(
                    number,
                    None,
                    f"csv_shape: {len(row)} fields, header has {len(header)}",
                    ",".join(row),
                    {"fields": row},
                )
            )
            continue
        records.append(dict(zip(mapped, row, strict=True)))
    return records, failures


def csv_header_aliases(dataset: Dataset) -> dict[str, str]:
    """CSV header -> source field: the KRX field name itself and its documented Korean aliases."""
    aliases = {f.source: f.source for f in dataset.fields}
    for f in dataset.fields:
        for alias in f.csv_aliases:
            aliases[alias] = f.source
    return aliases


def _frame(dataset: Dataset, records: list[dict]) -> pl.DataFrame:
    """One Utf8 column per field from records already checked by ``_record_failures``."""
    return pl.DataFrame(
        [pl.Series(f.source, [r[f.source] for r in records], dtype=pl.Utf8) for f in dataset.fields]
    )


def _fast_frame(dataset: Dataset, records: list) -> pl.DataFrame | None:
    """The frame of ``records`` when every record is an object of exactly the dataset's fields
    with string values (the normal case), else None.

    One pass per field at C speed instead of a Python check per record: every field present
    (no ``KeyError``) and a total key count of fields x records mean no record has another key;
    polars refuses a non-string value and a JSON ``null`` shows as a null.
    """
    names = [f.source for f in dataset.fields]
    try:
        if sum(map(len, records)) != len(names) * len(records):
            return None
        frame = pl.DataFrame(
            [pl.Series(n, list(map(itemgetter(n), records)), dtype=pl.Utf8) for n in names]
        )
    except (TypeError, KeyError, IndexError, ValueError, pl.exceptions.PolarsError):
        return None
    return None if any(frame.null_count().row(0)) else frame


def is_holiday_answer(dataset: Dataset, frame: pl.DataFrame) -> bool:
    """Whether a non-empty frame of source strings is the dataset's non-session answer: every
    record with "-" (or "") in all of its ``holiday_fields``."""
    fields = dataset.holiday_fields
    if not fields or frame.height == 0:
        return False
    missing = pl.all_horizontal(pl.col(f).is_in(MISSING).fill_null(False) for f in fields)
    return bool(frame.select(missing.all()).item())
