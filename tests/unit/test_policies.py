"""Policy evaluation (chalicelib/auth/policies.py) on the seed's example policies
("Using Identity-Based Policies (IAM Policies) for Amazon Personalize")."""
import pytest

from chalicelib.auth import policies
from chalicelib.auth.errors import AccessDeniedException

ACCT = "arn:aws:personalize:us-east-1:000000000000"
USER = "arn:aws:iam::000000000000:user/u"

# Seed, "Example 1: Allow a User Read-Only Access to Resources" (as printed)
READ_ONLY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
    "personalize:DescribeAlgorithm", "personalize:DescribeCampaign", "personalize:DescribeDataset",
    "personalize:DescribeDatasetGroup", "personalize:DescribeDatasetImportJob",
    "personalize:DescribeDatasetImportJobRun", "personalize:DescribeEventTracker",
    "personalize:DescribeFeatureExportJob", "personalize:DescribeFeatureTransformation",
    "personalize:DescribeRecipe", "personalize:DescribeSchema", "personalize:DescribeSolution",
    "personalize:DescribeSolutionVersion", "personalize:GetMetrics", "personalize:ListCampaigns",
    "personalize:ListDatasetGroups", "personalize:ListDatasetImportJobRuns",
    "personalize:ListDatasetImportJobs", "personalize:ListDatasets", "personalize:ListEventTrackers",
    "personalize:ListFeatureExportJobs", "personalize:ListRecipes", "personalize:ListSchemas",
    "personalize:ListSolutions", "personalize:ListSolutionVersions"]}]}
# Seed, "Example 2: Allow a User Full Access to Resources"
FULL = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["personalize:*"], "Resource": "*"}]}
# Seed, "Identity-Based Policies (IAM Policies)": create groups, datasets in any group/schema
CREATE_DATASETS = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["personalize:CreateDatasetGroup"], "Resource": "*"},
    {"Effect": "Allow", "Action": ["personalize:CreateDataset"], "Resource": [
        f"{ACCT}:dataset-group/*", f"{ACCT}:schema/*"]}]}


def allowed(document, operation, params=None, created=None):
    statements = policies.normalize(document)
    resources = policies.resources_for(operation, params or {}, created)
    try:
        policies.authorize(USER, statements, policies.action_for(operation), resources)
        return True
    except AccessDeniedException:
        return False


def test_read_only_example_describes_and_lists_but_creates_nothing():
    assert allowed(READ_ONLY, "DescribeDatasetGroup", {"datasetGroupArn": f"{ACCT}:dataset-group/g"})
    assert allowed(READ_ONLY, "ListDatasetGroups")
    assert allowed(READ_ONLY, "GetMetrics", {"solutionVersionArn": f"{ACCT}:solution/s/1"})
    assert not allowed(READ_ONLY, "CreateDatasetGroup", {"name": "g"}, f"{ACCT}:dataset-group/g")
    assert not allowed(READ_ONLY, "DeleteCampaign", {"campaignArn": f"{ACCT}:campaign/c"})
    assert not allowed(READ_ONLY, "GetRecommendations", {"campaignArn": f"{ACCT}:campaign/c"})


def test_full_access_example_allows_every_operation_of_every_service():
    for op in ("CreateDatasetGroup", "DeleteSchema", "GetRecommendations", "PutEvents",
               "GetPersonalizedRanking"):
        assert allowed(FULL, op, {"campaignArn": f"{ACCT}:campaign/c"})


def test_create_dataset_example_checks_the_group_and_the_schema():
    params = {"datasetGroupArn": f"{ACCT}:dataset-group/g", "schemaArn": f"{ACCT}:schema/s",
              "name": "d"}
    assert allowed(CREATE_DATASETS, "CreateDataset", params)
    assert allowed(CREATE_DATASETS, "CreateDatasetGroup", {"name": "g"}, f"{ACCT}:dataset-group/g")
    other_region = {**params, "schemaArn": "arn:aws:personalize:eu-west-1:000000000000:schema/s"}
    assert not allowed(CREATE_DATASETS, "CreateDataset", other_region)
    assert not allowed(CREATE_DATASETS, "DeleteDataset", {"datasetArn": f"{ACCT}:dataset/g/ITEMS"})


def test_explicit_deny_wins_and_nothing_is_allowed_by_default():
    deny_one = {"Statement": FULL["Statement"] + [
        {"Effect": "Deny", "Action": "personalize:Delete*", "Resource": f"{ACCT}:dataset-group/prod"}]}
    assert allowed(deny_one, "DeleteDatasetGroup", {"datasetGroupArn": f"{ACCT}:dataset-group/dev"})
    assert not allowed(deny_one, "DeleteDatasetGroup",
                       {"datasetGroupArn": f"{ACCT}:dataset-group/prod"})
    assert not allowed({"Statement": []}, "ListRecipes")


def test_wildcards_actions_ignore_case_arns_do_not():
    doc = {"Statement": [{"Effect": "Allow", "Action": "Personalize:describe?ataset*",
                          "Resource": f"{ACCT}:dataset-group/g?"}]}
    assert allowed(doc, "DescribeDatasetGroup", {"datasetGroupArn": f"{ACCT}:dataset-group/g1"})
    assert not allowed(doc, "DescribeDatasetGroup", {"datasetGroupArn": f"{ACCT}:dataset-group/G1"})
    assert not allowed(doc, "DescribeDatasetGroup", {"datasetGroupArn": f"{ACCT}:dataset-group/g12"})
    assert not allowed(doc, "DescribeSchema", {"schemaArn": f"{ACCT}:schema/g1"})


def test_not_action_and_not_resource():
    doc = {"Statement": [{"Effect": "Allow", "NotAction": "personalize:Delete*",
                          "NotResource": f"{ACCT}:campaign/secret"}]}
    assert allowed(doc, "DescribeCampaign", {"campaignArn": f"{ACCT}:campaign/open"})
    assert not allowed(doc, "DescribeCampaign", {"campaignArn": f"{ACCT}:campaign/secret"})
    assert not allowed(doc, "DeleteCampaign", {"campaignArn": f"{ACCT}:campaign/open"})


def test_every_arn_a_request_names_must_be_allowed():
    doc = {"Statement": [{"Effect": "Allow", "Action": "personalize:*",
                          "Resource": f"{ACCT}:solution/mine*"}]}
    assert allowed(doc, "CreateCampaign", {"solutionVersionArn": f"{ACCT}:solution/mine/1"})
    assert not allowed(doc, "CreateBatchInferenceJob", {
        "solutionVersionArn": f"{ACCT}:solution/mine/1", "filterArn": f"{ACCT}:filter/f"})


def test_resources_are_the_requests_personalize_arns_else_the_created_one_else_star():
    params = {"datasetGroupArn": f"{ACCT}:dataset-group/g",
              "roleArn": "arn:aws:iam::000000000000:role/r", "campaignArns": [f"{ACCT}:campaign/c"]}
    assert policies.resources_for("X", params) == [f"{ACCT}:dataset-group/g", f"{ACCT}:campaign/c"]
    assert policies.resources_for("CreateSchema", {"name": "s"}, f"{ACCT}:schema/s") == \
        [f"{ACCT}:schema/s"]
    assert policies.resources_for("ListRecipes", {}) == ["*"]


def test_denial_names_the_action_and_the_resource():
    with pytest.raises(AccessDeniedException) as e:
        policies.authorize(USER, policies.normalize(READ_ONLY), "personalize:DeleteCampaign",
                           [f"{ACCT}:campaign/c"])
    assert e.value.status == 403
    assert e.value.message == (f"User: {USER} is not authorized to perform: "
                               f"personalize:DeleteCampaign on resource: {ACCT}:campaign/c "
                               "because no identity-based policy allows the "
                               "personalize:DeleteCampaign action")


@pytest.mark.parametrize("bad", [
    "not json", {"Version": "2012-10-17"}, {"Statement": [{"Effect": "Maybe", "Action": "*",
                                                           "Resource": "*"}]},
    {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                    "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]},
    {"Statement": [{"Effect": "Allow", "Resource": "*"}]},
    {"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]},
])
def test_documents_it_cannot_honour_are_refused(bad):
    with pytest.raises(policies.PolicyError):
        policies.normalize(bad)


def test_managed_policies_by_name():
    full = policies.statements_for(["AmazonPersonalizeFullAccess"], {})
    assert policies.decide(full, "personalize:DeleteDatasetGroup", f"{ACCT}:dataset-group/g") == "Allow"
    read = policies.statements_for(["AmazonPersonalizeReadOnlyAccess"], {})
    assert policies.decide(read, "personalize:DescribeRecommender", "*") == "Allow"
    assert policies.decide(read, "personalize:CreateSolution", "*") is None
    with pytest.raises(policies.PolicyError):
        policies.statements_for(["NoSuchPolicy"], {})
