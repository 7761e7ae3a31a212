"""The batch job workflow's steps (`infrastructure/statemachines/batch-inference.asl.json`), for
batch inference and batch segment jobs alike (`kind` in the execution input).

Today's guide, "Preparing input data for batch recommendations" and "Batch segment job input
and output": the input is JSON Lines in S3, one object per line, by recipe type:

    USER_PERSONALIZATION, POPULAR_ITEMS     {"userId": "105"}
    RELATED_ITEMS                           {"itemId": "105"}
    PERSONALIZED_RANKING (and the seed's    {"userId": "891", "itemList": ["27", "886", ...]}
    SEARCH_PERSONALIZATION)
    aws-item-affinity                       {"itemId": "105"}
    aws-item-attribute-affinity             {"itemAttributes": "ITEMS.GENRES = \"Comedy\""}

and the output is one line per input line, in input order:
`{"input": {...}, "output": {"recommendedItems": [...], "scores": [...]}, "error": null}`
(segments: `"output": {"usersList": [...]}`); a line that cannot be answered gets
`"output": null` and its `"error"`, and the job goes on. The job's input path is one object or
a folder (every object under it); each input object `<name>` gives `<name>.out` under the
output path. Answers equal the single-request ones (`ServedModel.recommend_many` /
`related_many` / `rank`): the same histories (imported interactions plus recorded events, read
once per chunk), the same popular fill; scores are null where the answer was filled with
popular items the model did not score.

Execution input `{"jobArn", "kind", "chunkLines"?}`. Steps:

1. `batch-inference.begin`  job -> CREATE IN_PROGRESS; what the job reads (skipped when it is
                            gone or already ended).
2. `batch-inference.split`  find the input objects, count their lines (a streaming pass over
                            each, no parsing) and cut them into chunks of `chunkLines`
                            (`config.batch_chunk_lines()`, env BATCH_CHUNK_LINES, when the
                            input does not say), at most `MAX_CHUNKS`: compact descriptors
                            `{f: file, c: chunk, s: first byte, e: end byte, n: lines}`.
3. `batch-inference.score`  one Map iteration per chunk (MaxConcurrency > 1): load the model
                            once (the container's cache), read the chunk's byte range, answer
                            every line, write the chunk's part under the work prefix in the
                            data bucket, add its counts to the job.
4. `batch-inference.merge`  per input object, its parts in chunk order -> `<name>.out`; parts
                            deleted.
5. `batch-inference.activate` job -> ACTIVE with the final counts and the output objects.
6. `batch-inference.fail`   (a step's failureReason, or Catch) job -> CREATE FAILED with the
                            reason and how far it got; parts and outputs of this run removed.

Every step may be repeated (Retry): parts and outputs are overwritten, counts are set at the
end from the parts' own counts.
"""
from __future__ import annotations

import json
import logging
import math
import posixpath
from typing import Dict, List, Optional, Tuple

import numpy as np

from chalicelib import config
from chalicelib.domain import lifecycle
from chalicelib.domain import recipes as catalog
from chalicelib.protocol.errors import ResourceNotFoundException
from chalicelib.storage import objects
from chalicelib.workflows import failures
from chalicelib.workflows.tasks import task

log = logging.getLogger(__name__)

MAX_CHUNKS = 1000          # keeps the descriptors (about 60 bytes each) far below 256 KB of state
SCORE_BATCH = 256          # lines scored by one model call ([batch, items] scores in memory)
READ_BLOCK = 8 << 20
OUTPUT_SUFFIX = ".out"


def _jobs():
    from chalicelib.service import batch_jobs
    return batch_jobs


# --- locations ---------------------------------------------------------------------------------
def output_location(destination: str, source: str) -> str:
    """`<destination>/<input object name>.out` (today's guide: the output file is named after
    the input file)."""
    bucket, prefix = objects.split(destination)
    name = posixpath.basename(objects.split(source)[1])
    key = f"{prefix.rstrip('/')}/{name}{OUTPUT_SUFFIX}" if prefix.strip("/") else f"{name}{OUTPUT_SUFFIX}"
    return objects.uri(bucket, key)


WORK_ROOT = "batch-jobs/"

def work_prefix(job_arn: str) -> str:
    """Where one job's parts go while it runs: the internal bucket, under the job's type and name."""
    kind, name = job_arn.rsplit(":", 1)[-1].split("/", 1)
    return objects.internal_uri(f"{WORK_ROOT}{kind}/{name}/")


def part_location(job_arn: str, file_index: int, chunk: int) -> str:
    return f"{work_prefix(job_arn)}part-{file_index:05d}-{chunk:06d}.jsonl"


def input_objects(path: str) -> List[str]:
    """The objects a job reads: `path` itself, else every object under it (a folder)."""
    if objects.head(path) is not None:
        return [path]
    prefix = path if path.endswith("/") else path + "/"
    return [o["location"] for o in objects.list_prefix(prefix) if not o["key"].endswith("/")]


def line_spans(location: str) -> Tuple[np.ndarray, np.ndarray]:
    """(start, end) byte offsets of the object's non-empty lines, streaming over it."""
    starts, ends, offset = [], [], 0
    stream = objects.open_stream(location)
    line_start = 0
    while True:
        block = stream.read(READ_BLOCK)
        if not block:
            break
        newlines = np.flatnonzero(np.frombuffer(block, np.uint8) == 10) + offset
        if newlines.size:
            s = np.concatenate([[line_start], newlines[:-1] + 1])
            starts.append(s)
            ends.append(newlines)
            line_start = int(newlines[-1]) + 1
        offset += len(block)
    if offset > line_start:   # a last line without its newline
        starts.append(np.array([line_start]))
        ends.append(np.array([offset]))
    if not starts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    s, e = np.concatenate(starts).astype(np.int64), np.concatenate(ends).astype(np.int64)
    keep = e > s                      # "\n\n": an empty line is not an input line
    return s[keep], e[keep]


def chunk_size(total: int, asked: Optional[int]) -> int:
    size = max(1, int(asked or config.batch_chunk_lines()))
    return max(size, math.ceil(total / MAX_CHUNKS))


# --- answering lines ---------------------------------------------------------------------------
class LineError(ValueError):
    """A line that cannot be answered: it gets this message as its `error`."""


def _member(obj, name, kind=str):
    value = obj.get(name)
    if not isinstance(value, kind) or (kind is str and not value):
        shown = "a non-empty string" if kind is str else "a list of item IDs"
        raise LineError(f"{name}: required, {shown}")
    return value


def parse_lines(raw: bytes) -> List[Tuple[object, Optional[dict], Optional[str]]]:
    """Each line -> (what the output's `input` shows, the object or None, error or None)."""
    out = []
    for line in raw.split(b"\n"):
        if not line.strip(b"\r"):
            continue
        text = line.decode("utf-8", errors="replace").strip()
        try:
            obj = json.loads(text)
        except ValueError as e:
            out.append((text, None, f"the line is not JSON: {e}"))
            continue
        if not isinstance(obj, dict):
            out.append((obj, None, "the line must be a JSON object"))
            continue
        out.append((obj, obj, None))
    return out


class Scorer:
    """Answers the lines of one chunk with one loaded model (module docstring)."""

    def __init__(self, job: dict, kind: str):
        from chalicelib.runtime import serving
        self.job, self.kind = job, kind
        self.recipe_type, self.recipe_name = job["recipeType"], job["recipeName"]
        self.n = int(job["numResults"])
        self.served = serving.served(job["solutionVersionArn"], job["modelKey"],
                                     job.get("datasetGroupArn"))
        self.options = self._options()

    def _options(self) -> dict:
        explore = (self.job.get("batchInferenceJobConfig") or {}).get("itemExplorationConfig")
        serving_options = getattr(self.served.model, "serving_options", None)
        if not explore or serving_options is None:
            return {}
        return serving_options({"itemExplorationConfig": explore})

    def answer(self, objs: List[dict]) -> List[Tuple[Optional[dict], Optional[str]]]:
        """One (output, error) per object."""
        if self.kind == "segment":
            return self._segments(objs)
        if self.job.get("filterArn"):
            return self._filtered(objs)
        if self.recipe_type == catalog.RELATED_ITEMS:
            return self._batched(objs, "itemId", self.served.related_many)
        if self.recipe_type in catalog.RANKING_TYPES:
            return [self._guard(lambda o=o: self._rank(o)) for o in objs]
        events = self._events([o.get("userId") for o in objs if isinstance(o.get("userId"), str)])
        return self._batched(objs, "userId", lambda ids, n: self.served.recommend_many(
            ids, n, events=events, options=self.options))

    @staticmethod
    def _guard(fn):
        try:
            return fn(), None
        except LineError as e:
            return None, str(e)

    @staticmethod
    def _items(pairs):
        return {"recommendedItems": [i for i, _ in pairs], "scores": [s for _, s in pairs]}

    def _batched(self, objs, member, many):
        out: List = [None] * len(objs)
        good = []
        for r, obj in enumerate(objs):
            try:
                good.append((r, _member(obj, member)))
            except LineError as e:
                out[r] = (None, str(e))
        for s in range(0, len(good), SCORE_BATCH):
            part = good[s:s + SCORE_BATCH]
            for (r, _), pairs in zip(part, many([v for _, v in part], self.n)):
                out[r] = (self._items(pairs), None)
        return out

    def _rank(self, obj):
        user = _member(obj, "userId")
        items = _member(obj, "itemList", list)
        if not items or not all(isinstance(i, str) and i for i in items):
            raise LineError("itemList: required, a non-empty list of item IDs")
        return self._items(self.served.rank(user, list(dict.fromkeys(items))))

    def _filtered(self, objs):
        """Lines of a job with a filter: each one through the single request's path and filter
        gate (`service.recommendations.request_gate`, `runtime.filtering.Gate`) with the line's
        own `filterValues`, so a line's answer equals GetRecommendations' with that filter."""
        from chalicelib.protocol.errors import InvalidInputException
        from chalicelib.service import recommendations
        deployed = recommendations.CampaignModel(
            "the batch job", self.job["solutionVersionArn"],
            self.recipe_name, self.recipe_type, self.served, self.job.get("batchInferenceJobConfig"))
        related = self.recipe_type == catalog.RELATED_ITEMS
        ranking = self.recipe_type in catalog.RANKING_TYPES
        key = "itemId" if related else "userId"
        events = self._events([o.get("userId") for o in objs if isinstance(o.get("userId"), str)])

        def one(obj):
            subject = _member(obj, key)
            user_id = obj.get("userId") if isinstance(obj.get("userId"), str) else None
            item_id = subject if related else None
            values = obj.get("filterValues")
            if values is not None and not (isinstance(values, dict) and all(
                    isinstance(k, str) and isinstance(v, str) for k, v in values.items())):
                raise LineError("filterValues: a map of parameter names to value strings")
            mine = events.get(user_id) or [] if user_id else []
            try:
                gate = recommendations.request_gate(
                    {"filterArn": self.job["filterArn"], "filterValues": values}, deployed,
                    user_id, item_id, mine)
                if related:
                    return self._items(self.served.related(subject, self.n, allowed=gate.mask()))
                if ranking:
                    items = _member(obj, "itemList", list)
                    items = [i for i, keep in zip(items, gate.for_ids(items).tolist()) if keep]
                    return self._items(self.served.rank(subject, list(dict.fromkeys(items)),
                                                        events=mine))
                return self._items(self.served.recommend(
                    subject, self.n, campaign_config=deployed.campaign_config,
                    allowed=gate.mask(), events=mine))
            except InvalidInputException as e:   # a line's values, or the filter is gone
                raise LineError(e.message) from None
        return [self._guard(lambda o=o: one(o)) for o in objs]

    def _events(self, user_ids) -> Dict[str, list]:
        """Recorded events of this chunk's users, newest first (one read of the group's events
        per chunk instead of one query per user)."""
        group = self.job.get("datasetGroupArn")
        if not group or not user_ids:
            return {}
        from chalicelib.runtime import recorded
        columns = recorded.dataset_group_events(group)
        wanted = set(user_ids)
        found: Dict[str, list] = {}
        for user, item, sent, kind in zip(columns["USER_ID"].tolist(), columns["ITEM_ID"].tolist(),
                                          columns["TIMESTAMP"].tolist(), columns["EVENT_TYPE"].tolist()):
            if user in wanted:   # eventType: for Interactions.EVENT_TYPE filters
                found.setdefault(user, []).append({"itemId": item, "sentAt": sent, "eventType": kind})
        for user, events in found.items():
            events.sort(key=lambda e: -e["sentAt"])
            del events[recorded.MAX_EVENTS_PER_USER:]
        return found

    def _segments(self, objs):
        from chalicelib.algorithms.affinity import ITEM_ATTRIBUTE_AFFINITY, QueryError
        model = self.served.model
        attributes = self.recipe_name == ITEM_ATTRIBUTE_AFFINITY
        out: List = [None] * len(objs)
        rows, weights = [], []
        for r, obj in enumerate(objs):
            try:
                if attributes:
                    w = model.attribute_weights(_member(obj, "itemAttributes"))
                    if not w.any():
                        raise LineError(f"itemAttributes: no item of the solution version "
                                        f"matches {obj['itemAttributes']}")
                else:
                    item = _member(obj, "itemId")
                    index = int(self.served.index.lookup([item])[0])
                    if index < 0:
                        raise LineError(f"itemId: {item} is not an item of the solution version")
                    w = model.item_weights(np.array([index]))[0]
            except (LineError, QueryError) as e:
                out[r] = (None, str(e) if isinstance(e, LineError) else f"itemAttributes: {e}")
                continue
            rows.append(r)
            weights.append(w)
        for s in range(0, len(rows), SCORE_BATCH):
            idx, _ = model.segment(np.stack(weights[s:s + SCORE_BATCH]), self.n)
            for r, users in zip(rows[s:s + SCORE_BATCH], idx):
                out[r] = ({"usersList": model.user_ids[users[users >= 0]].tolist()}, None)
        return out


def score_bytes(raw: bytes, scorer: Scorer) -> Tuple[bytes, int, int]:
    """A chunk's input bytes -> (its output lines, lines, error lines)."""
    parsed = parse_lines(raw)
    objs = [p[1] for p in parsed if p[1] is not None]
    answers = iter(scorer.answer(objs))
    lines, errors = [], 0
    for shown, obj, error in parsed:
        output = None
        if obj is not None:
            output, error = next(answers)
        errors += error is not None
        lines.append(json.dumps({"input": shown, "output": output, "error": error},
                                separators=(",", ":")))
    body = ("\n".join(lines) + "\n").encode() if lines else b""
    return body, len(lines), errors


# --- the steps ---------------------------------------------------------------------------------
@task("batch-inference.begin")
def begin(state):
    arn = state["jobArn"]
    try:
        _jobs().mark_job(arn, lifecycle.CREATE_IN_PROGRESS)
    except ResourceNotFoundException:
        return {"skipped": f"batch job {arn} no longer exists"}
    except lifecycle.TransitionRefused as e:   # a duplicated execution of an ended job
        return {"skipped": str(e)}
    job = _jobs().job(arn)
    keep = ("solutionVersionArn", "modelKey", "datasetGroupArn", "recipeName", "recipeType",
            "numResults", "filterArn", "batchInferenceJobConfig")
    out = {k: job.get(k) for k in keep if job.get(k) is not None}
    out.update(inputPath=job["jobInput"]["s3DataSource"]["path"],
               outputPath=job["jobOutput"]["s3DataDestination"]["path"])
    return out


@task("batch-inference.split")
def split(state):
    job = state["job"]
    path = job["inputPath"]
    bucket = objects.split(path)[0]
    from chalicelib.datasets import objects as data_objects
    if not data_objects.bucket_exists(bucket):
        return {"failureReason": f"The jobInput bucket {bucket} does not exist"}
    out_bucket = objects.split(job["outputPath"])[0]
    if not data_objects.bucket_exists(out_bucket):
        return {"failureReason": f"The jobOutput bucket {out_bucket} does not exist"}
    sources = input_objects(path)
    if not sources:
        return {"failureReason": f"There is no input at {path} (an object, or a folder of objects)"}
    spans = [line_spans(s) for s in sources]
    total = int(sum(s.size for s, _ in spans))
    if total == 0:
        return {"failureReason": f"The input at {path} has no lines (JSON Lines expected)"}
    size = chunk_size(total, state.get("chunkLines"))
    chunks = []
    for f, (starts, ends) in enumerate(spans):
        for c, first in enumerate(range(0, starts.size, size)):
            last = min(first + size, starts.size) - 1
            chunks.append({"f": f, "c": c, "s": int(starts[first]), "e": int(ends[last]),
                           "n": last - first + 1})
    files = [{"source": s, "output": output_location(job["outputPath"], s),
              "chunks": int(math.ceil(sp[0].size / size))} for s, sp in zip(sources, spans)]
    _jobs().record_total(state["jobArn"], total)
    log.info("batch job %s: %d lines in %d files, %d chunks of %d", state["jobArn"], total,
             len(files), len(chunks), size)
    return {"files": files, "chunks": chunks, "totalLines": total, "chunkLines": size}


@task("batch-inference.score")
def score(state):
    chunk, source = state["chunk"], state["files"][state["chunk"]["f"]]
    try:
        scorer = Scorer(state["job"], state["kind"])
    except Exception as e:   # noqa: BLE001 - a model that does not load fails the job, once
        log.exception("model of %s does not load", state["job"]["solutionVersionArn"])
        return {"failureReason": f"The model of solution version "
                                 f"{state['job']['solutionVersionArn']} does not load: {e}"}
    raw = objects.get_range(source["source"], chunk["s"], chunk["e"])
    body, lines, errors = score_bytes(raw, scorer)
    objects.put_bytes(part_location(state["jobArn"], chunk["f"], chunk["c"]), body,
                      "application/jsonlines")
    record = _jobs().count_progress(state["jobArn"], lines, errors) or {}
    log.info("batch job %s: chunk %d/%d of %s scored (%d lines, %d errors); %s of %s lines done",
             state["jobArn"], chunk["c"] + 1, source["chunks"], source["source"], lines, errors,
             record.get("processedLines"), record.get("totalLines"))
    return {"lines": lines, "errors": errors}


@task("batch-inference.merge")
def merge(state):
    reasons = [r.get("failureReason") for r in state.get("scored") or [] if r.get("failureReason")]
    if reasons:
        return {"failureReason": reasons[0]}
    arn = state["jobArn"]
    outputs = []
    for f, entry in enumerate(state["split"]["files"]):
        body = b"".join(objects.get_bytes(part_location(arn, f, c)) for c in range(entry["chunks"]))
        outputs.append(objects.put_bytes(entry["output"], body, "application/jsonlines"))
    objects.delete_prefix(work_prefix(arn))
    scored = state.get("scored") or []
    return {"outputs": outputs, "lines": sum(r.get("lines", 0) for r in scored),
            "errors": sum(r.get("errors", 0) for r in scored)}


@task("batch-inference.activate")
def activate(state):
    merged = state["merge"]
    record = _jobs().mark_job(state["jobArn"], lifecycle.ACTIVE, processedLines=merged["lines"],
                              errorLines=merged["errors"], outputObjects=merged["outputs"])
    return {"status": record.get("status")}


def failure_reason(state) -> str:
    reason = failures.failure_reason(
        state, answered_by=("split", "merge"), activity="running the batch job",
        timeout_reason="The batch job did not finish in time (a step timed out)")
    try:
        job = _jobs().job(state["jobArn"])
    except ResourceNotFoundException:
        return reason
    total = (state.get("split") or {}).get("totalLines")
    if total:
        reason += f" (after {job.get('processedLines') or 0} of {total} input lines)"
    return reason


@task("batch-inference.fail")
def fail(state):
    reason = failure_reason(state)
    arn = state["jobArn"]
    try:
        _jobs().mark_job(arn, lifecycle.CREATE_FAILED, failure_reason=reason[:failures.REASON_LIMIT])
    except ResourceNotFoundException:
        log.warning("batch job %s is gone; it failed: %s", arn, reason)
    try:   # a failed job leaves neither parts nor a partial output behind
        objects.delete_prefix(work_prefix(arn))
        for entry in (state.get("split") or {}).get("files") or []:
            objects.delete(entry["output"])
    except Exception:   # noqa: BLE001 - e.g. the bucket is missing: nothing was written
        log.info("no partial output of %s removed", arn, exc_info=True)
    return {"failureReason": reason}
