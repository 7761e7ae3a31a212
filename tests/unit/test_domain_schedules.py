"""importJobSchedule rules (seed: CreateDatasetImportJob "Scheduling"; "Limits":
minimum increment 30 minutes)."""
import pytest

from chalicelib.domain.schedules import InvalidSchedule, normalize


@pytest.mark.parametrize("expr", [
    "cron(0 12 * * ? *)",            # the seed's example: every day at 12:00 UTC
    "cron(0,30 * * * ? *)",          # exactly every 30 minutes
    "cron(0/30 * * * ? *)",
    "cron(15 10 ? * MON-FRI *)",
    "cron(0 18 L * ? *)",
    "cron(0 8 ? * 6#3 2026-2030)",
    "cron(0 0 1 JAN,JUL ? *)",
    "cron(50 23,0 * * ? *)",         # 23:50 and 00:50: an hour apart across midnight
    "rate(30 minutes)", "rate(1 hour)", "rate(2 hours)", "rate(1 day)", "rate(7 days)",
])
def test_accepted(expr):
    assert normalize(f"  {expr} ") == expr


@pytest.mark.parametrize("expr, words", [
    ("rate(29 minutes)", "minimum increment"),
    ("rate(1 minute)", "minimum increment"),
    ("cron(*/15 * * * ? *)", "15 minutes"),
    ("cron(0,10 * * * ? *)", "10 minutes"),
    ("cron(* 12 * * ? *)", "1 minutes"),
    ("cron(50,5 23,0 * * ? *)", "15 minutes"),   # 23:50 -> 00:05 the next day
    ("rate(1 hours)", "singular"),
    ("rate(2 hour)", "plural"),
    ("rate(0 days)", "positive"),
    ("rate(5 weeks)", "unit"),
    ("cron(0 12 * * *)", "six fields"),
    ("cron(0 12 * * * *)", "'?'"),
    ("cron(0 12 ? * ? *)", "'?'"),
    ("cron(60 12 * * ? *)", "minutes"),
    ("cron(0 24 * * ? *)", "hours"),
    ("cron(0 12 32 * ? *)", "day-of-month"),
    ("cron(0 12 ? * FUNDAY *)", "day-of-week"),
    ("cron(0 12 * FOO ? *)", "month"),
    ("cron(0 12 * * ? 1969)", "year"),
    ("cron(0 5-2 * * ? *)", "backwards"),
    ("at(2026-01-01T00:00:00)", "cron(...) or rate(...)"),
    ("every day", "cron(...) or rate(...)"),
])
def test_refused(expr, words):
    with pytest.raises(InvalidSchedule) as e:
        normalize(expr)
    assert words.lower() in str(e.value).lower()


@pytest.mark.parametrize("expr", ["", "   ", None])
def test_empty_means_no_schedule(expr):
    assert normalize(expr) is None
