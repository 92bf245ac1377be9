"""Run by the oracle virtualenv's Python (not by carewatch): validate one CIN census XML with the DfE
validator ``csc-validator-be-cin`` and print the issues as JSON lines on stdout.

Usage: python oracle_cin.py FILE.xml RULESET
"""

import json
import sys
import warnings
import xml.etree.ElementTree as ET

warnings.simplefilter("ignore")

import importlib  # noqa: E402

from cin_validator import cin_validator  # noqa: E402


def main() -> None:
    path, ruleset = sys.argv[1], sys.argv[2]
    root = ET.parse(path).getroot()
    data = cin_validator.process_data(cin_validator.convert_data(root))
    registry = importlib.import_module(f"cin_validator.rules.{ruleset}").registry
    validator = cin_validator.CinValidator(data, registry)
    for frame in (validator.full_issue_df, validator.multichild_issues):
        for record in frame.to_dict(orient="records"):
            print(json.dumps({key: str(value) for key, value in record.items()}))


if __name__ == "__main__":
    main()
