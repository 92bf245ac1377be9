"""Run Social Finance's ``cs-demand-model`` on SSDA903 returns and print the number of children it has looked
after on each given day, as JSON. Runs in ``.venv-demand`` (the model pins packages the project's
environment cannot hold) and imports nothing from carewatch.

    .venv-demand/bin/python tests/support/demand_model_runner.py DIR DAY [DAY…]

``DIR`` holds one folder per return, named by the collection year's end (``2018/``), each with
``header.csv`` and ``episodes.csv``. For each day the output gives ``count``, the model's population stock on
that day (its ``PopulationStats.stock``, summed over age and placement bins), and ``children``, the children
whose episode in the model's cleaned data (``DemandModellingDataContainer.combined_data``) covers the day
(DECOM on or before it, DEC blank or after it), so that a difference can be explained child by child.
"""

from __future__ import annotations

import json
import sys

import pandas as pd
from cs_demand_model import Config, DemandModellingDataContainer, PopulationStats, fs_datastore


def main() -> None:
    directory, days = sys.argv[1], [pd.Timestamp(day) for day in sys.argv[2:]]
    config = Config()
    container = DemandModellingDataContainer(fs_datastore(directory), config)
    stock = PopulationStats(container.enriched_view, config).stock.sum(axis=1)
    episodes = container.combined_data
    result = {}
    for day in days:
        # The stock is daily from the first DECOM or DEC to the last: a later day carries the last value.
        count = stock[stock.index <= day].iloc[-1] if (stock.index <= day).any() else 0.0
        covering = episodes[(episodes["DECOM"] <= day) & (episodes["DEC"].isna() | (episodes["DEC"] > day))]
        result[day.date().isoformat()] = {
            "count": round(float(count)),
            "children": sorted({str(child) for child in covering["CHILD"]}),
        }
    json.dump(result, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
