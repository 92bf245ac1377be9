"""Reading an SSDA903 return (CSV files or the XML layout) into uniform table rows.

Every row keeps where it came from (file, row number, a readable locator) so each one can be reported.
A file or element that matches no table still yields its rows, under the table ``unrecognised``, so that
nothing read is ever lost from the closing counts.

Hardening: a CSV field over :data:`MAX_FIELD` characters makes its row an error (not the file); a file that
is not UTF-8 (with or without a byte-order mark) or UTF-16 with a byte-order mark is refused with a clear
message unless an encoding is given; XML is parsed with ``defusedxml`` (no entities, no external
references) element by element; rows keep their values in a compact tuple shared with the column list.
"""

from __future__ import annotations

import codecs
import csv
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from services.ingest.ssda903 import tables
from services.ingest.ssda903.tables import Table


@dataclass(frozen=True, slots=True)
class SourceRow:
    file: str
    table: str
    row: int
    """CSV: the line number in the file (the header is line 1). XML: the ordinal of the CHILD element."""
    locator: str
    fields: Mapping[str, str]


@dataclass(frozen=True)
class SourceFile:
    name: str
    layout: str  # "csv" or "xml"
    rows: list[SourceRow]
    note: str | None = None
    """Why the file (or part of it) was not recognised, or which columns were ignored."""


class ReturnNotFound(ValueError):
    """The directory holds no CSV or XML file."""


class EncodingRefused(ValueError):
    """A file is not in an encoding the import reads without being told (UTF-8, or UTF-16 with a BOM)."""


MAX_FIELD: Final = 128 * 1024
"""The longest CSV field accepted (characters); a longer one makes its row an error."""


class Fields(Mapping[str, str]):
    """A row's values by column name, stored as a tuple beside a column tuple shared by the whole file."""

    __slots__ = ("_columns", "_index", "_values")

    def __init__(self, columns: tuple[str, ...], index: Mapping[str, int], values: tuple[str, ...]) -> None:
        self._columns, self._index, self._values = columns, index, values

    def __getitem__(self, key: str) -> str:
        return self._values[self._index[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names, shared by every row of the file."""
        return self._columns

    @property
    def cells(self) -> tuple[str, ...]:
        """The values, in the order of :attr:`columns`."""
        return self._values


def read_return(directory: Path, encoding: str | None = None) -> list[SourceFile]:
    """Every ``*.csv`` and ``*.xml`` file in ``directory`` (not recursive), sorted by name.

    Equal values across the files (child ids, dates, codes) are held once: the files share one pool."""
    paths = sorted(path for path in directory.iterdir() if path.is_file() and path.suffix.lower() in {".csv", ".xml"})
    if not paths:
        raise ReturnNotFound(f"no .csv or .xml files in {directory}")
    pool: dict[str, str] = {}
    return [read_xml(path, pool) if path.suffix.lower() == ".xml" else read_csv(path, encoding, pool) for path in paths]


def detect_encoding(path: Path) -> str:
    """UTF-8 (BOM or not) or UTF-16 with a BOM; anything else is refused with what was found."""
    with path.open("rb") as handle:
        start = handle.read(4)
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset = 0
        while chunk := handle.read(1 << 20):
            if (nul := chunk.find(b"\x00")) >= 0:
                raise EncodingRefused(
                    f"{path.name}: NUL bytes at offset {offset + nul}: probably UTF-16 without a "
                    "byte-order mark; re-save it as UTF-8, or give --encoding utf-16-le"
                )
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise EncodingRefused(
                    f"{path.name}: not UTF-8 (byte 0x{chunk[exc.start]:02x} at offset {offset + exc.start}); "
                    "if it was saved as Latin-1 or Windows-1252, give --encoding cp1252, or re-save it as UTF-8"
                ) from None
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise EncodingRefused(f"{path.name}: not UTF-8 (the file ends inside a character)") from None
    return "utf-8-sig"  # exports from Excel start with a byte-order mark that would otherwise stick to 'CHILD'


def read_csv(path: Path, encoding: str | None = None, pool: dict[str, str] | None = None) -> SourceFile:
    """The rows of one CSV file; ``pool`` holds one copy of each distinct value (shared by several files)."""
    stream = CsvStream(path, encoding or detect_encoding(path), {} if pool is None else pool)
    rows = list(stream.rows())
    return SourceFile(path.name, "csv", rows, stream.note)


class CsvStream:
    """One CSV file read row by row (:meth:`rows`); ``note`` is set once the header has been read.

    Without a ``pool`` equal values are not shared (a pool would grow with every distinct child id)."""

    layout: Final = "csv"

    def __init__(self, path: Path, encoding: str, pool: dict[str, str] | None = None) -> None:
        self.path, self.name, self.encoding, self.pool = path, path.name, encoding, pool
        self.note: str | None = None

    def rows(self) -> Iterator[SourceRow]:
        path = self.path
        held = self.pool.setdefault if self.pool is not None else _same
        csv.field_size_limit(MAX_FIELD)
        with path.open(newline="", encoding=self.encoding) as handle:
            reader = csv.reader(handle)
            try:
                header = next(reader, None)
            except csv.Error as exc:
                raise ValueError(f"{path.name}: the header line cannot be read: {exc}") from None
            if header is None:
                self.note = "empty file"
                return
            columns = [tables.normalise_column(name) for name in header]
            table = tables.match_table(columns)
            if table is None:
                self.note = f"columns {', '.join(columns)} match no SSDA903 table"
            else:
                ignored = [column for column in columns if column not in table.columns]
                if ignored:
                    self.note = f"columns not part of the {table.name} table ignored: {', '.join(ignored)}"
            name = table.name if table else tables.UNRECOGNISED
            kept = tuple(table.columns) if table is not None else tuple(columns)
            kept_index = {column: position for position, column in enumerate(kept)}
            source_index = {column: position for position, column in reversed(list(enumerate(columns)))}
            picks = [source_index.get(column) for column in kept]
            while True:
                start = reader.line_num + 1
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    reason = f"a field is longer than {MAX_FIELD // 1024} KB" if "field limit" in str(exc) else str(exc)
                    yield SourceRow(path.name, name, start, f"line {start}", {"__error__": reason})
                    continue
                line = reader.line_num
                if not any(value.strip() for value in values):
                    continue  # blank lines carry no row
                compact = tuple(
                    held(value, value)
                    for value in (
                        values[pick].strip() if pick is not None and pick < len(values) else "" for pick in picks
                    )
                )
                fields: Mapping[str, str] = Fields(kept, kept_index, compact)
                if len(values) != len(columns):
                    fields = dict(fields) | {"__shape__": f"{len(values)} values for {len(columns)} columns"}
                yield SourceRow(path.name, name, line, f"line {line}", fields)


def _same(value: str, _default: str) -> str:
    return value


def _text(element: ET.Element) -> str:
    return (element.text or "").strip()


_INDEX: Final = {
    table.name: {column: position for position, column in enumerate(table.columns)} for table in tables.TABLES
}


def _row_of(table: Table, fields: Mapping[str, str], pool: dict[str, str]) -> Fields:
    held = pool.setdefault
    values = tuple(held(value, value) for value in (fields.get(column, "") for column in table.columns))
    return Fields(table.columns, _INDEX[table.name], values)


OC3_FIELDS = ("IN_TOUCH", "ACTIV", "ACCOM")
AD1_FIELDS = ("DATE_INT", "DATE_MATCH", "FOSTER_CARE", "NB_ADOPTR", "SEX_ADOPTR", "LS_ADOPTR")
XML_RENAMES = {"CHILDID": "CHILD", "PL": "PLACE"}


def read_xml(path: Path, pool: dict[str, str] | None = None) -> SourceFile:
    """The XML layout: ``EXPSSDA903`` → ``CHILD`` → ``HEADER`` (child details, with nested ``AREVIEW``,
    ``AMISSING``, ``OC2``, ``AD_PLACED``, ``PERMANENCE``; care-leaver and adoption fields inline) and
    ``EPISODE`` elements. Each nested element becomes one row of the matching table, with the child's
    CHILD and DOB copied in.
    """
    stream = XmlStream(path, {} if pool is None else pool)
    rows = list(stream.rows())
    return SourceFile(path.name, "xml", rows, stream.note)


class XmlStream:
    """One XML file read child by child (:meth:`rows`); ``note`` is set once the file has been read."""

    layout: Final = "xml"

    def __init__(self, path: Path, pool: dict[str, str] | None = None) -> None:
        self.path, self.name, self.pool = path, path.name, pool
        self.note: str | None = None

    def rows(self) -> Iterator[SourceRow]:
        path = self.path
        unknown: set[str] = set()
        pool = self.pool
        try:
            for ordinal, child in enumerate(_children(path), start=1):
                found: list[SourceRow] = []
                _xml_child(path, ordinal, child, found, unknown, {} if pool is None else pool)
                yield from found
        except ET.ParseError as exc:
            raise ValueError(f"{path.name}: not well-formed XML: {exc}") from exc
        except DefusedXmlException as exc:
            raise ValueError(f"{path.name}: refused: {exc!r} (entities and external references are not read)") from exc
        self.note = f"elements matching no SSDA903 table: {', '.join(sorted(unknown))}" if unknown else None


def stream_return(directory: Path, encoding: str | None = None) -> list[CsvStream | XmlStream]:
    """Like :func:`read_return`, but each file is read row by row when its rows are asked for (so a
    return is never held whole); the encodings are checked here, before any row is read."""
    paths = sorted(path for path in directory.iterdir() if path.is_file() and path.suffix.lower() in {".csv", ".xml"})
    if not paths:
        raise ReturnNotFound(f"no .csv or .xml files in {directory}")
    return [
        XmlStream(path) if path.suffix.lower() == ".xml" else CsvStream(path, encoding or detect_encoding(path))
        for path in paths
    ]


def _children(path: Path) -> Iterator[ET.Element]:
    """Each ``CHILD`` element once complete, then dropped from the tree (the file is not held whole)."""
    depth = 0
    for event, element in iterparse(path, events=("start", "end"), forbid_dtd=True):
        if event == "start":
            depth += 1
            continue
        depth -= 1
        if element.tag == "CHILD" and depth == 1:
            yield element
            element.clear()


def _xml_child(
    path: Path, ordinal: int, child: ET.Element, rows: list[SourceRow], unknown: set[str], pool: dict[str, str]
) -> None:
    header = child.find("HEADER")
    leaves: dict[str, str] = {}
    if header is not None:
        leaves = {XML_RENAMES.get(e.tag, e.tag): _text(e) for e in header if len(e) == 0}
    base = {"CHILD": leaves.get("CHILD", ""), "DOB": leaves.get("DOB", "")}

    def add(table_name: str, fields: Mapping[str, str], where: str, ordinal: int = ordinal) -> None:
        kept = fields if isinstance(fields, Fields) else dict(fields)
        rows.append(SourceRow(path.name, table_name, ordinal, f"CHILD {ordinal} {where}", kept))

    add(tables.HEADER.name, _row_of(tables.HEADER, leaves, pool), "HEADER")
    if leaves.get("UASC", "") in {"1", "true", "True"}:
        add(tables.UASC.name, _row_of(tables.UASC, leaves, pool), "HEADER UASC")
    if any(leaves.get(name) for name in OC3_FIELDS):
        add(tables.OC3.name, _row_of(tables.OC3, leaves, pool), "HEADER IN_TOUCH")
    if any(leaves.get(name) for name in AD1_FIELDS):
        add(tables.AD1.name, _row_of(tables.AD1, leaves, pool), "HEADER DATE_INT")
    nested = [e for e in (header if header is not None else []) if len(e) > 0]
    nested += [e for e in child if e.tag != "HEADER"]
    counts: dict[str, int] = {}
    for element in nested:
        counts[element.tag] = counts.get(element.tag, 0) + 1
        where = f"{element.tag} {counts[element.tag]}"
        fields = base | {XML_RENAMES.get(e.tag, e.tag): _text(e) for e in element}
        table = tables.BY_XML_TAG.get(element.tag) or tables.match_table(fields)
        if table is None:
            unknown.add(element.tag)
            add(tables.UNRECOGNISED, fields, where)
        else:
            add(table.name, _row_of(table, fields, pool), where)
