"""Members of today's API that a served operation does not implement yet, in one table.

Issue 12, item 5: a member that would change the answer and that this deployment
does not implement is refused with InvalidInputException naming it, never
accepted and silently dropped. The shipped models keep every stock member (so
stock clients can send them); this table says which ones the handlers do not
honour, and `refuse` (called by `wire.parse_input` after validation) turns a
request that uses one into an error. Whoever implements a member removes its
row here; `python -m chalicelib.protocol.coverage` lists what is left.

A row: dotted member path (through structures and lists, as in the model) ->
`Unserved(reason, allowed)`. A member is "used" when it is present and not an
empty string, list or map, and its value is not one of `allowed` (the values
that ask for what the service does anyway, e.g. `performIncrementalUpdate` false).
"""
from typing import NamedTuple

from chalicelib.protocol.errors import InvalidInputException


class Unserved(NamedTuple):
    reason: str
    allowed: tuple = ()


_COLUMNS = Unserved("column selection (trainingDataConfig) is not applied by the trainer")
_EVENTS_CONFIG = Unserved("event weights (eventsConfig) are not applied by the trainer")
_INCREMENTAL = Unserved("incremental model updates are not served", allowed=(False,))
_RANKING_INFLUENCE = Unserved("ranking influence is not served")

NOT_SERVED = {
    "personalize": {
        "CreateRecommender": {"recommenderConfig.trainingDataConfig": _COLUMNS},
        "UpdateRecommender": {"recommenderConfig.trainingDataConfig": _COLUMNS},
        "CreateDatasetImportJob": {
            "publishAttributionMetricsToS3": Unserved("metric attributions are not served",
                                                      allowed=(False,)),
        },
        "CreateSolution": {
            "performIncrementalUpdate": _INCREMENTAL,
            "solutionConfig.eventsConfig": _EVENTS_CONFIG,
            "solutionConfig.optimizationObjective": Unserved(
                "optimization objectives are not applied by the trainer"),
            "solutionConfig.trainingDataConfig": _COLUMNS,
        },
        "UpdateSolution": {
            "performIncrementalUpdate": _INCREMENTAL,
            "solutionUpdateConfig.eventsConfig": _EVENTS_CONFIG,
        },
        "CreateCampaign": {"campaignConfig.rankingInfluence": _RANKING_INFLUENCE},
        "UpdateCampaign": {"campaignConfig.rankingInfluence": _RANKING_INFLUENCE},
    },
    "personalize-events": {
        "PutEvents": {
            "eventList.impression": Unserved(
                "impressions are not read by any recipe of this deployment yet"),
            "eventList.metricAttribution": Unserved("metric attributions are not served"),
        },
    },
}


def members(service, operation):
    """{member path: Unserved} for one operation (empty when all are served)."""
    return dict(NOT_SERVED.get(service, {}).get(operation, {}))


def _used(value, allowed):
    if value is None or (isinstance(value, (str, list, dict)) and not value):
        return False
    return not any(value == a and type(value) is type(a) for a in allowed)


def _find(value, parts, path):
    """(wire path, value) for each occurrence of the dotted member path in the request."""
    if not parts:
        yield path, value
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _find(item, parts, f"{path}.{i + 1}")
        return
    if isinstance(value, dict) and parts[0] in value:
        yield from _find(value[parts[0]], parts[1:], f"{path}.{parts[0]}" if path else parts[0])


def used(service, operation, params):
    """[(wire path, reason)] for every not-served member the request uses."""
    found = []
    for member, row in members(service, operation).items():
        for path, value in _find(params, member.split("."), ""):
            if _used(value, row.allowed):
                found.append((path, row.reason))
    return found


def refuse(service, operation, params):
    """InvalidInputException naming each not-served member the request uses."""
    found = used(service, operation, params)
    if found:
        raise InvalidInputException("; ".join(
            f"{path}: not served by this deployment yet ({reason})" for path, reason in found))
