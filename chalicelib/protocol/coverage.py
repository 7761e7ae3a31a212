"""Which operations of today's API and the 2019 preview this deployment serves.

`python -m chalicelib.protocol.coverage` prints a markdown table: every
operation of the three stock botocore models plus the preview-only ones, the
API that has it (today / preview / both, `models.dialect_of`), whether a
handler serves it (`chalicelib.service.registry`) and since which version.
An operation without a handler answers `OperationNotServedException`; members
of served operations that are not implemented are in `protocol.unserved`.
`--write README.md` replaces the table between the README's coverage markers
(tests/unit/test_coverage_table.py checks that the README's copy is current).
"""
import argparse
import sys
from pathlib import Path

from chalicelib import __version__
from chalicelib.protocol import models
from chalicelib.service.registry import handler_for

BEGIN, END = "<!-- coverage:begin -->", "<!-- coverage:end -->"

# The operations that had a handler in 0.1.0 (git commit 910d03f, before issue 12).
SERVED_IN_0_1_0 = {
    "personalize": frozenset("""
        CreateAlgorithm CreateCampaign CreateDataset CreateDatasetGroup CreateDatasetImportJob
        CreateEventTracker CreateFeatureExportJob CreateFeatureTransformation CreateRecipe
        CreateSchema CreateSolution CreateSolutionVersion DeleteAlgorithm DeleteCampaign
        DeleteDataset DeleteDatasetGroup DeleteDatasetImportJob DeleteEventTracker
        DeleteFeatureTransformation DeleteRecipe DeleteSchema DeleteSolution DescribeAlgorithm
        DescribeCampaign DescribeDataset DescribeDatasetGroup DescribeDatasetImportJob
        DescribeDatasetImportJobRun DescribeEventTracker DescribeFeatureExportJob
        DescribeFeatureTransformation DescribeRecipe DescribeSchema DescribeSolution
        DescribeSolutionVersion GetMetrics GetSolutionMetrics ListCampaigns ListDatasetGroups
        ListDatasetImportJobRuns ListDatasetImportJobs ListDatasets ListEventTrackers
        ListFeatureExportJobs ListRecipes ListSchemas ListSolutionVersions ListSolutions
        UpdateAlgorithm UpdateCampaign UpdateDataset UpdateDatasetImportJob
        UpdateFeatureTransformation UpdateRecipe UpdateSolution""".split()),
    "personalize-runtime": frozenset({"GetPersonalizedRanking", "GetRecommendations",
                                      "PersonalizeRanking"}),
    "personalize-events": frozenset({"PutEvents"}),
}


def rows():
    """[(operation, service, dialect, served, since)] sorted by service, then operation."""
    out = []
    for service in models.SERVICES:
        for op in models.operation_names(service):
            served = handler_for(service, op) is not None
            since = ("0.1.0" if op in SERVED_IN_0_1_0[service] else __version__) if served else ""
            out.append((op, service, models.dialect_of(service, op),
                        "served" if served else "not yet", since))
    return out


def totals(table):
    """One line: how many operations are served, in all and of today's stock models."""
    served = sum(r[3] == "served" for r in table)
    stock = [r for r in table if r[2] != "preview"]
    stock_served = sum(r[3] == "served" for r in stock)
    return (f"{len(table)} operations, {served} served, {len(table) - served} not yet; "
            f"of today's {len(stock)} (the stock models), {stock_served} served and "
            f"{len(stock) - stock_served} not yet (`OperationNotServedException`).")


def markdown():
    table = rows()
    lines = ["| Operation | Service | Dialect | Served | Since |", "|---|---|---|---|---|"]
    lines += [f"| {op} | {service} | {dialect} | {served} | {since} |"
              for op, service, dialect, served, since in table]
    return "\n".join(lines) + "\n\n" + totals(table) + "\n"


def replace_in(text, block):
    """`text` with the part between the coverage markers replaced by `block`."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + block + text[end:]


def between_markers(text):
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)].lstrip("\n")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m chalicelib.protocol.coverage",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="README",
                        help="replace the table between the coverage markers of this file")
    args = parser.parse_args(argv)
    block = markdown()
    if args.write:
        path = Path(args.write)
        path.write_text(replace_in(path.read_text(encoding="utf-8"), block), encoding="utf-8")
    else:
        sys.stdout.write(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
