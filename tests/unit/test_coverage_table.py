"""The README's "API coverage" table is the coverage command's output (so it cannot go
stale), and the table says what the registry and the models say."""
from pathlib import Path

from chalicelib import __version__
from chalicelib.protocol import coverage, models
from chalicelib.service.registry import handler_for

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_table_is_the_commands_output():
    text = README.read_text(encoding="utf-8")
    assert "\n## API coverage\n" in text
    assert coverage.between_markers(text) == coverage.markdown(), (
        "README.md is stale: run `python -m chalicelib.protocol.coverage --write README.md`")


def test_every_operation_of_both_apis_has_one_row():
    table = coverage.rows()
    keys = [(op, service) for op, service, *_ in table]
    assert len(keys) == len(set(keys))
    for service in models.SERVICES:
        stock = set(models.stock_documents(service)["service-2"]["operations"])
        preview = set(models.load_patch(service)["preview-operations"])
        assert {op for op, s in keys if s == service} == stock | preview


def test_rows_follow_the_registry():
    for op, service, dialect, served, since in coverage.rows():
        has_handler = handler_for(service, op) is not None
        assert served == ("served" if has_handler else "not yet"), op
        if has_handler:
            old = op in coverage.SERVED_IN_0_1_0[service]
            assert since == ("0.1.0" if old else __version__), op
        else:
            assert since == "", op
    # what 0.1.0 served is served still
    for service, ops in coverage.SERVED_IN_0_1_0.items():
        for op in ops:
            assert handler_for(service, op) is not None, op


def test_totals_count_the_rows():
    table = [("A", "s", "today", "served", "0.1.0"), ("B", "s", "today", "not yet", ""),
             ("C", "s", "preview", "served", "0.1.0")]
    assert coverage.totals(table).startswith(
        "3 operations, 2 served, 1 not yet; of today's 2 (the stock models), 1 served and 1 not yet")


def test_write_replaces_only_the_block(tmp_path):
    page = tmp_path / "README.md"
    page.write_text(f"# T\n\nkeep\n{coverage.BEGIN}\nold\n{coverage.END}\nafter\n")
    assert coverage.main(["--write", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# T\n\nkeep\n") and text.endswith(f"{coverage.END}\nafter\n")
    assert coverage.between_markers(text) == coverage.markdown()
