"""Today's INCREMENTAL importMode through the import workflow's Map path (seed, today's
CreateDatasetImportJob: "Amazon Personalize replaces any record with the same ID with the new
one"): the merged ranges and the previous version's kept rows form the new version."""
import pytest

from tests.api.test_import_modes import (  # noqa: F401 (group: a fixture)
    EVENTS_CSV, ITEMS_CSV, group, items_seen, run_import)
from tests.support import stepfunctions as sfn


@pytest.fixture(autouse=True)
def small_ranges(monkeypatch):
    monkeypatch.setenv("IMPORT_RANGE_BYTES", "200")


def test_incremental_items_in_ranges_replace_and_keep(stock_personalize, s3, group):
    p = stock_personalize
    run_import(p, s3, group["Interactions"], EVENTS_CSV, "events")
    assert run_import(p, s3, group["Items"], ITEMS_CSV, "items-full")["status"] == "ACTIVE"
    more = b"ITEM_ID,GENRE,PRICE\n5,changed,\n" + b"".join(
        f"{i},g{i},{i}.25\n".encode() for i in range(7, 60))
    job = run_import(p, s3, group["Items"], more, "items-more", importMode="INCREMENTAL")
    assert job["status"] == "ACTIVE", job
    execution = sfn.executions("import")[-1]
    assert "ParseRanges" in [e["name"] for e in execution.history if e["type"] == "StateEntered"]
    assert execution.output["parse"]["keptRows"] == 5          # items 1-4 and 6
    seen = items_seen(group["group"])
    assert seen["5"] == ("changed", None)
    assert {k: seen[k] for k in ("1", "4", "6")} == {"1": ("g1", 1.5), "4": ("g4", 4.5),
                                                      "6": ("g6", 6.5)}
    assert seen["59"] == ("g59", 59.25) and len(seen) == 59
