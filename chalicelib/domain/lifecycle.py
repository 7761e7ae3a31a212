"""Resource lifecycles: the statuses and the transitions allowed between them.

Seed, API Reference (CreateDatasetGroup, CreateDatasetImportJob, ...): a
resource goes `CREATE PENDING > CREATE IN_PROGRESS > ACTIVE -or- CREATE FAILED`
and, when deleted, `DELETE PENDING > DELETE IN_PROGRESS > DELETE FAILED` (a
deleted resource disappears). The seed writes the statuses with spaces in most
places and with underscores in a few; we use the spaced form everywhere.

Every status write is conditional on the current status being one from which
the target may be reached (`allowed_previous`), so a retried or duplicated
workflow task can never move a resource backwards.
"""

CREATE_PENDING = "CREATE PENDING"
CREATE_IN_PROGRESS = "CREATE IN_PROGRESS"
ACTIVE = "ACTIVE"
CREATE_FAILED = "CREATE FAILED"
DELETE_PENDING = "DELETE PENDING"
DELETE_IN_PROGRESS = "DELETE IN_PROGRESS"
DELETE_FAILED = "DELETE FAILED"
# Today's StopSolutionVersionCreation: "CREATE_PENDING > CREATE_STOPPED or CREATE_IN_PROGRESS >
# CREATE_STOPPING > CREATE_STOPPED" (DescribeSolutionVersion writes them with spaces).
CREATE_STOPPING = "CREATE STOPPING"
CREATE_STOPPED = "CREATE STOPPED"

# Today's CreateDataDeletionJob: "PENDING > IN_PROGRESS > COMPLETED -or- FAILED".
PENDING = "PENDING"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"

# Today's DescribeRecommender: "STOP PENDING > STOP IN_PROGRESS > INACTIVE > START PENDING >
# START IN_PROGRESS > ACTIVE".
STOP_PENDING, STOP_IN_PROGRESS, INACTIVE = "STOP PENDING", "STOP IN_PROGRESS", "INACTIVE"
START_PENDING, START_IN_PROGRESS = "START PENDING", "START IN_PROGRESS"

STATUSES = (STOP_PENDING, STOP_IN_PROGRESS, INACTIVE, START_PENDING, START_IN_PROGRESS,
            CREATE_PENDING, CREATE_IN_PROGRESS, ACTIVE, CREATE_FAILED,
            DELETE_PENDING, DELETE_IN_PROGRESS, DELETE_FAILED, CREATE_STOPPING, CREATE_STOPPED,
            PENDING, IN_PROGRESS, COMPLETED, FAILED)

# status -> statuses it may move to. ACTIVE and CREATE FAILED are the ends of
# creation; DELETE PENDING may fall back to where it came from when a delete is
# refused (children appeared), which `revert_delete` does explicitly.
TRANSITIONS = {
    CREATE_PENDING: frozenset({CREATE_IN_PROGRESS, CREATE_FAILED, CREATE_STOPPED}),
    CREATE_IN_PROGRESS: frozenset({ACTIVE, CREATE_FAILED, CREATE_STOPPING}),
    CREATE_STOPPING: frozenset({CREATE_STOPPED}),
    ACTIVE: frozenset({DELETE_PENDING, STOP_PENDING}),
    STOP_PENDING: frozenset({STOP_IN_PROGRESS}),
    STOP_IN_PROGRESS: frozenset({INACTIVE}),
    INACTIVE: frozenset({START_PENDING, DELETE_PENDING}),
    START_PENDING: frozenset({START_IN_PROGRESS}),
    START_IN_PROGRESS: frozenset({ACTIVE}),
    CREATE_FAILED: frozenset({DELETE_PENDING}),
    CREATE_STOPPED: frozenset({DELETE_PENDING}),
    DELETE_PENDING: frozenset({DELETE_IN_PROGRESS, DELETE_FAILED}),
    DELETE_IN_PROGRESS: frozenset({DELETE_FAILED}),
    DELETE_FAILED: frozenset({DELETE_PENDING}),
    PENDING: frozenset({IN_PROGRESS, FAILED}),
    IN_PROGRESS: frozenset({COMPLETED, FAILED}),
    COMPLETED: frozenset(),
    FAILED: frozenset(),
}

TERMINAL = frozenset({ACTIVE, CREATE_FAILED, CREATE_STOPPED})
IN_FLIGHT = frozenset({CREATE_PENDING, CREATE_IN_PROGRESS})
# Not finished yet: still creating, or stopping (a solution version between StopSolutionVersionCreation
# and the trainer noticing it).
UNFINISHED = IN_FLIGHT | {CREATE_STOPPING}
# Statuses in which a resource may be deleted (not while being created).
DELETABLE = frozenset({ACTIVE, CREATE_FAILED, DELETE_FAILED, CREATE_STOPPED, INACTIVE})


class TransitionRefused(Exception):
    """A status write that would move a resource backwards or sideways."""

    def __init__(self, arn, current, target):
        super().__init__(f"{arn} is {current}; it cannot become {target}")
        self.arn, self.current, self.target = arn, current, target


def allowed_previous(target):
    """The statuses from which `target` may be reached."""
    if target not in STATUSES:
        raise ValueError(f"unknown status {target!r}")
    return frozenset(s for s, nxt in TRANSITIONS.items() if target in nxt)


def can_move(current, target):
    return target in TRANSITIONS.get(current, ())
