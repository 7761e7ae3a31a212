"""Schedule expressions for scheduled imports (and retraining).

Seed, CreateDatasetImportJob "Scheduling": `importJobSchedule` is a cron
expression as in the Amazon CloudWatch Events documentation, e.g.
`cron(0 12 * * ? *)`; an empty string stops the scheduled imports. Seed,
"Limits": the minimum increment for a cron schedule is 30 minutes.

CloudWatch syntax accepted here:
- `rate(<n> minute|minutes|hour|hours|day|days)`, singular exactly when n = 1;
- `cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)` with
  `, - * /` in every field, `? L W` in day-of-month, `? L #` in day-of-week,
  month and weekday names (JAN-DEC, SUN-SAT), and exactly one of
  day-of-month / day-of-week given as `?`.
"""
import re

from chalicelib.domain.limits import MIN_SCHEDULE_MINUTES

MIN_INTERVAL_MINUTES = MIN_SCHEDULE_MINUTES  # seed, "Limits"

MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
WEEKDAYS = "SUN MON TUE WED THU FRI SAT".split()


class InvalidSchedule(ValueError):
    """The expression is malformed or fires more often than the limit allows."""


def normalize(expression):
    """Validate `expression`; return it stripped, or None for "" (no schedule)."""
    if expression is None:
        return None
    text = expression.strip()
    if not text:
        return None
    m = re.fullmatch(r"(rate|cron)\((.*)\)", text)
    if not m:
        raise InvalidSchedule(f"Schedule {expression!r} must be cron(...) or rate(...)")
    if m[1] == "rate":
        minutes = _rate_minutes(m[2].strip(), expression)
    else:
        minutes = _cron_min_gap(m[2].strip(), expression)
    if minutes < MIN_INTERVAL_MINUTES:
        raise InvalidSchedule(
            f"Schedule {expression!r} runs every {minutes} minutes; the minimum increment "
            f"is {MIN_INTERVAL_MINUTES} minutes")
    return text


def _rate_minutes(body, expression):
    m = re.fullmatch(r"(\d+)\s+(minute|minutes|hour|hours|day|days)", body)
    if not m:
        raise InvalidSchedule(f"Schedule {expression!r}: rate takes '<value> <unit>' with unit "
                              "minute(s), hour(s) or day(s)")
    value, unit = int(m[1]), m[2]
    if value < 1:
        raise InvalidSchedule(f"Schedule {expression!r}: the rate value must be positive")
    if (value == 1) != (not unit.endswith("s")):
        raise InvalidSchedule(f"Schedule {expression!r}: use a singular unit for 1 and a plural "
                              "one otherwise")
    return value * {"minute": 1, "hour": 60, "day": 1440}[unit.rstrip("s")]


# (field name, low, high, names, extra single-token forms)
_FIELDS = (
    ("minutes", 0, 59, None),
    ("hours", 0, 23, None),
    ("day-of-month", 1, 31, None),
    ("month", 1, 12, MONTHS),
    ("day-of-week", 1, 7, WEEKDAYS),
    ("year", 1970, 2199, None),
)


def _number(token, low, high, names, field, expression):
    if names and token.upper() in names:
        return names.index(token.upper()) + 1
    if not token.isdigit() or not low <= int(token) <= high:
        raise InvalidSchedule(f"Schedule {expression!r}: {token!r} is not a valid {field} "
                              f"({low}-{high})")
    return int(token)


def _expand(text, low, high, names, field, expression):
    """The values a standard field (, - * /) selects."""
    values = set()
    for item in text.split(","):
        base, _, step = item.partition("/")
        if step and (not step.isdigit() or int(step) < 1):
            raise InvalidSchedule(f"Schedule {expression!r}: bad step {step!r} in {field}")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start = _number(a, low, high, names, field, expression)
            end = _number(b, low, high, names, field, expression)
            if end < start:
                raise InvalidSchedule(f"Schedule {expression!r}: range {base!r} in {field} "
                                      "runs backwards")
        else:
            start = _number(base, low, high, names, field, expression)
            end = high if step else start
        values.update(range(start, end + 1, int(step) if step else 1))
    return values


def _check_day_field(text, field, expression):
    if text == "?":
        return
    if field == "day-of-month" and re.fullmatch(r"L|LW|([1-9]|[12]\d|3[01])W", text):
        return
    if field == "day-of-week" and re.fullmatch(r"([1-7]|[A-Za-z]{3})?L|([1-7]|[A-Za-z]{3})#[1-5]", text):
        token = re.split(r"[L#]", text)[0]
        if token:
            _number(token, 1, 7, WEEKDAYS, field, expression)
        return
    low, high, names = (1, 31, None) if field == "day-of-month" else (1, 7, WEEKDAYS)
    _expand(text, low, high, names, field, expression)


def _cron_min_gap(body, expression):
    parts = body.split()
    if len(parts) != 6:
        raise InvalidSchedule(f"Schedule {expression!r}: cron takes six fields (minutes hours "
                              "day-of-month month day-of-week year)")
    minutes, hours, dom, month, dow, year = parts
    if (dom == "?") == (dow == "?"):
        raise InvalidSchedule(f"Schedule {expression!r}: exactly one of day-of-month and "
                              "day-of-week must be '?'")
    mins = _expand(minutes, 0, 59, None, "minutes", expression)
    hrs = _expand(hours, 0, 23, None, "hours", expression)
    _check_day_field(dom, "day-of-month", expression)
    _check_day_field(dow, "day-of-week", expression)
    _expand(month, 1, 12, MONTHS, "month", expression)
    _expand(year, 1970, 2199, None, "year", expression)
    times = sorted(h * 60 + m for h in hrs for m in mins)
    # The last run of one day and the first of the next may both happen.
    gaps = [b - a for a, b in zip(times, times[1:])] + [times[0] + 1440 - times[-1]]
    return min(gaps)
