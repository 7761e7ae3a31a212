"""An in-process Amazon States Language interpreter (JSONPath), for the fast tests.

Why it exists (README, "Tests"): the fast tests run the very ASL files that are
deployed, with their Task states calling the application's Lambda handlers in the
test process, where moto serves their DynamoDB and S3 calls and waits and retry
intervals need not really sleep. moto's own Step Functions engine invokes Lambda
functions only in Docker and sleeps every retry interval; ministack's engine runs
inside the emulator process. The end-to-end tests run the same files on
ministack's Step Functions for real.
"""
