"""Run the DfE SSDA903 validation rules (``csc-validator-be-903``) on a directory of CSV files.

Run by the interpreter of the environment where that package is installed (it pins pandas<2, so it lives
apart from carewatch's): ``python validator_runner.py DIR YEAR``. Prints one JSON document to stdout:
``{"ruleset", "errors": [{"rule", "message", "table", "row"}], "failed_rules"}``, where ``row`` is the
0-based data row of the table's file (line = row + 2). Imports nothing from carewatch.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import sys
from pathlib import Path

RULESETS = ("lac2022_23", "lac2023_24", "lac2024_25", "lac2025_26", "lac2026_27")


def ruleset_for(year: int) -> str:
    wanted = f"lac{year - 1}_{year % 100:02d}"
    if wanted in RULESETS:
        return wanted
    return RULESETS[0] if wanted < RULESETS[0] else RULESETS[-1]


def main(directory: Path, year: int) -> dict[str, object]:
    logging.disable(logging.CRITICAL)
    with contextlib.redirect_stdout(io.StringIO()):
        from lac_validator import lac_validator
        from lac_validator.utils import process_uploaded_files

        ruleset = ruleset_for(year)
        registry = importlib.import_module(f"lac_validator.rules.{ruleset}").registry
        files = process_uploaded_files({"This year": sorted(str(p) for p in directory.glob("*.csv"))})
        metadata = {"collectionYear": str(year), "localAuthority": "E09000027"}
        validator = lac_validator.LacValidator(metadata=metadata, files=files, registry=registry)
    errors = []
    for table, frame in validator.ds_results.items():
        if not hasattr(frame, "columns"):
            continue
        for column in [c for c in frame.columns if str(c).startswith("ERR_")]:
            rule = str(column)[4:]
            message = registry[rule].message if rule in registry else ""
            flagged = frame.index[frame[column].fillna(False).astype(bool)]
            errors.extend({"rule": rule, "message": message, "table": table, "row": int(i)} for i in flagged)
    return {"ruleset": ruleset, "errors": errors, "failed_rules": sorted(map(str, validator.fails))}


if __name__ == "__main__":
    json.dump(main(Path(sys.argv[1]), int(sys.argv[2])), sys.stdout)
