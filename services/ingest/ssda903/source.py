"""Reading an SSDA903 return (CSV files or the XML layout) into uniform table rows.

Every row keeps where it came from (file, row number, a readable locator) so each one can be reported.
A file or element that matches no table still yields its rows, under the table ``unrecognised``, so that
nothing read is ever lost from the closing counts.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.ingest.ssda903 import tables
from services.ingest.ssda903.tables import Table


@dataclass(frozen=True)
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


def read_return(directory: Path) -> list[SourceFile]:
    """Every ``*.csv`` and ``*.xml`` file in ``directory`` (not recursive), sorted by name."""
    paths = sorted(
        path for path in directory.iterdir() if path.is_file() and path.suffix.lower() in {".csv", ".xml"}
    )
    if not paths:
        raise ReturnNotFound(f"no .csv or .xml files in {directory}")
    return [read_xml(path) if path.suffix.lower() == ".xml" else read_csv(path) for path in paths]


def read_csv(path: Path) -> SourceFile:
    # utf-8-sig: exports from Excel start with a byte-order mark that would otherwise stick to 'CHILD'
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return SourceFile(path.name, "csv", [], note="empty file")
        columns = [tables.normalise_column(name) for name in header]
        table = tables.match_table(columns)
        note = None
        if table is None:
            note = f"columns {', '.join(columns)} match no SSDA903 table"
        else:
            ignored = [column for column in columns if column not in table.columns]
            if ignored:
                note = f"columns not part of the {table.name} table ignored: {', '.join(ignored)}"
        name = table.name if table else tables.UNRECOGNISED
        rows: list[SourceRow] = []
        for values in reader:
            line = reader.line_num
            if not any(value.strip() for value in values):
                continue  # blank lines carry no row
            fields = {column: value.strip() for column, value in zip(columns, values, strict=False)}
            if len(values) != len(columns):
                fields["__shape__"] = f"{len(values)} values for {len(columns)} columns"
            if table is not None:
                fields = {column: fields.get(column, "") for column in table.columns} | (
                    {"__shape__": fields["__shape__"]} if "__shape__" in fields else {}
                )
            rows.append(SourceRow(path.name, name, line, f"line {line}", fields))
    return SourceFile(path.name, "csv", rows, note)


def _text(element: ET.Element) -> str:
    return (element.text or "").strip()


def _row_of(table: Table, fields: Mapping[str, str]) -> dict[str, str]:
    return {column: fields.get(column, "") for column in table.columns}


OC3_FIELDS = ("IN_TOUCH", "ACTIV", "ACCOM")
AD1_FIELDS = ("DATE_INT", "DATE_MATCH", "FOSTER_CARE", "NB_ADOPTR", "SEX_ADOPTR", "LS_ADOPTR")
XML_RENAMES = {"CHILDID": "CHILD", "PL": "PLACE"}


def read_xml(path: Path) -> SourceFile:
    """The XML layout: ``EXPSSDA903`` → ``CHILD`` → ``HEADER`` (child details, with nested ``AREVIEW``,
    ``AMISSING``, ``OC2``, ``AD_PLACED``, ``PERMANENCE``; care-leaver and adoption fields inline) and
    ``EPISODE`` elements. Each nested element becomes one row of the matching table, with the child's
    CHILD and DOB copied in.
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path.name}: not well-formed XML: {exc}") from exc
    rows: list[SourceRow] = []
    unknown: set[str] = set()
    for ordinal, child in enumerate(root.iter("CHILD"), start=1):
        header = child.find("HEADER")
        leaves: dict[str, str] = {}
        if header is not None:
            leaves = {XML_RENAMES.get(e.tag, e.tag): _text(e) for e in header if len(e) == 0}
        base = {"CHILD": leaves.get("CHILD", ""), "DOB": leaves.get("DOB", "")}

        def add(table_name: str, fields: Mapping[str, str], where: str, ordinal: int = ordinal) -> None:
            rows.append(SourceRow(path.name, table_name, ordinal, f"CHILD {ordinal} {where}", dict(fields)))

        add(tables.HEADER.name, _row_of(tables.HEADER, leaves), "HEADER")
        if leaves.get("UASC", "") in {"1", "true", "True"}:
            add(tables.UASC.name, _row_of(tables.UASC, leaves), "HEADER UASC")
        if any(leaves.get(name) for name in OC3_FIELDS):
            add(tables.OC3.name, _row_of(tables.OC3, leaves), "HEADER IN_TOUCH")
        if any(leaves.get(name) for name in AD1_FIELDS):
            add(tables.AD1.name, _row_of(tables.AD1, leaves), "HEADER DATE_INT")
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
                add(table.name, _row_of(table, fields), where)
    note = f"elements matching no SSDA903 table: {', '.join(sorted(unknown))}" if unknown else None
    return SourceFile(path.name, "xml", rows, note)
