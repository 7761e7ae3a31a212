"""ARNs in the forms the seed shows.

Seed, "Amazon Personalize Resources and Operations" and the Getting Started
examples:
- dataset group     arn:aws:personalize:<region>:<acct>:dataset-group/<name>
- schema            arn:aws:personalize:<region>:<acct>:schema/<name>
- dataset           arn:aws:personalize:<region>:<acct>:dataset/<group name>/<TYPE>
                    (TYPE upper case: INTERACTIONS, USERS, ITEMS, EVENT_INTERACTIONS)
- import job        arn:aws:personalize:<region>:<acct>:dataset-import-job/<name>
- import job run    arn:aws:personalize:<region>:<acct>:dataset-import-job/<name>/<run id>
- event tracker     arn:aws:personalize:<region>:<acct>:event-tracker/<name>
- feature export    arn:aws:personalize:<region>:<acct>:feature-export-job/<name>
- solution          arn:aws:personalize:<region>:<acct>:solution/<name>
- solution version  arn:aws:personalize:<region>:<acct>:solution/<name>/<version id>
- campaign          arn:aws:personalize:<region>:<acct>:campaign/<name>
- batch inference   arn:aws:personalize:<region>:<acct>:batch-inference-job/<name>
- batch segment     arn:aws:personalize:<region>:<acct>:batch-segment-job/<name>
- filter            arn:aws:personalize:<region>:<acct>:filter/<name> (today's CreateFilter)
- algorithm, recipe, feature transformation: same form with their type; the
  predefined ones have no region or account (arn:aws:personalize:::recipe/aws-sims).
"""
import re
import secrets
from dataclasses import dataclass

from chalicelib import config

DATASET_GROUP = "dataset-group"
SCHEMA = "schema"
DATASET = "dataset"
DATASET_IMPORT_JOB = "dataset-import-job"
DATASET_IMPORT_JOB_RUN = "dataset-import-job-run"  # store type; ARN shares the job's prefix
EVENT_TRACKER = "event-tracker"
FEATURE_EXPORT_JOB = "feature-export-job"
FEATURE_TRANSFORMATION = "feature-transformation"
SOLUTION = "solution"
SOLUTION_VERSION = "solution-version"
CAMPAIGN = "campaign"
BATCH_INFERENCE_JOB = "batch-inference-job"
BATCH_SEGMENT_JOB = "batch-segment-job"
FILTER = "filter"
RECOMMENDER = "recommender"                   # today's API: arn:...:recommender/<name>
DATASET_EXPORT_JOB = "dataset-export-job"     # today's API: arn:...:dataset-export-job/<name>
DATA_DELETION_JOB = "data-deletion-job"       # today's API: arn:...:data-deletion-job/<name>
ALGORITHM = "algorithm"
RECIPE = "recipe"

_ARN = re.compile(r"^arn:(?P<partition>[a-z\d-]+):personalize:(?P<region>[^:]*):(?P<account>[^:]*):"
                  r"(?P<type>[a-z-]+)/(?P<path>.+)$")


@dataclass(frozen=True)
class Arn:
    partition: str
    region: str
    account: str
    type: str
    parts: tuple  # the path after "<type>/", split on "/"

    def __str__(self):
        return (f"arn:{self.partition}:personalize:{self.region}:{self.account}:"
                f"{self.type}/{'/'.join(self.parts)}")


def parse(arn):
    """Split a Personalize ARN, or return None when `arn` is not one."""
    m = _ARN.match(arn or "")
    if not m:
        return None
    return Arn(m["partition"], m["region"], m["account"], m["type"], tuple(m["path"].split("/")))


def build(resource_type, *parts, region=None, account=None):
    region = config.region() if region is None else region
    account = config.account_id() if account is None else account
    return f"arn:aws:personalize:{region}:{account}:{resource_type}/{'/'.join(parts)}"


def new_id():
    """A short random id for runs and versions (the seed shows 8 hex digits)."""
    return secrets.token_hex(4)


def dataset_group(name):
    return build(DATASET_GROUP, name)


def schema(name):
    return build(SCHEMA, name)


def dataset(group_arn, dataset_type):
    """`dataset/<group name>/<TYPE>`: one dataset per type per group, by construction."""
    return build(DATASET, name_of(group_arn), dataset_type.upper())


def dataset_import_job(name):
    return build(DATASET_IMPORT_JOB, name)


def dataset_import_job_run(job_arn, run_id=None):
    return f"{job_arn}/{run_id or new_id()}"


def event_tracker(name):
    return build(EVENT_TRACKER, name)


def feature_export_job(name):
    return build(FEATURE_EXPORT_JOB, name)


def dataset_export_job(name):
    return build(DATASET_EXPORT_JOB, name)


def data_deletion_job(name):
    return build(DATA_DELETION_JOB, name)


def batch_job(resource_type, name):
    """A batch inference or batch segment job (`BATCH_INFERENCE_JOB` / `BATCH_SEGMENT_JOB`)."""
    return build(resource_type, name)


def filter_arn(name):
    """A recommendation filter (`filter` would shadow the builtin)."""
    return build(FILTER, name)


def recommender(name):
    return build(RECOMMENDER, name)


def name_of(arn):
    """The name a resource was created with (first path part), or None."""
    parsed = parse(arn)
    return parsed.parts[0] if parsed else None


def type_of(arn):
    parsed = parse(arn)
    return parsed.type if parsed else None


def is_local(arn):
    """True when `arn` names a resource of this deployment's region and account."""
    parsed = parse(arn)
    return bool(parsed) and parsed.region == config.region() and parsed.account == config.account_id()
