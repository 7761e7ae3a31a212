"""The resource store: every control-plane resource record in one DynamoDB table.

A record is a plain dict whose members are the API's (datasetGroupArn,
status, creationDateTime, ...). The store adds its bookkeeping members
(`arn`, `resourceType`, `parentArn`, `parentKey`, `sortKey`, see
`tables.py`) and gives records back with them; the protocol layer drops
whatever the output shape does not name.

Guarantees (DESIGN.md, "Conventions"):
- `put_new` is a conditional put on the ARN, which embeds the name, so of
  many concurrent creates with one name exactly one succeeds and the others
  get ResourceAlreadyExistsException;
- `update`/`transition` are conditional writes: on the record existing, on its
  status being one of the allowed previous ones, on named members being
  absent or equal (locks), so a retried task never moves a resource backwards;
- `list` pages newest first with an opaque, validated `nextToken`;
- `transact` applies several of these writes all-or-nothing.
"""
import base64
import binascii
import json
from datetime import datetime, timezone

from chalicelib import config
from chalicelib.domain import lifecycle
from chalicelib.protocol.errors import (InvalidNextTokenException,
                                        ResourceAlreadyExistsException,
                                        ResourceInUseException,
                                        ResourceNotFoundException)
from chalicelib.storage import codec
from chalicelib.storage.clients import client

BOOKKEEPING = ("arn", "resourceType", "parentArn", "parentKey", "sortKey")
DEFAULT_PAGE = 100  # seed: maxResults "Maximum value of 100"; also the default


class ConditionFailed(Exception):
    """A conditional write did not apply; `current` is the record as it is now (or None)."""

    def __init__(self, arn, current):
        super().__init__(f"condition failed for {arn}")
        self.arn, self.current = arn, current


class TransactionFailed(Exception):
    """A transaction was cancelled; `reasons[i]` is the code for op i ('None' if fine)."""

    def __init__(self, reasons):
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons

    def failed(self, index):
        return index < len(self.reasons) and self.reasons[index] not in (None, "None")


def now():
    return datetime.now(timezone.utc)


def _sort_key(created, arn):
    return f"{codec.to_epoch(created):017.6f}|{arn}"


class _Condition:
    """Builds a ConditionExpression with its names and values."""

    def __init__(self):
        self.parts, self.names, self.values = [], {}, {}

    def name(self, attr):
        key = f"#n{len(self.names)}"
        self.names[key] = attr
        return key

    def value(self, v):
        key = f":v{len(self.values)}"
        self.values[key] = codec.encode_value(v)
        return key

    def exists(self):
        self.parts.append(f"attribute_exists({self.name('arn')})")

    def status_in(self, statuses):
        statuses = sorted(statuses)
        refs = ", ".join(self.value(s) for s in statuses)
        self.parts.append(f"{self.name('status')} IN ({refs})")

    def absent(self, attr):
        self.parts.append(f"attribute_not_exists({self.name(attr)})")

    def equals(self, attr, v):
        self.parts.append(f"{self.name(attr)} = {self.value(v)}")

    def apply(self, request):
        if self.parts:
            request["ConditionExpression"] = " AND ".join(self.parts)
        if self.names:
            request.setdefault("ExpressionAttributeNames", {}).update(self.names)
        if self.values:
            request.setdefault("ExpressionAttributeValues", {}).update(self.values)
        return request


class ResourceStore:
    """Records of every resource type in the resources table (see module doc)."""

    def __init__(self, table_name=None, dynamodb=None):
        self._table_name = table_name
        self._dynamodb = dynamodb

    @property
    def table(self):
        return self._table_name or config.resources_table()

    @property
    def db(self):
        return self._dynamodb or client("dynamodb")

    # ---- building requests -------------------------------------------------

    def _key(self, arn):
        return {"arn": {"S": arn}}

    def _new_item(self, record, resource_type, parent_arn):
        arn = record["arn"]
        created = record.get("creationDateTime") or now()
        item = dict(record)
        item.update(resourceType=resource_type, sortKey=_sort_key(created, arn))
        if parent_arn:
            item.update(parentArn=parent_arn, parentKey=f"{resource_type}|{parent_arn}")
        return item

    def op_put_new(self, record, resource_type, parent_arn=None):
        """A Put of a new record (`record["arn"]` required) that fails if the ARN exists."""
        item = self._new_item(record, resource_type, parent_arn)
        cond = _Condition()
        cond.absent("arn")
        return {"Put": cond.apply({"TableName": self.table, "Item": codec.encode(item)})}

    def op_update(self, arn, set=None, remove=(), *, expect_status=None, absent=(), equals=None,
                  must_exist=True):
        """An Update setting `set` members and removing `remove` ones, under conditions."""
        cond = _Condition()
        if must_exist:
            cond.exists()
        if expect_status is not None:
            cond.status_in(expect_status)
        for attr in absent:
            cond.absent(attr)
        for attr, v in (equals or {}).items():
            cond.equals(attr, v)
        sets, removes = [], []
        for attr, v in (set or {}).items():
            if v is None:
                removes.append(cond.name(attr))
            else:
                sets.append(f"{cond.name(attr)} = {cond.value(v)}")
        removes += [cond.name(attr) for attr in remove]
        expr = []
        if sets:
            expr.append("SET " + ", ".join(sets))
        if removes:
            expr.append("REMOVE " + ", ".join(removes))
        if not expr:  # nothing to change: still check the conditions
            expr.append(f"SET {cond.name('arn')} = {cond.value(arn)}")
        request = {"TableName": self.table, "Key": self._key(arn), "UpdateExpression": " ".join(expr)}
        return {"Update": cond.apply(request)}

    def op_check(self, arn, *, expect_status=None, absent=(), equals=None):
        """A ConditionCheck: the record exists (and is in one of `expect_status`)."""
        cond = _Condition()
        cond.exists()
        if expect_status is not None:
            cond.status_in(expect_status)
        for attr in absent:
            cond.absent(attr)
        for attr, v in (equals or {}).items():
            cond.equals(attr, v)
        return {"ConditionCheck": cond.apply({"TableName": self.table, "Key": self._key(arn)})}

    def op_delete(self, arn, *, expect_status=None, equals=None):
        cond = _Condition()
        cond.exists()
        if expect_status is not None:
            cond.status_in(expect_status)
        for attr, v in (equals or {}).items():
            cond.equals(attr, v)
        return {"Delete": cond.apply({"TableName": self.table, "Key": self._key(arn)})}

    # ---- single writes -----------------------------------------------------

    def put_new(self, record, resource_type, parent_arn=None, exists_message=None):
        """Store a new record; ResourceAlreadyExistsException if its ARN is taken."""
        request = self.op_put_new(record, resource_type, parent_arn)["Put"]
        try:
            self.db.put_item(**request)
        except self.db.exceptions.ConditionalCheckFailedException:
            raise ResourceAlreadyExistsException(
                exists_message or f"The resource {record['arn']} already exists") from None
        return codec.decode(request["Item"])

    def update(self, arn, set=None, remove=(), *, expect_status=None, absent=(), equals=None):
        """Conditional update; returns the new record or raises ConditionFailed."""
        request = self.op_update(arn, set, remove, expect_status=expect_status, absent=absent,
                                 equals=equals)["Update"]
        request["ReturnValues"] = "ALL_NEW"
        try:
            out = self.db.update_item(**request)
        except self.db.exceptions.ConditionalCheckFailedException:
            raise ConditionFailed(arn, self.get(arn)) from None
        return codec.decode(out["Attributes"])

    def increment(self, arn, counts, *, expect_status=None):
        """Add `counts` (member -> number) to numeric members atomically (DynamoDB ADD, so
        concurrent callers do not lose each other's counts) and stamp `lastUpdatedDateTime`;
        returns the new record or raises ConditionFailed."""
        cond = _Condition()
        cond.exists()
        if expect_status is not None:
            cond.status_in(expect_status)
        adds = ", ".join(f"{cond.name(k)} {cond.value(v)}" for k, v in counts.items())
        stamp = f"{cond.name('lastUpdatedDateTime')} = {cond.value(now())}"
        request = cond.apply({"TableName": self.table, "Key": self._key(arn),
                              "UpdateExpression": f"SET {stamp} ADD {adds}",
                              "ReturnValues": "ALL_NEW"})
        try:
            out = self.db.update_item(**request)
        except self.db.exceptions.ConditionalCheckFailedException:
            raise ConditionFailed(arn, self.get(arn)) from None
        return codec.decode(out["Attributes"])

    def transition(self, arn, status, *, failure_reason=None, remove=(), **fields):
        """Move `arn` to `status` if its lifecycle allows it from the current status.

        Sets `lastUpdatedDateTime` (and `failureReason` when given). A repeated
        move to the status the record already has is a no-op that returns the
        record (a retried task); any other refused move raises
        `lifecycle.TransitionRefused`; a missing record ResourceNotFoundException.
        """
        changes = dict(fields, status=status, lastUpdatedDateTime=now())
        if failure_reason is not None:
            changes["failureReason"] = failure_reason
        try:
            return self.update(arn, changes, remove, expect_status=lifecycle.allowed_previous(status))
        except ConditionFailed as e:
            if e.current is None:
                raise ResourceNotFoundException.for_arn(arn) from None
            if e.current.get("status") == status:
                return e.current
            raise lifecycle.TransitionRefused(arn, e.current.get("status"), status) from None

    def delete(self, arn, *, expect_status=None, equals=None):
        """Conditional delete; raises ConditionFailed (current record or None)."""
        request = self.op_delete(arn, expect_status=expect_status, equals=equals)["Delete"]
        try:
            self.db.delete_item(**request)
        except self.db.exceptions.ConditionalCheckFailedException:
            raise ConditionFailed(arn, self.get(arn)) from None

    def transact(self, ops):
        """Apply Put/Update/ConditionCheck/Delete ops (from the `op_*` builders) atomically."""
        try:
            self.db.transact_write_items(TransactItems=list(ops))
        except self.db.exceptions.TransactionCanceledException as e:
            reasons = [r.get("Code") for r in e.response.get("CancellationReasons", [])]
            raise TransactionFailed(reasons) from None

    def begin_delete(self, arn, resource_type, label=None):
        """First half of a guarded delete: move the record to DELETE PENDING.

        Only from a deletable status (ACTIVE, CREATE FAILED, DELETE FAILED);
        a resource still being created gives ResourceInUseException, a missing
        one ResourceNotFoundException. Returns (record, previous status). Children
        are created under a condition that their parent is ACTIVE, so once this
        returns no new child can appear; look for existing children, then call
        `delete` (expect DELETE PENDING) or `revert_delete`.
        """
        label = label or resource_type.replace("-", " ")
        record = self.require(arn, resource_type, label)
        status = record.get("status")
        if status not in lifecycle.DELETABLE:
            raise ResourceInUseException(f"The {label} {arn} is {status}; it cannot be deleted now")
        try:
            record = self.update(arn, {"status": lifecycle.DELETE_PENDING, "lastUpdatedDateTime": now()},
                                 expect_status=[status])
        except ConditionFailed as e:
            if e.current is None:
                raise ResourceNotFoundException.for_arn(arn) from None
            raise ResourceInUseException(
                f"The {label} {arn} is {e.current.get('status')}; it cannot be deleted now") from None
        return record, status

    def revert_delete(self, arn, previous):
        """Second half of a refused delete: give the record its previous status back."""
        try:
            self.update(arn, {"status": previous}, expect_status=[lifecycle.DELETE_PENDING])
        except ConditionFailed:
            pass  # already settled by someone else

    # ---- reads -------------------------------------------------------------

    def get(self, arn, resource_type=None):
        """The record for `arn` (of `resource_type`, when given), or None."""
        if not arn:
            return None
        out = self.db.get_item(TableName=self.table, Key=self._key(arn), ConsistentRead=True)
        item = out.get("Item")
        if not item:
            return None
        record = codec.decode(item)
        if resource_type and record.get("resourceType") != resource_type:
            return None
        return record

    def require(self, arn, resource_type, label=None):
        """The record, or ResourceNotFoundException in the service's words (`label`
        says at the call site what is looked for; the answer names only the ARN)."""
        record = self.get(arn, resource_type)
        if record is None:
            raise ResourceNotFoundException.for_arn(arn)
        return record

    def _query_args(self, resource_type, parent_arn):
        if parent_arn:
            return "byParent", "parentKey", f"{resource_type}|{parent_arn}"
        return "byType", "resourceType", resource_type

    def list_page(self, resource_type, params, parent_arn=None):
        """`list` with the page asked for by a List operation's `maxResults`/`nextToken`."""
        return self.list(resource_type, parent_arn, max_results=params.get("maxResults"),
                         next_token=params.get("nextToken"))

    def list(self, resource_type, parent_arn=None, *, max_results=None, next_token=None):
        """One page of records, newest first: (records, next_token or None).

        `parent_arn` narrows to the children of that resource. Raises
        InvalidNextTokenException for a token this listing did not hand out.
        """
        limit = max_results or DEFAULT_PAGE
        index, hash_attr, hash_value = self._query_args(resource_type, parent_arn)
        request = {
            "TableName": self.table, "IndexName": index,
            "KeyConditionExpression": "#h = :h",
            "ExpressionAttributeNames": {"#h": hash_attr},
            "ExpressionAttributeValues": {":h": {"S": hash_value}},
            "ScanIndexForward": False,
        }
        if next_token:
            request["ExclusiveStartKey"] = _decode_token(next_token, index, hash_attr, hash_value)
        records = []
        # One extra record tells whether another page exists, so the last page has no token.
        while len(records) <= limit:
            request["Limit"] = limit + 1 - len(records)
            out = self.db.query(**request)
            records += [codec.decode(i) for i in out.get("Items", [])]
            if "LastEvaluatedKey" not in out:
                break
            request["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        token = None
        if len(records) > limit:
            records = records[:limit]
            last = records[-1]
            token = _encode_token(index, hash_value, {
                "arn": last["arn"], "sortKey": last["sortKey"], hash_attr: hash_value})
        return records, token

    def iterate(self, resource_type, parent_arn=None):
        """Every record of a type (of one parent), newest first."""
        token = None
        while True:
            records, token = self.list(resource_type, parent_arn, next_token=token)
            yield from records
            if not token:
                return

    def children(self, parent_arn, resource_types):
        """ARNs of the records of `resource_types` whose parent is `parent_arn`."""
        found = []
        for resource_type in resource_types:
            found += [r["arn"] for r in self.iterate(resource_type, parent_arn)]
        return found


def _encode_token(index, hash_value, key):
    body = json.dumps({"i": index, "h": hash_value, "k": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _decode_token(token, index, hash_attr, hash_value):
    """The ExclusiveStartKey in `token`, checked against the listing it is used for."""
    bad = InvalidNextTokenException("The nextToken is not valid for this request")
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(body, dict) or body.get("i") != index or body.get("h") != hash_value:
        raise bad
    key = body.get("k")
    if not isinstance(key, dict) or set(key) != {"arn", "sortKey", hash_attr} \
            or not all(isinstance(v, str) and v for v in key.values()) or key[hash_attr] != hash_value:
        raise bad
    return {k: {"S": v} for k, v in key.items()}


_default = None


def store():
    """The process-wide store on the configured table."""
    global _default
    if _default is None:
        _default = ResourceStore()
    return _default
