"""The shipped service models: today's stock models plus the preview's
additions (no stock operation, member or shape disappears), that botocore and
boto3 load them, the seed constraints they carry, and that stock clients stay
accepted.

Member-by-member agreement with the seed is in test_models_seed.py.
"""
import json
import os
import re

import boto3
import botocore.session
import pytest
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

from chalicelib.protocol import models
from chalicelib.protocol.models import PatchError, deep_merge
from chalicelib.protocol.validate import validate as server_validate
from tests.unit.test_models_seed import SEED, SERVICE_OF, seed_actions

needs_seed = pytest.mark.skipif(not os.path.exists(SEED), reason="seed document not available")

def doc(service):
    return models.merged_documents(service)["service-2"]


def shape(service, name):
    return doc(service)["shapes"][name]


def input_member(service, operation, member):
    d = doc(service)
    ref = d["shapes"][d["operations"][operation]["input"]["shape"]]["members"][member]
    return ref, d["shapes"][ref["shape"]]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    assert models.main(["--out", str(out)]) == 0
    return out


def client_on(folder, service):
    session = botocore.session.Session()
    session.get_component("data_loader").search_paths.insert(0, str(folder))
    return boto3.Session(botocore_session=session).client(
        service, region_name="us-east-1", endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="k", aws_secret_access_key="s")


# ------------------------------------------------------------ the surface

@needs_seed
def test_every_seed_action_is_in_the_model():
    actions = seed_actions()
    assert len(actions) == 56 and len(set(actions)) == 56
    control = [a for a in actions if SERVICE_OF.get(a, "personalize") == "personalize"]
    assert len(control) == 53
    for action in actions:
        service = SERVICE_OF.get(action, "personalize")
        assert action in models.operation_names(service), f"{action} missing from {service}"


@needs_seed
def test_operations_are_todays_plus_the_seeds():
    actions = seed_actions()
    counts = {}
    for service in models.SERVICES:
        seed_ops = {a for a in actions if SERVICE_OF.get(a, "personalize") == service}
        stock_ops = set(models.stock_documents(service)["service-2"]["operations"])
        assert set(models.operation_names(service)) == seed_ops | stock_ops
        counts[service] = len(stock_ops)
    # issue 12: today's stock botocore has 71 + 3 + 5 operations; none may disappear
    assert counts == {"personalize": 71, "personalize-runtime": 3, "personalize-events": 5}
    # the patches name the seed's actions, service by service
    for service in models.SERVICES:
        listed = models.load_patch(service)["preview-operations"]
        assert sorted(listed) == sorted(a for a in actions
                                        if SERVICE_OF.get(a, "personalize") == service)
    assert models.dialect_of("personalize", "CreateDataset") == "both"
    assert models.dialect_of("personalize", "CreateFilter") == "today"
    assert models.dialect_of("personalize", "CreateAlgorithm") == "preview"
    with pytest.raises(KeyError):
        models.dialect_of("personalize", "CreateNothing")


@pytest.mark.parametrize("service", sorted(models.SERVICES))
def test_every_stock_shape_and_paginator_is_kept(service):
    stock = models.stock_documents(service)
    merged = models.merged_documents(service)
    assert set(stock["service-2"]["shapes"]) <= set(merged["service-2"]["shapes"])
    assert set(stock["paginators-1"]["pagination"]) <= set(merged["paginators-1"]["pagination"])
    for name, op in stock["service-2"]["operations"].items():
        assert merged["service-2"]["operations"][name]["http"] == op["http"], name


def test_every_shape_is_reachable_and_defined():
    for service in models.SERVICES:
        d = doc(service)
        sm = ServiceModel(d, service_name=service)
        for name in d["shapes"]:
            sm.shape_for(name)  # resolves every reference
        for op in sm.operation_names:
            om = sm.operation_model(op)
            assert om.input_shape is not None
            [e.name for e in om.error_shapes]
        assert set(d["shapes"]) == models._reachable_shapes(d)


def test_service_model_is_cached_and_named():
    a = models.service_model("personalize")
    assert a is models.service_model("personalize")
    assert a.service_name == "personalize" and a.api_version == "2018-05-22"
    assert a.metadata["protocol"] == "json" and a.metadata["targetPrefix"] == "AmazonPersonalize"
    assert models.service_model("personalize-runtime").protocol == "rest-json"
    assert models.service_model("personalize-events").api_version == "2018-03-22"
    with pytest.raises(KeyError):
        models.service_model("personalize-foo")


def test_merged_documents_are_copies():
    d = models.merged_documents("personalize")
    d["service-2"]["operations"].clear()
    assert "CreateAlgorithm" in models.merged_documents("personalize")["service-2"]["operations"]


def test_every_pattern_compiles_in_python():
    # the server validates patterns with Python's re; Java's \p{L}-style classes (stock
    # TagKey / TagValue) are translated by the validator, so each one is enforced
    from chalicelib.protocol.validate import _regex
    for service in models.SERVICES:
        for name, s in doc(service)["shapes"].items():
            if "pattern" in s:
                assert _regex(s["pattern"]) is not None, (service, name, s["pattern"])


# ------------------------------------------------------------ written folder and boto3

def test_cli_writes_an_aws_data_path_folder(written):
    for service, version in models.SERVICES.items():
        for kind in ("service-2", "paginators-1"):
            path = written / service / version / f"{kind}.json"
            on_disk = json.loads(path.read_text())
            assert on_disk == models.merged_documents(service)[kind]


def test_boto3_client_on_written_models_has_the_preview_operations(written):
    control = client_on(written, "personalize")
    for method in ("create_algorithm", "get_metrics", "update_dataset_import_job",
                   "list_dataset_import_job_runs", "create_feature_export_job",
                   "create_solution_version", "get_solution_metrics"):
        assert hasattr(control, method), method
    # and today's, whether or not this deployment serves them yet
    for method in ("create_filter", "tag_resource", "create_recommender",
                   "stop_solution_version_creation"):
        assert hasattr(control, method), method
    runtime = client_on(written, "personalize-runtime")
    assert hasattr(runtime, "personalize_ranking") and hasattr(runtime, "get_personalized_ranking")
    assert hasattr(runtime, "get_action_recommendations")
    events = client_on(written, "personalize-events")
    for method in ("put_events", "put_items", "put_users", "put_actions",
                   "put_action_interactions"):
        assert hasattr(events, method), method


def test_aws_data_path_environment_variable_works(written, monkeypatch):
    monkeypatch.setenv("AWS_DATA_PATH", str(written))
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="k",
                            aws_secret_access_key="s")
    assert hasattr(session.client("personalize"), "create_recipe")
    assert hasattr(session.client("personalize-runtime"), "personalize_ranking")


def test_stock_documents_ignore_aws_data_path(written, monkeypatch):
    monkeypatch.setenv("AWS_DATA_PATH", str(written))
    assert "CreateAlgorithm" not in models.stock_documents("personalize")["service-2"]["operations"]
    assert "CreateFilter" in models.stock_documents("personalize")["service-2"]["operations"]


def test_boto3_serializes_preview_requests(written):
    """A seed call goes on the wire as the seed's request syntax shows."""
    sent = []

    def capture(request, **kwargs):
        sent.append(request)
        from botocore.awsrequest import AWSResponse
        import io

        class Body(io.BytesIO):
            def stream(self, **kw):
                yield self.read()
        return AWSResponse(request.url, 200, {}, Body(b'{"solutionArn": "arn:aws:personalize:us-east-1:1:solution/s"}'))

    control = client_on(written, "personalize")
    control.meta.events.register_first("before-send", capture)
    control.create_solution(
        name="s", datasetGroupArn="arn:aws:personalize:us-east-1:123456789012:dataset-group/g",
        minProvisionedTPS=10, performAutoML=True,
        solutionConfig={"retrainingMode": "MANUAL", "retrainSchedule": "cron(0 12 * * ? *)"})
    request = sent[-1]
    assert request.headers["X-Amz-Target"] == b"AmazonPersonalize.CreateSolution"
    body = json.loads(request.body)
    assert body["minProvisionedTPS"] == 10
    assert body["solutionConfig"]["retrainingMode"] == "MANUAL"

    runtime = client_on(written, "personalize-runtime")
    runtime.meta.events.register_first("before-send", capture)
    runtime.personalize_ranking(campaignArn="arn:aws:personalize:us-east-1:1:campaign/c",
                                userId="u1", inputList=["a", "b"], searchQuery="shoes")
    assert sent[-1].url.endswith("/personalize-ranking") and sent[-1].method == "POST"
    assert json.loads(sent[-1].body)["searchQuery"] == "shoes"


# ------------------------------------------------------------ paginators

@needs_seed
def test_every_list_operation_has_a_paginator(written):
    for service in models.SERVICES:
        pages = models.merged_documents(service)["paginators-1"]["pagination"]
        d = doc(service)
        # every List operation that pages (ListTagsForResource answers one list, unpaged)
        lists = [op for op in models.operation_names(service) if op.startswith("List")
                 and "nextToken" in d["shapes"][d["operations"][op]["input"]["shape"]]["members"]]
        assert sorted(pages) == sorted(lists)
        for op, p in pages.items():
            out = d["shapes"][d["operations"][op]["output"]["shape"]]["members"]
            inp = d["shapes"][d["operations"][op]["input"]["shape"]]["members"]
            assert p["result_key"] in out and p["output_token"] in out
            assert p["input_token"] in inp and p["limit_key"] in inp
    control = client_on(written, "personalize")
    for op in [a for a in seed_actions() if a.startswith("List")]:
        assert control.can_paginate(re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()), op


# ------------------------------------------------------------ seed constraints

def test_name_pattern_and_length():
    ref, name = input_member("personalize", "CreateAlgorithm", "name")
    assert (name.get("min"), name["max"]) == (1, 63)
    rx = re.compile(name["pattern"])
    assert rx.fullmatch("my-algo_1") and not rx.fullmatch("-algo") and not rx.fullmatch("my algo")


def test_arn_pattern_is_the_seeds():
    arn = shape("personalize", "Arn")
    assert arn["max"] == 256
    assert re.fullmatch(arn["pattern"], "arn:aws:personalize:us-east-1:123456789012:campaign/c")
    assert not re.fullmatch(arn["pattern"], "arn:aws:s3:::bucket")


def test_num_results_range_and_default():
    ref, num = input_member("personalize-runtime", "GetRecommendations", "numResults")
    assert num["type"] == "integer" and num["min"] == 0
    # the seed's maximum is 100, today's API has none: the wider is kept
    assert "max" not in num
    assert models.member_default("personalize-runtime", "GetRecommendations", "numResults") == 25


def test_update_mode_and_retraining_mode_enums():
    for op in ("CreateCampaign", "UpdateCampaign"):
        ref, mode = input_member("personalize", op, "updateMode")
        assert mode["enum"] == ["AUTO", "MANUAL"] and mode["max"] == 256
    config = shape("personalize", "SolutionConfig")["members"]
    assert shape("personalize", config["retrainingMode"]["shape"])["enum"] == ["AUTO", "MANUAL"]
    assert shape("personalize", config["retrainSchedule"]["shape"])["max"] == 256
    assert set(shape("personalize", "Campaign")["members"]) >= {"solutionArn", "updateMode"}


def test_dataset_type_is_free_text_as_the_seed_says():
    # the seed lists Interactions, Items, Users as case-insensitive values, not an enum
    ref, kind = input_member("personalize", "CreateDataset", "datasetType")
    assert "enum" not in kind and "pattern" not in kind and kind["max"] == 256
    assert "Interactions" in ref["documentation"] and "case insensitive" in ref["documentation"]


def test_recipe_provider_accepts_both_vocabularies():
    ref, provider = input_member("personalize", "ListRecipes", "recipeProvider")
    assert set(provider["enum"]) == {"SERVICE", "Service", "BYOR", "All"}
    assert models.member_default("personalize", "ListRecipes", "recipeProvider") == "All"


def test_preview_members_added_to_stock_shapes():
    assert "datasetImportJobConfig" in shape("personalize", "CreateDatasetImportJobRequest")["members"]
    job = shape("personalize", "DatasetImportJob")["members"]
    assert job["latestDatasetImportJobRun"]["shape"] == "DatasetImportJobRunSummary"
    assert "roleArn" in shape("personalize", "CreateEventTrackerRequest")["members"]
    assert "solutionConfig" in shape("personalize", "UpdateSolutionRequest")["members"]
    assert "minProvisionedTPS" in shape("personalize", "Solution")["members"]
    event = shape("personalize-events", "Event")["members"]
    assert shape("personalize-events", event["context"]["shape"])["type"] == "map"
    assert "searchQuery" in shape("personalize-runtime", "PersonalizeRankingRequest")["members"]
    # PersonalizeRanking shares its URI with GetPersonalizedRanking: the latter
    # accepts the preview member too, so one route can parse both
    assert "searchQuery" in shape("personalize-runtime", "GetPersonalizedRankingRequest")["members"]
    ops = doc("personalize-runtime")["operations"]
    assert ops["PersonalizeRanking"]["http"] == ops["GetPersonalizedRanking"]["http"] == {
        "method": "POST", "requestUri": "/personalize-ranking"}


def test_search_query_constraints():
    ref, query = input_member("personalize-runtime", "PersonalizeRanking", "searchQuery")
    assert query["max"] == 1024
    assert re.fullmatch(query["pattern"], "red-shoes") and not re.fullmatch(query["pattern"], "-x")


def test_put_events_limits_are_the_wider():
    events = shape("personalize-events", "EventList")
    assert (events["min"], events["max"]) == (1, 100)  # seed 100, today 10
    assert "min" not in shape("personalize-events", "StringType")


def test_preview_errors_on_runtime_are_404():
    assert shape("personalize-runtime", "ResourceNotFoundException")["error"]["httpStatusCode"] == 404
    errors = [e["shape"] for e in doc("personalize-runtime")["operations"]["PersonalizeRanking"]["errors"]]
    assert errors == ["InvalidInputException", "ResourceNotFoundException"]


# ------------------------------------------------------------ defaults

@pytest.mark.parametrize("service,operation,member,value", [
    ("personalize", "CreateCampaign", "updateMode", "MANUAL"),
    ("personalize", "CreateSolution", "minProvisionedTPS", 1),
    ("personalize", "CreateSolution", "performHPO", True),
    ("personalize", "CreateSolution", "performAutoML", False),
    ("personalize", "CreateSolution", "solutionConfig.retrainingMode", "AUTO"),
    ("personalize", "UpdateSolution", "solutionConfig.retrainingMode", "AUTO"),
    ("personalize-runtime", "GetRecommendations", "numResults", 25),
    ("personalize", "CreateSolution", "name", None),
])
def test_member_default(service, operation, member, value):
    assert models.member_default(service, operation, member) == value


def test_member_default_unknown_names():
    with pytest.raises(KeyError):
        models.member_default("personalize", "CreateSolution", "nope")
    with pytest.raises(KeyError):
        models.member_default("personalize", "NoSuchOperation", "name")
    with pytest.raises(KeyError):
        models.member_default("personalize", "CreateSolution", "solutionConfig.nope")


def test_members_the_seed_requires_but_today_omits_are_optional_and_explained():
    for op, member in (("CreateSolution", "minProvisionedTPS"), ("CreateCampaign", "updateMode"),
                       ("CreateEventTracker", "roleArn"), ("CreateDatasetImportJob", "roleArn")):
        d = doc("personalize")
        request = d["shapes"][d["operations"][op]["input"]["shape"]]
        assert member not in request.get("required", []), (op, member)
        assert "Service note" in request["members"][member]["documentation"], (op, member)
    assert "schemaArn" not in shape("personalize", "UpdateDatasetRequest").get("required", [])


# ------------------------------------------------------------ stock clients stay accepted

# Stock patterns the merged model replaces with one that accepts at least as much.
WIDENED_PATTERNS = {
    "Arn": ["arn:aws:personalize:us-east-1:123456789012:campaign/c"],
    "TagKey": ["env", "Cost Center", "a.b:c/d=e+f-g@h", "名前"],
    "TagValue": ["", "prod", "x y_z"],
}


# Members required here but optional in stock, where the stock alternative is
# something this service does not serve (so no servable request is refused).
NEWLY_REQUIRED = {"GetRecommendationsRequest": {"campaignArn"}}


def _compare_with_stock(service, merged_doc, stock_doc, merged_name, stock_name, path, seen, problems):
    if (merged_name, stock_name) in seen:
        return
    seen.add((merged_name, stock_name))
    m, s = merged_doc["shapes"][merged_name], stock_doc["shapes"][stock_name]
    if m["type"] != s["type"]:
        problems.append(f"{path}: type {m['type']} (stock {s['type']})")
        return
    lo_m, lo_s = m.get("min", 0), s.get("min", 0)
    if lo_m > lo_s:
        problems.append(f"{path}: min {lo_m} > stock {lo_s}")
    if "max" in m and ("max" not in s or m["max"] < s["max"]):
        problems.append(f"{path}: max {m['max']} < stock {s.get('max')}")
    if "enum" in m and not set(s.get("enum", [None])) <= set(m["enum"]):
        problems.append(f"{path}: enum {m['enum']} lacks stock values {s.get('enum')}")
    if "pattern" in m and m["pattern"] != s.get("pattern"):
        samples = WIDENED_PATTERNS.get(stock_name)
        if samples is None:
            problems.append(f"{path}: pattern {m['pattern']!r} differs from stock {s.get('pattern')!r}")
        else:
            for sample in samples:
                if not re.fullmatch(m["pattern"], sample):
                    problems.append(f"{path}: widened pattern rejects {sample!r}")
    if s["type"] == "structure":
        missing = set(s.get("members", {})) - set(m.get("members", {}))
        problems += [f"{path}.{name}: stock member missing" for name in sorted(missing)]
        extra_required = set(m.get("required", [])) - set(s.get("required", []))
        extra_required -= NEWLY_REQUIRED.get(stock_name, set())
        problems += [f"{path}.{name}: required here, optional in stock" for name in extra_required]
        for name, ref in s.get("members", {}).items():
            if name in m.get("members", {}):
                _compare_with_stock(service, merged_doc, stock_doc, m["members"][name]["shape"],
                                    ref["shape"], f"{path}.{name}", seen, problems)
    for key in ("member", "key", "value"):
        if key in s:
            _compare_with_stock(service, merged_doc, stock_doc, m[key]["shape"], s[key]["shape"],
                                f"{path}<{key}>", seen, problems)


def _compare_members(merged_doc, stock_doc, merged_name, stock_name, path, seen, problems):
    """Every member of the stock shape, recursively, is in the merged one."""
    if (merged_name, stock_name) in seen:
        return
    seen.add((merged_name, stock_name))
    m, s = merged_doc["shapes"][merged_name], stock_doc["shapes"][stock_name]
    for name, ref in s.get("members", {}).items():
        if name not in m.get("members", {}):
            problems.append(f"{path}.{name}: stock member missing")
        else:
            _compare_members(merged_doc, stock_doc, m["members"][name]["shape"], ref["shape"],
                             f"{path}.{name}", seen, problems)
    for key in ("member", "key", "value"):
        if key in s:
            _compare_members(merged_doc, stock_doc, m[key]["shape"], s[key]["shape"],
                             f"{path}<{key}>", seen, problems)


@pytest.mark.parametrize("service", sorted(models.SERVICES))
def test_stock_requests_remain_acceptable(service):
    """Every input a stock client can send to any stock operation still fits:
    no stock member dropped, nothing newly required, no narrower limit; and
    every output member a stock client reads is still in the output shape."""
    merged_doc, stock_doc = doc(service), models.stock_documents(service)["service-2"]
    problems, seen = [], set()
    for op in stock_doc["operations"]:
        if "input" in stock_doc["operations"][op]:
            _compare_with_stock(service, merged_doc, stock_doc,
                                merged_doc["operations"][op]["input"]["shape"],
                                stock_doc["operations"][op]["input"]["shape"], op, seen, problems)
        if "output" in stock_doc["operations"][op]:
            _compare_members(merged_doc, stock_doc, merged_doc["operations"][op]["output"]["shape"],
                             stock_doc["operations"][op]["output"]["shape"], f"{op}.output",
                             set(), problems)
            stock_errors = {e["shape"] for e in stock_doc["operations"][op].get("errors", [])}
            merged_errors = {e["shape"] for e in merged_doc["operations"][op].get("errors", [])}
            problems += [f"{op}: stock error {e} dropped" for e in stock_errors - merged_errors]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("service,operation,params", [
    ("personalize", "CreateCampaign", {
        "name": "c", "solutionVersionArn": "arn:aws:personalize:us-east-1:1:solution/s/v",
        "minProvisionedTPS": 2, "campaignConfig": {"itemExplorationConfig": {"x": "0.3"}},
        "tags": [{"tagKey": "team", "tagValue": "ml"}]}),
    ("personalize", "CreateSolution", {
        "name": "s", "datasetGroupArn": "arn:aws:personalize:us-east-1:1:dataset-group/g",
        "recipeArn": "arn:aws:personalize:::recipe/aws-user-personalization",
        "performAutoTraining": False}),
    ("personalize", "CreateDatasetGroup", {"name": "g", "domain": "ECOMMERCE"}),
    ("personalize", "UpdateDataset", {"datasetArn": "arn:aws:personalize:us-east-1:1:dataset/g/I",
                                      "schemaArn": "arn:aws:personalize:us-east-1:1:schema/s"}),
    ("personalize-runtime", "GetRecommendations", {
        "campaignArn": "arn:aws:personalize:us-east-1:1:campaign/c", "userId": "u",
        "numResults": 300, "filterArn": "arn:aws:personalize:us-east-1:1:filter/f",
        "context": {"DEVICE": "mobile"}}),
    ("personalize-events", "PutEvents", {
        "trackingId": "t", "sessionId": "s", "userId": "u",
        "eventList": [{"eventType": "click", "sentAt": 1.5e9, "itemId": "i",
                       "properties": "{\"itemId\": \"i\"}", "eventValue": 1.0}]}),
])
def test_stock_shaped_requests_validate_against_the_merged_model(service, operation, params):
    stock_shape = botocore.session.get_session().get_service_model(service).operation_model(
        operation).input_shape
    assert not ParamValidator().validate(params, stock_shape).has_errors()
    merged_shape = models.service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, merged_shape)
    assert not report.has_errors(), report.generate_report()
    assert server_validate(merged_shape, params).items == []


def test_seed_shaped_requests_validate_against_the_merged_model():
    """What a 2019 client sends: members today's API lacks, limits it narrows."""
    cases = [
        ("personalize", "CreateSolution", {
            "name": "s", "datasetGroupArn": "arn:aws:personalize:us-east-1:1:dataset-group/g",
            "minProvisionedTPS": 1, "performAutoML": True,
            "solutionConfig": {"retrainingMode": "AUTO",
                               "algorithmHyperParameters": {f"k{i}": "v" for i in range(150)}}}),
        ("personalize", "ListRecipes", {"recipeProvider": "BYOR"}),
        ("personalize", "UpdateDataset", {"datasetArn": "arn:aws:personalize:us-east-1:1:dataset/g/I"}),
        ("personalize-events", "PutEvents", {
            "trackingId": "t", "sessionId": "s",
            "eventList": [{"eventId": "e", "eventType": "click", "sentAt": 1.5e9,
                           "properties": "eyJpdGVtSWQiOiAiaSJ9",
                           "context": {"device": "phone"}}] * 50}),
    ]
    for service, operation, params in cases:
        merged_shape = models.service_model(service).operation_model(operation).input_shape
        report = ParamValidator().validate(params, merged_shape)
        assert not report.has_errors(), (operation, report.generate_report())
        # the server's own validator also checks max, pattern and enum
        assert server_validate(merged_shape, params).items == [], operation
        stock_shape = botocore.session.get_session().get_service_model(service).operation_model(
            operation).input_shape
        assert server_validate(stock_shape, params).items != [], (
            f"{operation}: today's model accepts this too, so the case shows nothing")


def test_server_validation_enforces_seed_constraints():
    """The constraints carried from the seed reject what the seed rejects."""
    m = models.service_model("personalize")
    create = m.operation_model("CreateCampaign").input_shape
    ok = {"name": "c", "solutionVersionArn": "arn:aws:personalize:us-east-1:1:solution/s/v"}
    assert server_validate(create, dict(ok, updateMode="AUTO")).items == []
    assert server_validate(create, dict(ok, updateMode="SOMETIMES")).items
    assert server_validate(create, dict(ok, name="x" * 64)).items
    assert server_validate(create, dict(ok, name="bad name")).items
    ranking = models.service_model("personalize-runtime").operation_model(
        "PersonalizeRanking").input_shape
    good = {"campaignArn": "arn:aws:personalize:us-east-1:1:campaign/c", "userId": "u",
            "inputList": ["a"]}
    assert server_validate(ranking, good).items == []
    assert server_validate(ranking, dict(good, searchQuery="q" * 1025)).items
    assert server_validate(ranking, {"campaignArn": good["campaignArn"], "userId": "u"}).items
    events = models.service_model("personalize-events").operation_model("PutEvents").input_shape
    event = {"eventType": "click", "sentAt": 1.5e9}
    assert server_validate(events, {"trackingId": "t", "sessionId": "s",
                                    "eventList": [event] * 100}).items == []
    assert server_validate(events, {"trackingId": "t", "sessionId": "s",
                                    "eventList": [event] * 101}).items


# ------------------------------------------------------------ the merge itself

def test_deep_merge_rules():
    base = {"a": {"b": 1, "c": [1, 2]}, "req": ["x", "y"], "gone": 1}
    patch = {"a": {"b": 2, "d": {"e": 3}}, "req": {"$remove": ["y"], "$add": ["z", "x"]},
             "gone": None, "new": [4]}
    out = deep_merge(base, patch)
    assert out == {"a": {"b": 2, "c": [1, 2], "d": {"e": 3}}, "req": ["x", "z"], "new": [4]}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "req": ["x", "y"], "gone": 1}
    assert deep_merge({"a": {"b": 1}}, {"a": {"$replace": {"c": 2}}}) == {"a": {"c": 2}}
    assert deep_merge({"a": [1]}, {"a": [2]}) == {"a": [2]}


@pytest.mark.parametrize("base,patch", [
    ({"a": 1}, {"b": None}),                       # deleting what is not there
    ({"req": ["x"]}, {"req": {"$remove": ["y"]}}),  # removing what is not listed
    ({"a": 1}, {"a": {"b": 2}}),                    # merging an object into a number
    ({"a": {}}, {"a": {"$replace": 1, "b": 2}}),    # $replace with company
    ({"a": []}, {"a": {"$add": [1], "$oops": 2}}),  # unknown list edit
])
def test_deep_merge_refuses_patches_that_do_not_fit(base, patch):
    with pytest.raises(PatchError):
        deep_merge(base, patch)


def test_apply_patch_keeps_stock_and_checks_paginators():
    stock = models.stock_documents("personalize-events")
    merged = models.apply_patch(stock, {})
    assert merged["service-2"]["operations"] == stock["service-2"]["operations"]
    assert merged["service-2"]["shapes"] == stock["service-2"]["shapes"]
    with pytest.raises(PatchError):
        models.apply_patch(stock, {"paginators-1": {"pagination": {"ListNothing": {}}}})
    # a shape the patch defines and nothing reaches is not shipped
    lonely = {"service-2": {"shapes": {"Lonely": {"type": "string"}}}}
    assert "Lonely" not in models.apply_patch(stock, lonely)["service-2"]["shapes"]


def test_spec_files_are_well_formed():
    for service, version in models.SERVICES.items():
        patch = models.load_patch(service)
        assert patch["service"] == service and patch["apiVersion"] == version
        assert set(patch) <= {"service", "apiVersion", "source", "preview-operations",
                              "service-2", "paginators-1"}


def test_patch_definitions_do_not_mix_into_stock_ones():
    """A patch entry with a "type" (shape) or "name" (operation) defines a new
    one; if the stock had the same name, the merge would silently keep stock
    keys, so such an entry must use $replace instead."""
    for service in models.SERVICES:
        stock = models.stock_documents(service)["service-2"]
        patch = models.load_patch(service).get("service-2", {})
        for name, entry in patch.get("shapes", {}).items():
            assert not ("type" in entry and name in stock["shapes"]), (service, name)
        for name, entry in patch.get("operations", {}).items():
            assert not ("name" in entry and name in stock["operations"]), (service, name)
