"""Recommendation filters (today's API: CreateFilter, DescribeFilter, ListFilters, DeleteFilter;
data types Filter, FilterSummary; developer guide "Filtering recommendations and user segments").

CreateFilter parses the expression (`chalicelib.filters.language`: one grammar, errors that
name the position and the rule) and checks it against the dataset group's schemas: every
field it names exists in the group's Items / Users dataset with a type its operator can use,
and an Interactions filter needs an Interactions dataset (or an event tracker's). Nothing is
left to build, so the filter is stored ACTIVE at once (the documented lifecycle CREATE PENDING >
CREATE IN_PROGRESS > ACTIVE is passed through in the same call, as for dataset groups); a bad
expression is an InvalidInputException and no filter is stored. Quotas ("Amazon Personalize
endpoints and quotas"): 30 filters per dataset group and 20 distinct dataset fields across
them (LimitExceededException); 10 distinct fields per filter (the language's check).

The filter is a child of its dataset group (`storage.references`: the group's delete guard
reports it). DeleteFilter removes it at once. `active_filter(arn)` serves the runtime: the
ACTIVE filter and its parsed expression, remembered for the campaign TTL
(`runtime.serving.resolve_filter`) so most requests read no record; a deleted filter stops
applying within that TTL.
"""
from chalicelib.datasets.schema import INTERACTIONS, ITEMS, USERS, SchemaError
from chalicelib.domain import arns, lifecycle
from chalicelib.filters import language
from chalicelib.protocol.errors import (InvalidInputException, LimitExceededException,
                                        ResourceAlreadyExistsException, ResourceNotFoundException)
from chalicelib.service import dataset_groups
from chalicelib.service import jobs
from chalicelib.service.registry import operation
from chalicelib.storage.resources import now, store

TYPE = arns.FILTER
_DATASETS = {language.ITEMS: ITEMS, language.USERS: USERS, language.INTERACTIONS: INTERACTIONS}


def field_types(group_arn):
    """{Items/Users/Interactions: {FIELD: avro type}} of the group's datasets (a dataset the
    group lacks is absent; the event tracker's EVENT_INTERACTIONS counts as Interactions)."""
    from chalicelib.datasets import records   # brings fastavro: only CreateFilter needs it
    out = {}
    for name, dataset_type in _DATASETS.items():
        record = records.dataset_of_group(group_arn, dataset_type)
        if record is None and dataset_type == INTERACTIONS:
            record = records.dataset_of_group(group_arn, "EVENT_INTERACTIONS")
        if record is None:
            continue
        try:
            schema = records.dataset_schema_of(record)
        except SchemaError:
            continue
        out[name] = {f.name.upper(): f.type for f in schema.fields}
    return out


def parse_checked(expression, group_arn):
    """The parsed expression, checked against the group's schemas (InvalidInputException)."""
    try:
        parsed = language.parse(expression)
        language.check_fields(parsed, field_types(group_arn))
    except language.FilterError as e:
        raise InvalidInputException(str(e)) from None
    return parsed


def _check_quotas(group_arn, parsed):
    existing = list(store().iterate(TYPE, group_arn))
    if len(existing) >= language.MAX_FILTERS_PER_DATASET_GROUP:
        raise LimitExceededException(
            f"Dataset group {group_arn} has {len(existing)} filters; at most "
            f"{language.MAX_FILTERS_PER_DATASET_GROUP} are allowed")
    fields = set(parsed.fields)
    for record in existing:
        try:
            fields.update(language.parse(record["filterExpression"]).fields)
        except language.FilterError:
            continue
    if len(fields) > language.MAX_FIELDS_PER_DATASET_GROUP:
        raise LimitExceededException(
            f"filterExpression: the filters of dataset group {group_arn} would use "
            f"{len(fields)} distinct dataset fields; at most "
            f"{language.MAX_FIELDS_PER_DATASET_GROUP} are allowed across a group's filters")


@operation("CreateFilter")
def create_filter(params):
    group_arn = params["datasetGroupArn"]
    dataset_groups.require_active(group_arn)
    arn = arns.filter_arn(params["name"])
    if store().get(arn, TYPE) is not None:
        raise ResourceAlreadyExistsException(f"Filter {arn} already exists")
    parsed = parse_checked(params["filterExpression"], group_arn)
    _check_quotas(group_arn, parsed)
    created = now()
    record = {"arn": arn, "filterArn": arn, "name": params["name"], "datasetGroupArn": group_arn,
              "filterExpression": params["filterExpression"], "status": lifecycle.ACTIVE,
              "creationDateTime": created, "lastUpdatedDateTime": created}
    jobs.put_under_active_parent(record, TYPE, group_arn, "Filter",
                                 lambda: dataset_groups.require_active(group_arn))
    return {"filterArn": arn}


@operation("DescribeFilter")
def describe_filter(params):
    return {"filter": store().require(params["filterArn"], TYPE, "filter")}


@operation("ListFilters")
def list_filters(params):
    page, token = store().list_page(TYPE, params, params.get("datasetGroupArn"))
    return {"Filters": page, "nextToken": token}


@operation("DeleteFilter")
def delete_filter(params):
    arn = params["filterArn"]
    store().begin_delete(arn, TYPE, "filter")
    store().delete(arn, expect_status=[lifecycle.DELETE_PENDING])
    return {}


def _active(arn):
    record = store().get(arn, TYPE)
    if record is None:
        raise ResourceNotFoundException.for_arn(arn)
    if record.get("status") != lifecycle.ACTIVE:
        raise InvalidInputException(f"filter {arn} is {record.get('status')}; it must be ACTIVE")
    return record, language.parse(record["filterExpression"])


def active_filter(arn, member="filterArn"):
    """(record, parsed expression) of an ACTIVE filter, remembered for the runtime's TTL
    (`runtime.serving.resolve_filter`); ResourceNotFoundException for an unknown ARN,
    InvalidInputException for one not ACTIVE ("be sure the filter resource is ACTIVE",
    GetRecommendations' filterArn)."""
    from chalicelib.runtime import serving
    try:
        return serving.resolve_filter(arn, _active)
    except InvalidInputException as e:
        raise InvalidInputException(f"{member}: {e.message}") from None
    except language.FilterError as e:   # stored before a rule existed
        raise InvalidInputException(f"{member}: filter {arn}: {e}") from None
