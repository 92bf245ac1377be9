"""Reading a Children in Need census return (the DfE XML) into items, each with its XML path.

The file is parsed with ``defusedxml``: a document type declaration, entity expansion or an external
reference is refused before anything is read (billion laughs, external entities), as is XML that is not
well formed. Every element under ``Child`` becomes one item (or, for ``Reviews``, one per review date), so
that each one is converted, rejected or skipped and the closing counts reconcile; an element the census
does not define is kept as an item of the table ``unrecognised``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
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


def read_census(path: Path) -> Census:
    try:
        root = SafeET.parse(str(path), forbid_dtd=True).getroot()
    except DefusedXmlException as exc:
        raise CensusRefused(f"{path.name}: refused unsafe XML ({type(exc).__name__})") from None
    except SafeET.ParseError as exc:
        raise CensusRefused(f"{path.name}: not well-formed XML: {exc}") from None
    if root.tag != "Message":
        raise CensusRefused(f"{path.name}: the root element is {root.tag!r}, not the census 'Message'")
    header: dict[str, str] = {}
    found_header = root.find("Header")
    if found_header is not None:
        for block in found_header:
            header.update(_leaves(block))
    children = root.find("Children")
    if children is None:
        raise CensusRefused(f"{path.name}: no Children element")
    items: list[Item] = []
    for number, child in enumerate(children.findall("Child"), start=1):
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
    return Census(path.name, header, items)


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
