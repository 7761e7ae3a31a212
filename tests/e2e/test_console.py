"""The web console (issue 17) in a real headless Chromium on the deployed stack.

Seed, "Getting Started (Console)" steps 1-4 and "Test campaign results", from an empty
dataset group: schema (prefilled with the seed's, validated before submit), a failed
import showing its reason, an import from S3, a solution of a fast recipe
(aws-popularity-count) trained twice, its metrics as a table and a chart side by side,
a campaign, recommended items for user 1, and a recorded click changing the next answer.
Also: deleting a dataset group (two clicks), an Items dataset whose fields the campaign
returns beside the recommendations (metadataColumns), aws-hrnn's hyperparameter ranges.
Every call the page makes is signed in the browser with the root principal's keys.
The screenshots in docs/ (README, "Console") are taken here.
"""
import os
import random
import re
import urllib.parse

import pytest

from scripts import stack as stack_cli
from tests.e2e import flows
from tests.support.browser import Browser, ensure_chromium

pytestmark = pytest.mark.e2e

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "docs")
N_USERS, PER_USER, N_ITEMS = 40, 30, 60


def interactions_csv():
    """USER_ID,ITEM_ID,TIMESTAMP above the training minimums, items drawn with Zipf-like
    popularity (each user's own draw), so popularity-count's metrics are not all zero."""
    rng = random.Random(17)
    weights = [1 / (i + 1) for i in range(N_ITEMS)]
    lines = ["USER_ID,ITEM_ID,TIMESTAMP"]
    for u in range(1, N_USERS + 1):
        seen = set()
        while len(seen) < PER_USER:
            seen.add(rng.choices(range(N_ITEMS), weights)[0])
        for k, item in enumerate(sorted(seen, key=lambda i: rng.random())):
            lines.append(f"{u},i{item},{1_500_000_000 + u * 1000 + k}")
    return ("\n".join(lines) + "\n").encode()


GENRES = ("Comedy", "Drama", "Action", "Horror", "Romance")


def items_csv():
    lines = ["ITEM_ID,GENRES"] + [
        f"i{i}," + "|".join(dict.fromkeys((GENRES[i % 5], GENRES[(i // 5) % 5]))) for i in range(N_ITEMS)]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def browser():
    found, reason = ensure_chromium()
    if found is None:
        pytest.skip(f"no headless Chromium: {reason}")
    with Browser(*found, timeout=30) as b:
        yield b


def js_str(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def has_text(css, text):
    return (f"(document.querySelector({js_str(css)}) || {{innerText: ''}}).innerText"
            f".includes({js_str(text)})")


def sign_in(b, url, keys):
    """Open the console; sign in through its form unless this tab already is."""
    b.get(url)
    b.wait("document.getElementById('access-key') || document.getElementById('group-name')")
    if b.js("return !!document.getElementById('access-key')"):
        b.type("#access-key", keys[0])
        b.type("#secret-key", keys[1])
        b.click("#sign-in")


def personalize_location(stack, group_name):
    """The dataLocation of the group's ACTIVE Interactions import (over boto3)."""
    personalize = stack.client("personalize")
    group = next(g["datasetGroupArn"] for g in personalize.list_dataset_groups(maxResults=100)
                 ["datasetGroups"] if g["name"] == group_name)
    dataset = next(d["datasetArn"] for d in personalize.list_datasets(datasetGroupArn=group)["datasets"]
                   if d["datasetType"].upper() == "INTERACTIONS")
    jobs = personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]
    active = [personalize.describe_dataset_import_job(datasetImportJobArn=j["datasetImportJobArn"])
              ["datasetImportJob"] for j in jobs if j["status"] == "ACTIVE"]
    return active[0]["dataSource"]["dataLocation"]


def test_console_from_empty_group_to_test_campaign_results(stack, browser, tmp_path):
    items = flows.upload(stack, f"console/{flows.name('items')}.csv", items_csv())
    bad = flows.upload(stack, f"console/{flows.name('bad')}.csv", b"USER_ID,ITEM_ID\n1,i2\n")
    url = stack_cli.console_url(stack.personalize_endpoint)  # as `make up` writes it
    group = flows.name("console")
    b = browser
    # a wrong secret: the server refuses what the browser signed, the page says why
    b.get(url)
    b.wait("document.getElementById('access-key')")
    b.type("#access-key", stack.keys[0])
    b.type("#secret-key", "not-the-secret")
    b.click("#sign-in")
    b.wait(has_text("#sign-in-error", "Signature"), what="the refused signature")
    assert "InvalidSignatureException" in b.text("#sign-in-error")
    sign_in(b, url, stack.keys)

    # dataset groups: create one, it turns ACTIVE in the list
    b.wait("document.getElementById('group-name')")
    b.type("#group-name", group)
    b.click("#create-group")
    b.wait(f"Array.from(document.querySelectorAll('#groups tr')).some(tr => "
           f"tr.innerText.includes({js_str(group)}) && tr.innerText.includes('ACTIVE'))",
           what="the new group ACTIVE")
    # delete asks first (two clicks); the group leaves the list
    doomed = flows.name("console-doomed")
    b.type("#group-name", doomed)
    b.click("#create-group")
    row = (f"Array.from(document.querySelectorAll('#groups tbody tr')).find(tr => "
           f"tr.innerText.includes({js_str(doomed)}))")
    b.wait(f"{row} && {row}.innerText.includes('ACTIVE')", what="the second group ACTIVE")
    b.js(f"{row}.querySelector('button.delete').click()")
    assert b.js(f"return {row}.querySelector('button.delete').innerText") == "Confirm delete"
    b.js(f"{row}.querySelector('button.delete').click()")
    b.wait(f"!{row}", what="the deleted group gone from the list")
    b.js(f"Array.from(document.querySelectorAll('#groups a')).find(a => a.innerText === "
         f"{js_str(group)}).click()")
    b.wait(has_text("main h1", group))

    # schema: the seed's example is prefilled; a broken one is refused before any call
    b.js("location.hash += '/dataset'")
    b.wait("document.getElementById('schema-definition')")
    prefilled = b.js("return JSON.parse(document.getElementById('schema-definition').value)")
    assert [f["name"] for f in prefilled["fields"]] == ["USER_ID", "ITEM_ID", "TIMESTAMP"]
    b.set_value("#schema-definition", '{"type": "record", "name": "Interactions", '
                                      '"fields": [{"name": "USER_ID", "type": "text"}]}')
    b.click("#validate-schema")
    problems = b.text("#schema-problems")
    assert "USER_ID" in problems and "ITEM_ID" in problems and "TIMESTAMP" in problems, problems
    b.set_value("#dataset-type", "Interactions")  # refills the seed's schema
    b.click("#validate-schema")
    assert b.text("#schema-problems") == "Schema is valid."
    b.type("#schema-name", flows.name("console-schema"))
    b.click("#create-dataset")
    b.wait("document.querySelectorAll('#datasets tbody tr').length === 1", what="the dataset")

    # import: a file without the schema's columns fails and says why (from S3); a CSV file
    # uploaded from the page: refused at once when its header does not map, else imported
    # (one import at a time per dataset)
    b.js("location.hash += '/import'")
    b.wait("document.getElementById('data-location')")
    b.type("#data-location", bad)
    b.type("#job-name", flows.name("import"))
    b.click("#start-import")
    b.wait("document.querySelectorAll('#import-jobs tbody tr').length === 1 && "
           "!/IN_PROGRESS|PENDING/.test(document.querySelector('#import-jobs').innerText) && "
           + has_text("#import-jobs", "CREATE FAILED"), timeout=120, what="the import failed")
    b.js("location.hash += '/import'")
    b.wait("document.getElementById('data-file')")
    b.click("#source-file")
    for content, name in ((b"USER_ID,ITEM_ID\n1,i2\n", "no-timestamp.csv"), (interactions_csv(), "ratings.csv")):
        path = tmp_path / name
        path.write_bytes(content)
        b.choose_file("#data-file", str(path))
        b.type("#job-name", flows.name("import-upload"))
        b.click("#start-import")
        if name == "no-timestamp.csv":  # the upload route's typed error, no job created
            b.wait(has_text("#import-error", "InvalidInputException"), what="the refused upload")
            assert "TIMESTAMP" in b.text("#import-error"), b.text("#import-error")
            b.screenshot("main", os.path.join(DOCS, "console-upload.png"))
    b.wait("document.querySelectorAll('#import-jobs tbody tr').length === 2 && "
           "!/IN_PROGRESS|PENDING/.test(document.querySelector('#import-jobs').innerText) && "
           + has_text("#import-jobs", "ACTIVE"), timeout=120, what="the uploaded file's import ACTIVE")
    jobs = b.text("#import-jobs")
    assert "CREATE FAILED" in jobs and "ACTIVE" in jobs, jobs
    reason = b.js("return Array.from(document.querySelectorAll('#import-jobs .reason'))"
                  ".map(e => e.innerText).filter(Boolean)")
    assert len(reason) == 1 and "TIMESTAMP" in reason[0], reason
    uploaded = personalize_location(stack, group)
    assert uploaded.startswith(f"s3://{stack.outputs['DataBucketName']}/console-uploads/{group}/"
                               "INTERACTIONS/") and uploaded.endswith("-ratings.csv"), uploaded

    # an Items dataset (the example schema for the type) and its import: the metadata shown
    # beside the recommendations
    b.js("location.hash += '/dataset'")
    b.wait("document.getElementById('schema-definition')")
    b.set_value("#dataset-type", "Items")
    assert "GENRES" in b.js("return document.getElementById('schema-definition').value")
    b.type("#dataset-name", "items-dataset")
    b.type("#schema-name", flows.name("console-items-schema"))
    b.click("#create-dataset")
    b.wait("document.querySelectorAll('#datasets tbody tr').length === 2", what="the Items dataset")
    b.js("location.hash += '/import'")
    b.wait("document.querySelectorAll('#import-dataset option').length === 2")
    b.js("const s = document.getElementById('import-dataset'); s.value = Array.from(s.options)"
         ".find(o => o.innerText.includes('ITEMS')).value")
    b.type("#data-location", items)
    b.type("#job-name", flows.name("import-items"))
    b.click("#start-import")
    b.wait("document.querySelectorAll('#import-jobs tbody tr').length === 3 && "
           "!/IN_PROGRESS|PENDING/.test(document.querySelector('#import-jobs').innerText)",
           timeout=120, what="the items import ended")
    assert b.text("#import-jobs").count("CREATE FAILED") == 2  # the failed job: status and run

    # solution: recipes from ListRecipes, hyperparameters with their ranges for aws-hrnn
    b.js("location.hash += '/solution'")
    b.wait("document.querySelectorAll('#recipe option').length > 3")
    hrnn = b.js("return Array.from(document.querySelectorAll('#recipe option'))"
                ".find(o => o.innerText === 'aws-hrnn').value")
    b.set_value("#recipe", hrnn)
    b.wait(has_text("#hyperparameters", "model.num_layers"), what="aws-hrnn's hyperparameters")
    assert "integer" in b.text("#hyperparameters")
    popularity = b.js("return Array.from(document.querySelectorAll('#recipe option'))"
                      ".find(o => o.innerText === 'aws-popularity-count').value")
    b.set_value("#recipe", popularity)
    b.wait(f"!{has_text('#hyperparameters', 'model.num_layers')}")
    b.type("#solution-name", flows.name("console-solution"))
    b.click("#create-solution")
    # versions: live status, then a second version to compare side by side
    b.wait(has_text("#versions", "ACTIVE"), timeout=120, what="the first version ACTIVE")
    b.click("#train-version")
    b.wait("document.querySelectorAll('#versions tbody tr').length === 2 && "
           "document.querySelector('#versions').innerText.split('ACTIVE').length === 3",
           timeout=120, what="two ACTIVE versions")
    b.wait("document.querySelectorAll('#metrics svg rect.bar').length > 0")
    metrics = b.text("#metrics table")
    assert "P@25" in metrics and "NDCG@10" in metrics and "coverage" in metrics, metrics
    bars = b.js("return Array.from(document.querySelectorAll('#metrics svg rect.bar'))"
                ".map(r => r.getAttribute('data-metric'))")
    assert len(bars) == 2 * len(set(bars)) and "coverage" in bars
    b.screenshot("#metrics", os.path.join(DOCS, "console-metrics.png"))

    # campaign, then Test campaign results for user 1
    b.js("Array.from(document.querySelectorAll('a')).find(a => a.innerText === "
         "'Create campaign').click()")
    b.wait("document.querySelectorAll('#solution-version option').length === 2")
    b.type("#campaign-name", flows.name("console-campaign"))
    b.click("#enable-metadata")
    b.click("#create-campaign")
    b.wait("document.getElementById('user-id')", timeout=120, what="the campaign ACTIVE")
    b.type("#user-id", "1")
    b.click("#get-recommendations")
    b.wait("document.querySelectorAll('#results .item-id').length === 10")
    first = b.js("return Array.from(document.querySelectorAll('#results .item-id'), e => e.innerText)")
    scores = b.js("return Array.from(document.querySelectorAll('#results td.num'), e => e.innerText)")
    assert all(scores) and len(set(first)) == 10
    genres = b.js("const t = document.querySelector('#results table'); const k = Array.from("
                  "t.querySelectorAll('th')).findIndex(th => th.innerText === 'GENRES');"
                  "return k < 0 ? null : Array.from(t.querySelectorAll('tbody tr'), "
                  "tr => tr.children[k].innerText)")
    assert genres and all(g and set(g.split("|")) <= set(GENRES) for g in genres), genres

    # a click on the top item (needs an event tracker: the page creates one) changes the answer
    b.click("#results button.click")
    b.wait(has_text("#answer-note", "recorded"), timeout=90, what="the click recorded")
    assert "changed" in b.text("#answer-note"), b.text("#answer-note")
    after = b.js("return Array.from(document.querySelectorAll('#results .item-id'), e => e.innerText)")
    assert after != first and first[0] not in after
    b.screenshot("main", os.path.join(DOCS, "console-test-campaign.png"))  # the changed rows marked

    # the dashboard: every resource of the flow, the tracker with its tracking id
    b.js("location.hash = Array.from(document.querySelectorAll('a')).find(a => "
         "a.innerText === 'Dataset group dashboard').getAttribute('href')")
    b.wait(has_text("#campaigns", "ACTIVE") + " && " + has_text("#event-trackers", "ACTIVE"),
           what="the dashboard with the campaign and the tracker")
    assert b.js("return document.querySelector('#event-trackers .mono').innerText.length") > 8
    b.screenshot("main", os.path.join(DOCS, "console-dashboard.png"))


PROGRESS_SEEN = """
window.__progress = new Set();
new MutationObserver(() => document.querySelectorAll('#versions .training-progress').forEach(
  (e) => window.__progress.add(e.dataset.stage + ': ' + e.innerText))).observe(
  document.getElementById('view'), {subtree: true, childList: true});
"""


def test_live_training_progress_and_a_related_items_campaign(stack, browser):
    """aws-sims trained with HPO from the page: while it trains the versions table shows its
    trainingProgress (the search's trial, "trial 2 of 4", the evaluation and final fits), polled. Then an aws-sims campaign
    (over boto3): the test page asks for an item id instead of a user's history, and answers
    items similar to it, without a click button."""
    personalize = stack.client("personalize")
    group, _ = flows.import_interactions(stack, personalize, interactions_csv(), "console-sims")
    b = browser
    sign_in(b, stack_cli.console_url(stack.personalize_endpoint), stack.keys)
    b.wait("document.getElementById('group-name')")
    b.js("location.hash = arguments[0]", f"#/group/{urllib.parse.quote(group, safe='')}/solution")
    b.wait("Array.from(document.querySelectorAll('#recipe option')).some(o => o.innerText === 'aws-sims')")
    b.set_value("#recipe", b.js("return Array.from(document.querySelectorAll('#recipe option'))"
                                ".find(o => o.innerText === 'aws-sims').value"))
    b.wait(has_text("#hyperparameters", "alpha"), what="aws-sims' hyperparameters")
    b.click("#perform-hpo")
    b.type("#solution-name", flows.name("console-sims"))
    b.js(PROGRESS_SEEN)
    b.click("#create-solution")
    b.wait("document.getElementById('train-version')", what="the solution page")
    b.wait(has_text("#versions", "ACTIVE"), timeout=240, what="the HPO version ACTIVE")
    solution = personalize.list_solutions(datasetGroupArn=group)["solutions"][0]["solutionArn"]
    version = personalize.describe_solution_version(solutionVersionArn=personalize.list_solution_versions(
        solutionArn=solution)["solutionVersions"][0]["solutionVersionArn"])["solutionVersion"]
    assert version["performHPO"] and version["status"] == "ACTIVE", version
    # what the page showed while polling (every second): the server's stages, each as the
    # console words it; a fast search's trials can all end between two polls, so which stages
    # were caught varies (on this machine "trial 2 of 4 (1 done)" in most runs)
    seen = b.js("return Array.from(window.__progress)")
    shapes = {"hpo": r"trial \d of 4 \(\d done\)", "training": "training started",
              "evaluation": r"evaluation fit \(for the metrics\)", "final": "final fit on all the data"}
    assert seen and all(re.match(r"(\w+):\s+" + shapes[p.split(":")[0]] + r"( · epoch \d+ of \d+)? · (\d+m )?\d+s",
                                 p) for p in seen), seen
    print("training progress shown:", seen)

    campaign = flows.campaign(personalize, version["solutionVersionArn"], "console-sims")
    b.js("location.hash = arguments[0]", "#/campaign/" + urllib.parse.quote(campaign, safe=""))
    b.wait("document.getElementById('item-id')", what="the related-items form")
    assert "RELATED_ITEMS" in b.text("#test-campaign")
    b.type("#user-id", "")
    b.type("#item-id", "i3")
    b.click("#get-recommendations")
    b.wait("document.querySelectorAll('#results .item-id').length > 0")
    similar = b.js("return Array.from(document.querySelectorAll('#results .item-id'), e => e.innerText)")
    assert "i3" not in similar and len(set(similar)) == len(similar)
    assert not b.js("return document.querySelectorAll('#results button.click').length")
