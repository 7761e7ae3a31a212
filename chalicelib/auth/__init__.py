"""Authentication and access control: who is calling, and may they do this?

Seed, "Amazon Personalize Security": every request is signed with Signature
Version 4 by a principal's access key, and identity-based policies decide per
`personalize:<Operation>` and resource ARN. The deployment owns its principals
and keys (as MinIO does for S3); nothing gets in without them.

    sigv4.py      verify a request's signature (botocore computes the expected one)
    policies.py   IAM-shaped policy documents, the managed ones, evaluation
    keys.py       principals and access keys in DynamoDB, secrets KMS-encrypted
    gate.py       the one check the dispatcher calls before any handler

Where it sits: `chalicelib/protocol/http.py` (the dispatcher) calls `gate`;
`scripts/access.py` and `scripts/stack.py` manage principals through `keys`.
May import: stdlib, botocore/boto3, `chalicelib.config`, `chalicelib.protocol.errors`,
`chalicelib.storage.clients`, `chalicelib.storage.tables`; never `service`, `protocol.http`.
"""
