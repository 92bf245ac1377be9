"""Reading a Children in Need census return (the DfE XML) into items, each with its XML path.

The file is parsed with ``defusedxml``: a document type declaration, entity expansion or an external
reference is refused before anything is read (billion laughs, external entities), as is XML that is not
well formed. Every element under ``Child`` becomes one item (or, for ``Reviews``, one per review date), so
that each one is converted, rejected or skipped and the closing counts reconcile; an element the census
does not define is kept as an item of the table ``unrecognised``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

UNRECOGNISED = "unrecognised"
CHILD_BLOCKS = ("ChildIdentifiers", "ChildCharacteristics", "CINdetails")
CIN_BLOCKS = ("Assessments", "CINPlanDates", "Section47", "ChildProtectionPlans")
PLAN_BLOCKS = ("Reviews",)


class CensusRefused(ValueError):
    """The file is not a census return carewatch will read (malformed, hostile or of another shape)."""


@dataclass(frozen=True)
class Item:
    table: str
    child: int
    """Ordinal of the ``Child`` element (1-based): the row number in the report."""
    path: str
    """The XML path, e.g. ``/Message/Children/Child[3]/CINdetails[1]/Section47[2]``."""
    fields: Mapping[str, str]
    lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Repeated leaves: ``AssessmentFactors``, ``Disability``."""
    episode: int | None = None
    """Ordinal of the ``CINdetails`` the item belongs to."""
    plan: int | None = None
    """Ordinal of the ``ChildProtectionPlans`` the item belongs to."""


@dataclass(frozen=True)
class Census:
    name: str
    header: Mapping[str, str]
    items: list[Item]


def _text(element: Element | None) -> str:
    return "" if element is None else (element.text or "").strip()


def _leaves(element: Element) -> dict[str, str]:
    return {child.tag: _text(child) for child in element if len(child) == 0}


def _ordinals(parent: Element) -> list[tuple[Element, int]]:
    counts: dict[str, int] = {}
    out = []
    for child in parent:
        counts[child.tag] = counts.get(child.tag, 0) + 1
        out.append((child, counts[child.tag]))
    return out


def _refusal(path: Path, exc: Exception) -> CensusRefused:
    if isinstance(exc, DefusedXmlException):
        return CensusRefused(f"{path.name}: refused unsafe XML ({type(exc).__name__})")
    return CensusRefused(f"{path.name}: not well-formed XML: {exc}")


def _header(found: Element | None) -> dict[str, str]:
    header: dict[str, str] = {}
    if found is not None:
        for block in found:
            header.update(_leaves(block))
    return header


def read_census(path: Path) -> Census:
    """The whole return in memory (the tests' reference; the command streams it with :class:`CensusReader`)."""
    try:
        root = SafeET.parse(str(path), forbid_dtd=True).getroot()
    except (DefusedXmlException, SafeET.ParseError) as exc:
        raise _refusal(path, exc) from None
    if root.tag != "Message":
        raise CensusRefused(f"{path.name}: the root element is {root.tag!r}, not the census 'Message'")
    header = _header(root.find("Header"))
    children = root.find("Children")
    if children is None:
        raise CensusRefused(f"{path.name}: no Children element")
    items: list[Item] = []
    for number, child in enumerate(children.findall("Child"), start=1):
        items.extend(child_items(child, number))
    return Census(path.name, header, items)


def child_items(child: Element, number: int) -> list[Item]:
    """The items of the ``number``-th ``Child`` element."""
    items: list[Item] = []
    base = f"/Message/Children/Child[{number}]"
    for block, nth in _ordinals(child):
        where = f"{base}/{block.tag}[{nth}]"
        if block.tag == "ChildIdentifiers":
            items.append(Item(block.tag, number, where, _leaves(block)))
        elif block.tag == "ChildCharacteristics":
            disabilities = block.find("Disabilities")
            lists = {"Disability": tuple(_text(d) for d in disabilities)} if disabilities is not None else {}
            items.append(Item(block.tag, number, where, _leaves(block), lists))
        elif block.tag == "CINdetails":
            items.append(Item(block.tag, number, where, _leaves(block), episode=nth))
            _episode_items(items, block, number, where, nth)
        else:
            items.append(Item(UNRECOGNISED, number, where, {"element": block.tag}))
    return items


class CensusReader:
    """A census return read one ``Child`` at a time, as :func:`read_census` reads it whole: the same items,
    header and refusals, with at most one child's elements in memory.

    ``defusedxml``'s ``iterparse`` with ``forbid_dtd``: a document type declaration (and so any entity) is
    refused when the parser meets it, at the top of the file, before any child is read. Every element is
    dropped from the tree once read. A refusal for XML that is not well formed can come after some children
    were given: the caller must hold back its output until :meth:`children` has run to its end. The header
    is known only then too."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.header: dict[str, str] = {}

    def children(self, progress: Callable[[int], None] | None = None) -> Iterator[list[Item]]:
        """The items of each ``Child`` in turn; ``progress`` is told of the bytes read after each child."""
        try:
            with self.path.open("rb") as handle:
                yield from self._children(handle, progress)
        except (DefusedXmlException, SafeET.ParseError) as exc:
            raise _refusal(self.path, exc) from None

    def _children(self, handle: BinaryIO, progress: Callable[[int], None] | None) -> Iterator[list[Item]]:
        root: Element | None = None
        path: list[Element] = []
        header: Element | None = None  # the first Header of the Message, kept whole until it ends
        children: Element | None = None  # the first Children of the Message
        number = done = 0
        for event, element in SafeET.iterparse(handle, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                if root is None:
                    root = element
                elif len(path) == 1 and root.tag == "Message":
                    if element.tag == "Children" and children is None:
                        children = element
                    elif element.tag == "Header" and header is None:
                        header = element
                path.append(element)
                continue
            path.pop()
            if len(path) == 2:  # a block of the Message's blocks: a Child, a header block
                parent = path[1]
                if parent is children and element.tag == "Child":
                    number += 1
                    yield child_items(element, number)
                    if progress is not None:
                        progress(handle.tell() - done)
                        done = handle.tell()
                if parent is not header:
                    parent.remove(element)  # read, or not the census's: dropped
            elif len(path) == 1:
                if element is header:
                    self.header = _header(element)
                path[0].remove(element)
        if root is None or root.tag != "Message":
            tag = None if root is None else root.tag
            raise CensusRefused(f"{self.name}: the root element is {tag!r}, not the census 'Message'")
        if children is None:
            raise CensusRefused(f"{self.name}: no Children element")
        if progress is not None:
            progress(handle.tell() - done)


def _episode_items(items: list[Item], episode: Element, number: int, base: str, ordinal: int) -> None:
    for block, nth in _ordinals(episode):
        if len(block) == 0 and block.tag not in CIN_BLOCKS:
            continue  # a leaf of CINdetails itself
        where = f"{base}/{block.tag}[{nth}]"
        if block.tag == "Assessments":
            factors_block = block.find("FactorsIdentifiedAtAssessment")
            factors = tuple(_text(f) for f in factors_block) if factors_block is not None else ()
            items.append(Item(block.tag, number, where, _leaves(block), {"AssessmentFactors": factors}, ordinal))
        elif block.tag in ("CINPlanDates", "Section47"):
            items.append(Item(block.tag, number, where, _leaves(block), episode=ordinal))
        elif block.tag == "ChildProtectionPlans":
            items.append(Item(block.tag, number, where, _leaves(block), episode=ordinal, plan=nth))
            for reviews, r_nth in _ordinals(block):
                if reviews.tag != "Reviews":
                    continue
                for review, d_nth in _ordinals(reviews):
                    items.append(
                        Item(
                            "Reviews",
                            number,
                            f"{where}/Reviews[{r_nth}]/{review.tag}[{d_nth}]",
                            {review.tag: _text(review)},
                            episode=ordinal,
                            plan=nth,
                        )
                    )
        else:
            items.append(Item(UNRECOGNISED, number, where, {"element": block.tag}, episode=ordinal))
