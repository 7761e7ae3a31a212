"""Deployment settings, read from the environment at call time.

Every boto3 client takes its endpoint from the standard `AWS_ENDPOINT_URL`
(and per-service `AWS_ENDPOINT_URL_<SERVICE>`) variables, never from code; the
names below are the project's own (set by template.yaml, by `make up`, or by
the test fixtures).
"""
import os


def _env(name, default):
    return os.environ.get(name) or default


def region():
    return _env("AWS_REGION", _env("AWS_DEFAULT_REGION", "us-east-1"))


def account_id():
    return _env("PERSONALIZE_ACCOUNT_ID", "000000000000")


def resources_table():
    """DynamoDB table holding every control-plane resource record."""
    return _env("RESOURCES_TABLE", "personalize-resources")


def events_table():
    """DynamoDB table holding events recorded with PutEvents."""
    return _env("EVENTS_TABLE", "personalize-events")


def data_bucket():
    """The stack's user-facing S3 bucket: uploads to import, exports (template.yaml DataBucket)."""
    return _env("DATA_BUCKET", "personalize-data")


def internal_bucket():
    """The stack's own S3 bucket for what only the service writes - data versions, training
    channels and models, batch job parts (template.yaml InternalBucket) - so that no upload
    overwrites them (issue 16). Garbage-collected by `workflows.collect`."""
    return _env("INTERNAL_BUCKET", "personalize-internal")


def reconcile_grace_seconds():
    """How long a resource in flight with no execution ARN (not started yet, or started by a
    schedule) may stay unchanged before the reconciler counts its workflow as dead: env
    `RECONCILE_GRACE_SECONDS`, default 900."""
    try:
        return max(0.0, float(_env("RECONCILE_GRACE_SECONDS", "900")))
    except ValueError:
        return 900.0


def collect_grace_seconds():
    """How long an internal object that no record references is kept before the garbage
    collector deletes it: env `COLLECT_GRACE_SECONDS`, default 3600 (a reader that picked it
    up just before it was superseded has that long to finish)."""
    try:
        return max(0.0, float(_env("COLLECT_GRACE_SECONDS", "3600")))
    except ValueError:
        return 3600.0


def _seconds(name, default):
    try:
        return max(0.0, float(_env(name, str(default))))
    except ValueError:
        return float(default)


def trainer_time_budget_seconds():
    """How long one trainer Lambda invocation fits before it checkpoints and answers "continue"
    (`chalicelib.training.stepwise`): env `TRAINER_TIME_BUDGET_SECONDS`, default 780 (Lambda's
    900 s less room for the last epoch's overrun, the checkpoint upload and the model upload)."""
    return _seconds("TRAINER_TIME_BUDGET_SECONDS", 780)


def trainer_time_margin_seconds():
    """Kept free of the invocation's remaining time (context.get_remaining_time_in_millis):
    env `TRAINER_TIME_MARGIN_SECONDS`, default 60."""
    return _seconds("TRAINER_TIME_MARGIN_SECONDS", 60)


def trainer_max_concurrency():
    """How many HPO trials / AutoML candidates the training workflow's Map state runs at once
    (its MaxConcurrencyPath): env `TRAINER_MAX_CONCURRENCY`, default 2; 0 means no limit."""
    try:
        return max(0, int(_env("TRAINER_MAX_CONCURRENCY", "2")))
    except ValueError:
        return 2


def import_range_bytes():
    """Source files larger than this are imported in byte ranges of about this size, read in
    parallel by the import workflow's Map state: env `IMPORT_RANGE_BYTES`, default 64 MiB."""
    try:
        return max(1, int(_env("IMPORT_RANGE_BYTES", str(64 << 20))))
    except ValueError:
        return 64 << 20


def import_max_concurrency():
    """How many byte ranges the import workflow reads at once (its Map's MaxConcurrencyPath):
    env `IMPORT_MAX_CONCURRENCY`, default 4; 0 means no limit."""
    try:
        return max(0, int(_env("IMPORT_MAX_CONCURRENCY", "4")))
    except ValueError:
        return 4


def state_machine_arn(workflow):
    """ARN of the state machine for `workflow` ("import", "training", ...): env
    `<WORKFLOW>_STATE_MACHINE_ARN` (dashes as underscores), set by template.yaml."""
    return os.environ.get(f"{workflow.upper().replace('-', '_')}_STATE_MACHINE_ARN")


def training_backend():
    """`lambda` (emulators: trainer Lambda in process) or `sagemaker` (AWS)."""
    return _env("TRAINING_BACKEND", "lambda")


def training_image_uri():
    """The trainer image a SageMaker training job runs (built from training_container/);
    template.yaml sets it from its TrainingImage parameter."""
    return _env("TRAINING_IMAGE", "personalize-trainer:latest")


def batch_chunk_lines():
    """Input lines per chunk of a batch job (the unit one Map iteration scores): env
    `BATCH_CHUNK_LINES`, default 5000; a job's state machine input may set `chunkLines`."""
    try:
        value = int(_env("BATCH_CHUNK_LINES", "5000"))
    except ValueError:
        value = 5000
    return max(1, value)


def access_table():
    """DynamoDB table holding principals and access keys (chalicelib/auth/keys.py)."""
    return _env("ACCESS_TABLE", "personalize-access")


def access_kms_key():
    """KMS key that encrypts access key secrets at rest (template.yaml AccessKmsKey)."""
    return os.environ.get("ACCESS_KMS_KEY_ID") or "alias/personalize-access"


def access_cache_seconds():
    """How long a process keeps a verified key's secret and policies: env
    `ACCESS_CACHE_SECONDS`, default 60 (a deleted key stops working within that time)."""
    try:
        return float(_env("ACCESS_CACHE_SECONDS", "60"))
    except ValueError:
        return 60.0
