// The console's pages (hash routing). Seed: "Getting Started (Console)" steps 1-4 and
// "Test campaign results"; every call goes through Api (signed, the public API).
"use strict";
const view = document.getElementById("view");
const timers = [];
let generation = 0;  // bumped by each navigation: a refresh started for an older page paints nothing
/** Run `fn` once after `ms` if the page it was set for is still shown (pages poll by chaining).
 *  A failed call (throttled, a cold worker's timeout) is shown and tried again later, so the
 *  poll does not stop for good while the page still says IN_PROGRESS. */
const later = (fn, ms) => {
  const g = generation;
  timers.push(setTimeout(() => g === generation && fn().catch((e) => {
    if (g !== generation) return;
    toast(`${e.message} (trying again)`, true);
    later(fn, Math.min(2 * ms, 30000));
  }), ms));
};
const paint = (gen, ...nodes) => { if (gen === generation) view.replaceChildren(...nodes); };

function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, "");
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}
const link = (hash, text) => h("a", { href: hash }, text);
const enc = encodeURIComponent;
const shortArn = (arn) => (arn || "").split("/").slice(1).join("/") || arn;
const accountOf = (arn) => (arn || "").split(":")[4] || "000000000000";
// ended: nothing more to poll (a solution version stopped by StopSolutionVersionCreation too)
const terminal = (s) => s === "ACTIVE" || s === "CREATE STOPPED" || /FAILED/.test(s || "");
function badge(status) {
  const cls = status === "ACTIVE" ? "ACTIVE" : terminal(status) ? "failed" : "pending";
  return h("span", { class: `status ${cls}` }, status || "—");
}
function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}
function elapsed(rec) {
  const start = rec.creationDateTime;
  if (!start) return "";
  return duration((terminal(rec.status) ? (rec.lastUpdatedDateTime || start) : Date.now() / 1000) - start);
}
const STAGES = { hpo: "search", training: "training started", evaluation: "evaluation fit (for the metrics)",
                 final: "final fit on all the data" };
/** A training's live progress: DescribeSolutionVersion's `trainingProgress` (a member of this
 *  project, from the training log: stage, HPO trials, epoch) while the version trains; without
 *  it (a server that does not send it, a recipe without epochs) the status and elapsed time. */
function progress(v) {
  const p = v.trainingProgress;
  if (terminal(v.status)) return "";
  if (!p) return h("span", { class: "progress-text" }, `${v.status} · ${elapsed(v)}`);
  const parts = [STAGES[p.stage] || p.stage];
  let done = 0;  // for the bar: the share of the search's trials done, or of the current fit's epochs
  const epochShare = p.epochs > 0 ? Math.min(1, (p.epoch || 0) / p.epochs) : 0;
  if (p.stage === "hpo" && p.trialsTotal > 0) {
    const current = p.currentTrial != null ? p.currentTrial : Math.min(p.trialsTotal, p.trialsCompleted + 1);
    parts[0] = `trial ${current} of ${p.trialsTotal} (${p.trialsCompleted} done)`;  // HPO / AutoML
    done = Math.min(1, (p.trialsCompleted + (p.currentTrial != null ? epochShare : 0)) / p.trialsTotal);
  } else done = epochShare;
  if (p.epochs > 0) parts.push(`epoch ${p.epoch} of ${p.epochs}`);
  if (p.elapsedSeconds != null) parts.push(duration(p.elapsedSeconds));
  if (p.updatedDateTime) parts.push(`updated ${duration(Date.now() / 1000 - p.updatedDateTime)} ago`);
  return h("span", { class: "training-progress", "data-stage": p.stage },
    h("progress", { max: 1, value: done.toFixed(3) }), " ", h("span", { class: "progress-text" }, parts.join(" · ")));
}
const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "");
function table(columns, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty || "None yet.");
  return h("table", {}, h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", {}, title)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, columns.map(([, cell, cls]) => h("td", { class: cls }, cell(r)))))));
}
function toast(message, error) {
  if (error) document.body.dataset.lastError = message;  // for tests and the curious: the last failure
  const box = document.getElementById("toast");
  const item = h("div", { class: error ? "error" : "" }, message);
  box.append(item);
  setTimeout(() => item.remove(), error ? 8000 : 3000);
}
/** Run an action from a button: disable it meanwhile, report errors by name. */
async function act(button, fn) {
  if (button) button.disabled = true;
  try { return await fn(); } catch (e) { toast(e.message, true); } finally { if (button) button.disabled = false; }
}
function field(label, input, hint) {
  return h("div", {}, h("label", {}, label, input), hint ? h("div", { class: "hint" }, hint) : null);
}
const NAME_HINT = "2 to 63 characters: a-z, A-Z, 0-9, - and _ (seed: 2 to 256, a-z, A-Z, 0-9, . : + = @ % -).";

// ---- pages ----------------------------------------------------------------------------

async function signInPage() {
  const gen = generation;
  const s = Api.settings();
  const key = h("input", { type: "text", id: "access-key", autocomplete: "off" });
  const secret = h("input", { type: "password", id: "secret-key", autocomplete: "off" });
  const region = h("input", { type: "text", id: "region", value: s.region });
  const out = h("p", { class: "error", id: "sign-in-error" });
  const go = h("button", { class: "primary", id: "sign-in", onclick: () => act(go, async () => {
    Api.signIn(key.value.trim(), secret.value.trim(), region.value.trim());
    try { await Api.control("ListDatasetGroups", { maxResults: 1 }); location.hash = "#/"; render(); }
    catch (e) { Api.signOut(); out.textContent = e.message; }
  }) }, "Sign in");
  paint(gen, h("section", {}, h("h1", {}, "Sign in"),
    h("p", {}, "Requests are signed in this browser (SigV4) with the keys of a principal of this " +
      "deployment (`make up` writes the root keys to .local/stack.env). They are kept in this tab's " +
      "session storage only."),
    field("Access key ID", key), field("Secret access key", secret), field("Region", region), go, out));
}

async function groupsPage() {
  const gen = generation;
  const name = h("input", { type: "text", id: "group-name", placeholder: "MovieRatingDatasetGroup" });
  const create = h("button", { class: "primary", id: "create-group", onclick: () => act(create, async () => {
    await Api.control("CreateDatasetGroup", { name: name.value.trim() });
    toast(`Dataset group ${name.value} created`); name.value = ""; await refresh();
  }) }, "Create dataset group");
  const list = h("div", { id: "groups" });
  paint(gen, h("h1", {}, "Dataset groups"),
    h("section", {}, h("h2", {}, "New dataset group"), field("Dataset group name", name, NAME_HINT), create),
    h("section", {}, h("h2", {}, "Dataset groups"), list));
  async function refresh() {
    const groups = await Api.listAll("ListDatasetGroups", {}, "datasetGroups");
    list.replaceChildren(table([
      ["Name", (g) => link(`#/group/${enc(g.datasetGroupArn)}`, g.name)],
      ["Status", (g) => badge(g.status)],
      ["Created", (g) => when(g.creationDateTime)],
      ["", (g) => deleteButton("DeleteDatasetGroup", { datasetGroupArn: g.datasetGroupArn }, refresh)],
    ], groups, "No dataset groups yet: create one above."));
    return groups;
  }
  const poll = async () => { if ((await refresh()).some((g) => !terminal(g.status))) later(poll, 2000); };
  await poll();
}

function deleteButton(op, params, after) {
  // two clicks: the first asks, the second deletes
  const b = h("button", { class: "delete", onclick: () => {
    if (b.dataset.armed !== "1") { b.dataset.armed = "1"; b.textContent = "Confirm delete"; return; }
    act(b, async () => { await Api.control(op, params); toast("Deleted"); await after(); });
  } }, "Delete");
  return b;
}

async function dashboardPage(groupArn) {
  const gen = generation;
  // independent chains side by side: the page waits for the longest one, not for their sum
  const importJobs = async (datasets) => (await Promise.all(datasets.map(async (d) => {
    const jobs = await Api.listAll("ListDatasetImportJobs", { datasetArn: d.datasetArn }, "datasetImportJobs");
    return Promise.all(jobs.map(async (j) => {
      const [runs, described] = await Promise.all([
        Api.listAll("ListDatasetImportJobRuns", { datasetImportJobArn: j.datasetImportJobArn }, "datasetImportJobRuns")
          .catch(() => []),
        // a summary without the reason of its failure (the seed's has none): ask the job
        /FAILED/.test(j.status) && !j.failureReason ? Api.control("DescribeDatasetImportJob",
          { datasetImportJobArn: j.datasetImportJobArn }).then((r) => r.datasetImportJob) : j]);
      return { ...j, datasetName: d.name, runs, failureReason: j.failureReason || described.failureReason };
    }));
  }))).flat();
  const [group, [datasets, jobs], trackers, [solutions, campaigns], filters] = await Promise.all([
    Api.control("DescribeDatasetGroup", { datasetGroupArn: groupArn }).then((r) => r.datasetGroup),
    Api.listAll("ListDatasets", { datasetGroupArn: groupArn }, "datasets").then(async (ds) => [ds, await importJobs(ds)]),
    Api.listAll("ListEventTrackers", { datasetGroupArn: groupArn }, "eventTrackers").then((ts) => Promise.all(ts.map((t) =>
      Api.control("DescribeEventTracker", { eventTrackerArn: t.eventTrackerArn }).then((r) => r.eventTracker)))),
    Api.listAll("ListSolutions", { datasetGroupArn: groupArn }, "solutions").then(async (ss) => [ss, (await Promise.all(ss.map((s) =>
      Api.listAll("ListCampaigns", { solutionArn: s.solutionArn }, "campaigns")))).flat()]),
    Api.listAll("ListFilters", { datasetGroupArn: groupArn }, "Filters").catch(() => []),
  ]);
  const g = `#/group/${enc(groupArn)}`;
  paint(gen, 
    h("h1", {}, `Dataset group ${group.name} `, badge(group.status)),
    h("section", { id: "datasets" }, h("h2", {}, "Datasets"), table([
      ["Name", (d) => d.name], ["Type", (d) => d.datasetType], ["Status", (d) => badge(d.status)],
      ["Created", (d) => when(d.creationDateTime)]], datasets),
      link(`${g}/dataset`, "Create dataset and schema"), " · ", link(`${g}/import`, "Import data")),
    h("section", { id: "import-jobs" }, h("h2", {}, "Dataset import jobs"), table([
      ["Job", (j) => j.jobName], ["Dataset", (j) => j.datasetName], ["Status", (j) => badge(j.status)],
      ["Elapsed", elapsed],
      ["Runs", (j) => j.runs.length ? j.runs.map((r) => h("div", {}, badge(r.status), " ", when(r.creationDateTime))) : "—"],
      ["Failure reason", (j) => h("span", { class: "reason" }, j.failureReason || "")]], jobs)),
    h("section", { id: "event-trackers" }, h("h2", {}, "Event trackers"), table([
      ["Name", (t) => t.name], ["Status", (t) => badge(t.status)],
      ["Tracking ID", (t) => h("span", { class: "mono" }, t.trackingId || "")]], trackers),
      h("button", { id: "create-tracker", onclick: (e) => act(e.target, async () => {
        await ensureTracker(groupArn); render(); }) }, "Create event tracker")),
    h("section", { id: "solutions" }, h("h2", {}, "Solutions"), table([
      ["Name", (s) => link(`#/solution/${enc(s.solutionArn)}`, s.name)], ["Status", (s) => badge(s.status)],
      ["Recipe", (s) => shortArn(s.recipeArn) || "AutoML"], ["Created", (s) => when(s.creationDateTime)]], solutions),
      link(`${g}/solution`, "Create solution")),
    h("section", { id: "campaigns" }, h("h2", {}, "Campaigns"), table([
      ["Name", (c) => link(`#/campaign/${enc(c.campaignArn)}`, c.name)], ["Status", (c) => badge(c.status)],
      ["Elapsed", elapsed], ["Failure reason", (c) => h("span", { class: "reason" }, c.failureReason || "")]], campaigns),
      link(`${g}/campaign`, "Create campaign")),
    h("section", { id: "filters" }, h("h2", {}, "Filters"), table([
      ["Name", (f) => f.name], ["Status", (f) => badge(f.status)]], filters)));
  const pending = [group, ...datasets, ...jobs, ...trackers, ...solutions, ...campaigns, ...filters]
    .some((r) => !terminal(r.status));
  if (pending) later(() => dashboardPage(groupArn), 2000);
}

// Seed, "Getting Started (Console)" step 1 (the Interactions schema), and the Users/Items shapes.
const EXAMPLE_SCHEMAS = {
  Interactions: { type: "record", name: "Interactions", namespace: "com.amazonaws.personalize.schema",
    fields: [{ name: "USER_ID", type: "string" }, { name: "ITEM_ID", type: "string" },
             { name: "TIMESTAMP", type: "long" }], version: "1.0" },
  Users: { type: "record", name: "Users", namespace: "com.amazonaws.personalize.schema",
    fields: [{ name: "USER_ID", type: "string" }, { name: "AGE", type: "int" }], version: "1.0" },
  Items: { type: "record", name: "Items", namespace: "com.amazonaws.personalize.schema",
    fields: [{ name: "ITEM_ID", type: "string" }, { name: "GENRES", type: "string", categorical: true }],
    version: "1.0" },
};
const REQUIRED_FIELDS = { Interactions: ["USER_ID", "ITEM_ID", "TIMESTAMP"], Users: ["USER_ID"], Items: ["ITEM_ID"] };
const PRIMITIVES = ["string", "int", "long", "float", "double", "boolean", "null"];

/** Problems of a schema text for a dataset type: JSON, then the Avro record shape. */
function schemaProblems(text, datasetType) {
  let s;
  try { s = JSON.parse(text); } catch (e) { return [`not JSON: ${e.message}`]; }
  const out = [];
  if (!s || typeof s !== "object" || Array.isArray(s)) return ["the schema must be a JSON object"];
  if (s.type !== "record") out.push('"type" must be "record"');
  if (typeof s.name !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(s.name)) out.push('"name" must be an Avro name');
  if (!Array.isArray(s.fields) || !s.fields.length) return out.concat(['"fields" must be a non-empty array']);
  const seen = new Set();
  s.fields.forEach((f, k) => {
    if (!f || typeof f.name !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(f.name)) {
      out.push(`fields[${k}]: "name" must be an Avro name`); return;
    }
    if (seen.has(f.name)) out.push(`field ${f.name} appears twice`);
    seen.add(f.name);
    const types = Array.isArray(f.type) ? f.type : [f.type];
    if (!types.length || types.some((t) => !PRIMITIVES.includes(t))) out.push(`field ${f.name}: "type" must be one of ${PRIMITIVES.join(", ")} or a union of them`);
  });
  for (const name of REQUIRED_FIELDS[datasetType] || []) if (!seen.has(name)) out.push(`a ${datasetType} schema needs the field ${name}`);
  return out;
}

async function datasetPage(groupArn) {
  const gen = generation;
  const type = h("select", { id: "dataset-type" }, Object.keys(EXAMPLE_SCHEMAS).map((t) => h("option", { value: t }, t)));
  const dsName = h("input", { type: "text", id: "dataset-name", value: "ratings-dataset" });
  const schemaName = h("input", { type: "text", id: "schema-name", value: "ratings-schema" });
  const text = h("textarea", { id: "schema-definition", rows: 18 });
  const problems = h("ul", { class: "error", id: "schema-problems" });
  const fill = () => { text.value = JSON.stringify(EXAMPLE_SCHEMAS[type.value], null, 4); };
  type.addEventListener("change", fill); fill();
  const check = () => {
    const found = schemaProblems(text.value, type.value);
    problems.replaceChildren(...found.map((p) => h("li", {}, p)));
    if (!found.length) problems.replaceChildren(h("li", { class: "muted" }, "Schema is valid."));
    return found;
  };
  const create = h("button", { class: "primary", id: "create-dataset", onclick: () => act(create, async () => {
    if (check().length && !/valid/.test(problems.textContent)) return;
    const schema = await Api.control("CreateSchema", { name: schemaName.value.trim(), schema: text.value });
    await Api.control("CreateDataset", { name: dsName.value.trim(), datasetGroupArn: groupArn,
      datasetType: type.value, schemaArn: schema.schemaArn });
    toast("Dataset created"); location.hash = `#/group/${enc(groupArn)}`;
  }) }, "Create schema and dataset");
  paint(gen, h("h1", {}, "Create dataset and schema"), h("section", {},
    field("Dataset type", type), field("Dataset name", dsName, NAME_HINT), field("New schema name", schemaName, NAME_HINT),
    field("Schema definition", text, "An Avro record; checked here before it is sent."),
    h("button", { id: "validate-schema", onclick: check }, "Validate"), create, problems));
}

const UPLOAD_LIMIT = 4 * 1024 * 1024;  // chalicelib/service/uploads.py MAX_BYTES

async function importPage(groupArn) {
  const gen = generation;
  const datasets = await Api.listAll("ListDatasets", { datasetGroupArn: groupArn }, "datasets");
  const dataset = h("select", { id: "import-dataset" }, datasets.map((d) => h("option", { value: d.datasetArn }, `${d.name} (${d.datasetType})`)));
  const job = h("input", { type: "text", id: "job-name", value: `import-${Date.now() % 100000}` });
  const fromS3 = h("input", { type: "radio", name: "source", id: "source-s3", checked: true });
  const fromFile = h("input", { type: "radio", name: "source", id: "source-file" });
  const location_ = h("input", { type: "text", id: "data-location", placeholder: "s3://<bucket>/<folder path>/<CSV filename>" });
  const file = h("input", { type: "file", id: "data-file", accept: ".csv,text/csv" });
  const role = h("input", { type: "text", id: "role-arn", value: `arn:aws:iam::${accountOf(groupArn)}:role/PersonalizeConsole` });
  const error = h("p", { class: "error", id: "import-error" });
  const s3Row = field("Data location", location_, "A CSV file (or a folder ending in /) matching the dataset's schema.");
  const fileRow = field("CSV file", file, "Uploaded to this stack's data bucket (at most 4 MiB, UTF-8, " +
    "a header that maps to the dataset's schema); larger files: upload to S3 and import from there.");
  const choose = () => { s3Row.hidden = !fromS3.checked; fileRow.hidden = fromS3.checked; };
  fromS3.addEventListener("change", choose); fromFile.addEventListener("change", choose); choose();
  /** The data location to import: the S3 one typed in, or where the chosen file was uploaded. */
  async function source() {
    if (fromS3.checked) {
      if (!/^s3:\/\/[^/]+\/.+/.test(location_.value.trim())) throw new Error("Data location must be s3://<bucket>/<key>");
      return location_.value.trim();
    }
    const chosen = file.files[0];
    if (!chosen) throw new Error("Choose a CSV file to upload");
    if (chosen.size > UPLOAD_LIMIT) throw new Error(`${chosen.name} has ${chosen.size} bytes, above the upload limit of 4 MiB: upload it to S3 and import from its location`);
    const name = chosen.name.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[._-]+/, "");
    const uploaded = await Api.upload(dataset.value, name, new Uint8Array(await chosen.arrayBuffer()));
    toast(`Uploaded ${uploaded.bytes} bytes to ${uploaded.dataLocation}`);
    return uploaded.dataLocation;
  }
  const go = h("button", { class: "primary", id: "start-import", onclick: () => act(go, async () => {
    error.textContent = "";
    let dataLocation;
    try { dataLocation = await source(); } catch (e) { error.textContent = e.message; return; }
    await Api.control("CreateDatasetImportJob", { jobName: job.value.trim(), datasetArn: dataset.value,
      roleArn: role.value.trim(), dataSource: { dataLocation } });
    toast("Import job started"); location.hash = `#/group/${enc(groupArn)}`;
  }) }, "Start import");
  paint(gen, h("h1", {}, "Import data"), h("section", {},
    datasets.length ? null : h("p", { class: "error" }, "Create a dataset first."),
    field("Dataset", dataset), field("Dataset import job name", job, NAME_HINT),
    field("Custom IAM role ARN", role), h("label", {}, "Data source"),
    h("div", {}, h("label", {}, fromS3, " An S3 location"), h("label", {}, fromFile, " Upload a CSV file")),
    s3Row, fileRow, go, error));
}

/** The hyperparameters of a recipe's algorithm: [{name, default, kind, min, max, values, tunable}]. */
async function hyperparameters(recipeArn) {
  const recipe = (await Api.control("DescribeRecipe", { recipeArn })).recipe;
  if (!recipe.algorithmArn) return [];
  const algorithm = (await Api.control("DescribeAlgorithm", { algorithmArn: recipe.algorithmArn })).algorithm;
  const defaults = algorithm.defaultHyperParameters || {};
  const ranges = algorithm.defaultHyperParameterRanges || {};
  const rows = {};
  for (const [name, value] of Object.entries(defaults)) rows[name] = { name, default: value, kind: "" };
  for (const [key, kind] of [["integerHyperParameterRanges", "integer"], ["continuousHyperParameterRanges", "continuous"],
                             ["categoricalHyperParameterRanges", "categorical"]]) {
    for (const r of ranges[key] || []) {
      rows[r.name] = { ...(rows[r.name] || { name: r.name, default: "" }), kind, min: r.minValue, max: r.maxValue,
                       values: r.values, tunable: r.isTunable };
    }
  }
  return Object.values(rows).sort((a, b) => a.name.localeCompare(b.name));
}

async function solutionFormPage(groupArn) {
  const gen = generation;
  const recipes = await Api.listAll("ListRecipes", {}, "recipes");
  const name = h("input", { type: "text", id: "solution-name", value: "ratings-solution" });
  const manual = h("input", { type: "radio", name: "selection", id: "manual", checked: true });
  const automl = h("input", { type: "radio", name: "selection", id: "automl" });
  const recipe = h("select", { id: "recipe" }, recipes.map((r) => h("option", { value: r.recipeArn }, r.name)));
  const hpo = h("input", { type: "checkbox", id: "perform-hpo" });
  const eventType = h("input", { type: "text", id: "event-type", placeholder: "(all events)" });
  const params = h("div", { id: "hyperparameters" });
  let rows = [], asked = 0;
  const showParams = () => act(null, async () => {
    const mine = ++asked;  // a slower answer for an earlier pick must not replace a later one
    const found = automl.checked ? [] : await hyperparameters(recipe.value);
    if (mine !== asked) return;
    rows = found;
    params.replaceChildren(table([
      ["Hyperparameter", (r) => r.name],
      ["Range", (r) => r.kind === "categorical" ? (r.values || []).join(" | ") : r.kind ? `${r.kind} ${r.min} … ${r.max}` : "fixed"],
      ["Tunable", (r) => (r.tunable ? "yes" : "")],
      ["Value", (r) => (r.input = h("input", { type: "text", value: r.default, "data-name": r.name }))],
      ["HPO min", (r) => r.tunable && r.kind !== "categorical" ? (r.minInput = h("input", { type: "text", value: r.min })) : ""],
      ["HPO max", (r) => r.tunable && r.kind !== "categorical" ? (r.maxInput = h("input", { type: "text", value: r.max })) : ""],
    ], rows, automl.checked ? "AutoML chooses the recipe and its hyperparameters." : "This recipe has no hyperparameters."));
  });
  for (const e of [recipe, manual, automl]) e.addEventListener("change", showParams);
  const create = h("button", { class: "primary", id: "create-solution", onclick: () => act(create, async () => {
    const request = { name: name.value.trim(), datasetGroupArn: groupArn };
    if (eventType.value.trim()) request.eventType = eventType.value.trim();
    if (automl.checked) request.performAutoML = true;
    else {
      request.recipeArn = recipe.value;
      request.performHPO = hpo.checked;
      const config = {}, fixed = {}, ranges = {};
      for (const r of rows) {
        if (hpo.checked && r.tunable && r.kind) {
          const key = `${r.kind}HyperParameterRanges`;
          (ranges[key] = ranges[key] || []).push(r.kind === "categorical" ? { name: r.name, values: r.values }
            : { name: r.name, minValue: Number(r.minInput.value), maxValue: Number(r.maxInput.value) });
        } else if (r.input.value !== String(r.default)) fixed[r.name] = r.input.value;
      }
      if (Object.keys(fixed).length) config.algorithmHyperParameters = fixed;
      if (hpo.checked) config.hpoConfig = { algorithmHyperParameterRanges: ranges,
        hpoResourceConfig: { maxNumberOfTrainingJobs: "4", maxParallelTrainingJobs: "2" } };
      if (Object.keys(config).length) request.solutionConfig = config;
    }
    const arn = (await Api.control("CreateSolution", request)).solutionArn;
    const solution = (await Api.control("DescribeSolution", { solutionArn: arn })).solution;
    // today's CreateSolution trains nothing; the preview's (with minProvisionedTPS) did
    if (!solution.latestSolutionVersion) await Api.control("CreateSolutionVersion", { solutionArn: arn });
    toast("Training started"); location.hash = `#/solution/${enc(arn)}`;
  }) }, "Create and train");
  paint(gen, h("h1", {}, "Create solution"), h("section", {},
    field("Solution name", name, NAME_HINT), h("label", {}, "Recipe selection"),
    h("div", {}, h("label", {}, manual, " Manual — choose the recipe"), h("label", {}, automl, " Automatic (AutoML)")),
    field("Recipe", recipe), h("label", {}, hpo, " Perform HPO (tune the tunable hyperparameters in the ranges below)"),
    field("Event type", eventType), h("h2", {}, "Hyperparameters"), params, create));
  await showParams();
}

const METRICS = [["precision_at_5", "P@5"], ["precision_at_10", "P@10"], ["precision_at_25", "P@25"],
  ["normalized_discounted_cumulative_gain_at_5", "NDCG@5"], ["normalized_discounted_cumulative_gain_at_10", "NDCG@10"],
  ["normalized_discounted_cumulative_gain_at_25", "NDCG@25"], ["mean_reciprocal_rank_at_5", "MRR@5"],
  ["mean_reciprocal_rank_at_10", "MRR@10"], ["mean_reciprocal_rank_at_25", "MRR@25"], ["coverage", "coverage"]];

async function solutionPage(solutionArn) {
  const gen = generation;
  // each version described and (once ACTIVE) its metrics asked at once, beside the solution
  const [solution, versions] = await Promise.all([
    Api.control("DescribeSolution", { solutionArn }).then((r) => r.solution),
    Api.listAll("ListSolutionVersions", { solutionArn }, "solutionVersions").then((summaries) => Promise.all(
      summaries.map(async (summary) => {
        const arn = summary.solutionVersionArn;
        const v = (await Api.control("DescribeSolutionVersion", { solutionVersionArn: arn })).solutionVersion;
        if (v.status === "ACTIVE") v.metrics = (await Api.control("GetSolutionMetrics", { solutionVersionArn: arn })).metrics || {};
        return v;
      })))]);
  versions.sort((a, b) => a.creationDateTime - b.creationDateTime);
  versions.forEach((v, k) => { v.label = `v${k + 1}`; });
  const active = versions.filter((v) => v.status === "ACTIVE");
  const metrics = active.map((v) => v.metrics);
  const series = active.map((v, k) => ({ label: `${v.label} ${shortArn(v.recipeArn) || ""}`, values: metrics[k] }));
  const shown = METRICS.filter(([key]) => metrics.some((m) => key in m));
  const train = h("button", { id: "train-version", onclick: () => act(train, async () => {
    await Api.control("CreateSolutionVersion", { solutionArn }); render(); }) }, "Train a new version");
  paint(gen, 
    h("h1", {}, `Solution ${solution.name} `, badge(solution.status)),
    h("section", {}, h("p", {}, "Recipe: ", shortArn(solution.recipeArn) || "AutoML", solution.performHPO ? " · HPO" : "",
      solution.autoMLResult ? ` · AutoML chose ${shortArn(solution.autoMLResult.bestRecipeArn)}` : ""),
      link(`#/group/${enc(solution.datasetGroupArn)}`, "Dataset group dashboard"), " · ",
      link(`#/group/${enc(solution.datasetGroupArn)}/campaign`, "Create campaign")),
    h("section", { id: "versions" }, h("h2", {}, "Solution versions"), table([
      ["Version", (v) => h("span", { title: v.solutionVersionArn }, v.label)], ["Status", (v) => badge(v.status)],
      ["Elapsed", elapsed, "num elapsed"], ["Progress", progress, "progress"],
      ["Training mode", (v) => v.trainingMode || ""],
      ["Failure reason", (v) => h("span", { class: "reason" }, v.failureReason || "")]], versions), train),
    h("section", { id: "metrics" }, h("h2", {}, "Metrics"),
      active.length ? [Chart.bars(series, shown), table([["Metric", ([, label]) => label],
        ...active.map((v, k) => [v.label, ([key]) => (key in metrics[k] ? Number(metrics[k][key]).toFixed(4) : "—"), "num"])],
        shown)] : h("p", { class: "muted" }, "Metrics appear when a version is ACTIVE.")));
  // every second while one trains: an HPO trial or an epoch can take only a few seconds
  if (versions.some((v) => !terminal(v.status))) later(() => solutionPage(solutionArn), 1000);
}

async function campaignFormPage(groupArn) {
  const gen = generation;
  const solutions = await Api.listAll("ListSolutions", { datasetGroupArn: groupArn }, "solutions");
  const versions = (await Promise.all(solutions.map((s) =>
    Api.listAll("ListSolutionVersions", { solutionArn: s.solutionArn }, "solutionVersions")
      .then((vs) => vs.filter((v) => v.status === "ACTIVE").map((v) => ({ ...v, solution: s.name })))))).flat();
  const name = h("input", { type: "text", id: "campaign-name", value: "ratings-campaign" });
  const version = h("select", { id: "solution-version" }, versions.map((v) =>
    h("option", { value: v.solutionVersionArn }, `${v.solution} · ${shortArn(v.solutionVersionArn)}`)));
  const tps = h("input", { type: "number", id: "min-tps", value: 1, min: 1 });
  const metadata = h("input", { type: "checkbox", id: "enable-metadata" });
  const go = h("button", { class: "primary", id: "create-campaign", onclick: () => act(go, async () => {
    const request = { name: name.value.trim(), solutionVersionArn: version.value, minProvisionedTPS: Number(tps.value) };
    if (metadata.checked) request.campaignConfig = { enableMetadataWithRecommendations: true };
    const arn = (await Api.control("CreateCampaign", request)).campaignArn;
    location.hash = `#/campaign/${enc(arn)}`;
  }) }, "Create campaign");
  paint(gen, h("h1", {}, "Create campaign"), h("section", {},
    versions.length ? null : h("p", { class: "error" }, "No ACTIVE solution version yet."),
    field("Campaign name", name, NAME_HINT), field("Solution version", version),
    field("Minimum provisioned TPS", tps),
    h("label", {}, metadata, " Return the Items dataset's fields with recommendations"), go));
}

/** The group's ACTIVE event tracker's tracking id; creates one (and waits for it) if missing. */
async function ensureTracker(groupArn) {
  const trackers = await Api.listAll("ListEventTrackers", { datasetGroupArn: groupArn }, "eventTrackers");
  let arn = trackers[0] && trackers[0].eventTrackerArn;
  if (!arn) arn = (await Api.control("CreateEventTracker", { name: `console-tracker-${Date.now() % 100000}`,
                                                               datasetGroupArn: groupArn })).eventTrackerArn;
  for (let k = 0; k < 120; k++) {
    const t = (await Api.control("DescribeEventTracker", { eventTrackerArn: arn })).eventTracker;
    if (t.status === "ACTIVE") return t.trackingId;
    if (/FAILED/.test(t.status)) throw new Error(`event tracker ${t.name} ${t.status}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error("the event tracker is not ACTIVE after 2 minutes");
}

/** The Items dataset's fields (metadataColumns), when the campaign returns metadata. */
async function itemColumns(groupArn, campaign) {
  if (!(campaign.campaignConfig || {}).enableMetadataWithRecommendations) return [];
  const items = (await Api.listAll("ListDatasets", { datasetGroupArn: groupArn }, "datasets"))
    .find((d) => d.datasetType.toUpperCase() === "ITEMS");
  if (!items) return [];
  const dataset = (await Api.control("DescribeDataset", { datasetArn: items.datasetArn })).dataset;
  const schema = JSON.parse((await Api.control("DescribeSchema", { schemaArn: dataset.schemaArn })).schema.schema);
  return schema.fields.map((f) => f.name).filter((n) => n !== "ITEM_ID").slice(0, 10);
}

async function campaignPage(campaignArn) {
  const gen = generation;
  const campaign = (await Api.control("DescribeCampaign", { campaignArn })).campaign;
  const head = [h("h1", {}, `Campaign ${campaign.name} `, badge(campaign.status)),
    h("section", {}, h("p", {}, "Elapsed: ", elapsed(campaign), " · solution version ",
      h("span", { class: "mono" }, campaign.solutionVersionArn)),
      campaign.failureReason ? h("p", { class: "reason" }, campaign.failureReason) : null)];
  if (campaign.status !== "ACTIVE") {
    paint(gen, ...head);
    if (!terminal(campaign.status)) later(() => campaignPage(campaignArn), 2000);
    return;
  }
  const version = (await Api.control("DescribeSolutionVersion", { solutionVersionArn: campaign.solutionVersionArn })).solutionVersion;
  // a version names its group and trained recipe (today's SolutionVersion); else its solution does
  const solution = version.datasetGroupArn && version.recipeArn ? version
    : (await Api.control("DescribeSolution", { solutionArn: version.solutionArn })).solution;
  const recipeArn = version.recipeArn || solution.recipeArn || (solution.autoMLResult || {}).bestRecipeArn;
  const groupArn = solution.datasetGroupArn;
  const [recipeType, filters, columns] = await Promise.all([
    Api.control("DescribeRecipe", { recipeArn }).then((r) => r.recipe.recipeType),
    Api.listAll("ListFilters", { datasetGroupArn: groupArn }, "Filters").catch(() => []),
    itemColumns(groupArn, campaign).catch(() => [])]);
  const user = h("input", { type: "text", id: "user-id", value: "1" });
  const item = h("input", { type: "text", id: "item-id" });
  const list = h("textarea", { id: "input-list", rows: 3, placeholder: "item ids, comma or space separated" });
  const filter = h("select", { id: "filter" }, h("option", { value: "" }, "(no filter)"),
    filters.filter((f) => f.status === "ACTIVE").map((f) => h("option", { value: f.filterArn }, f.name)));
  const results = h("div", { id: "results" });
  const note = h("p", { id: "answer-note", class: "muted" });
  const sessionId = `console-${Math.random().toString(36).slice(2, 10)}`;
  let last = [];
  const ranking = /RANKING/.test(recipeType), related = recipeType === "RELATED_ITEMS";
  async function ask() {
    const request = { campaignArn, numResults: 10 };
    if (!related || user.value.trim()) request.userId = user.value.trim();
    if (related) request.itemId = item.value.trim();
    if (filter.value) request.filterArn = filter.value;
    if (columns.length) request.metadataColumns = { ITEMS: columns };
    let answer;
    if (ranking) {
      delete request.numResults;
      answer = (await Api.ranking({ ...request, inputList: list.value.split(/[\s,]+/).filter(Boolean) })).personalizedRanking;
    } else answer = (await Api.recommendations(request)).itemList;
    const before = last.map((x) => x.itemId);
    results.replaceChildren(table([
      ["#", (x) => String(answer.indexOf(x) + 1)], ["Recommended item ID", (x) => h("span", { class: "item-id" }, x.itemId)],
      ["Score", (x) => (x.score == null ? "" : Number(x.score).toFixed(4)), "num"],
      ...(columns.length ? columns.map((c) => [c, (x) => ((x.metadata || {})[c] || "")]) : []),
      ["", (x) => related ? "" : h("button", { class: "click", onclick: (e) => act(e.target, () => recordClick(x.itemId)) }, "Record click")],
    ], answer, "No recommendations."));
    results.querySelectorAll("tbody tr").forEach((tr, k) => { if (before.length && before[k] !== answer[k].itemId) tr.classList.add("changed"); });
    last = answer;
    return answer.map((x) => x.itemId);
  }
  async function recordClick(itemId) {
    const before = last.map((x) => x.itemId);
    const trackingId = await ensureTracker(groupArn);
    await Api.putEvents({ trackingId, userId: user.value.trim(), sessionId,
      eventList: [{ eventType: "click", itemId, sentAt: Date.now() / 1000, properties: JSON.stringify({ id: itemId }) }] });
    const after = await ask();
    const changed = before.join(",") !== after.join(",");
    note.className = changed ? "changed" : "muted";
    note.textContent = changed ? `Click on ${itemId} recorded: the answer changed (highlighted rows).`
                               : `Click on ${itemId} recorded: the answer is the same.`;
  }
  const go = h("button", { class: "primary", id: "get-recommendations", onclick: (e) => act(e.target, async () => { note.textContent = ""; await ask(); }) },
    ranking ? "Get personalized ranking" : "Get recommendations");
  paint(gen, ...head, h("section", { id: "test-campaign" }, h("h2", {}, "Test campaign results"),
    h("p", { class: "muted" }, `Recipe ${shortArn(recipeArn)} (${recipeType}) · `,
      link(`#/group/${enc(groupArn)}`, "Dataset group dashboard")),
    field("User ID", user, "A user id from the Interactions dataset."),
    related ? field("Item ID", item) : null, ranking ? field("Items to rank", list) : null,
    field("Filter", filter), go, note, results));
}

// ---- routing --------------------------------------------------------------------------

const ROUTES = [
  [/^#?\/?$/, groupsPage, () => []],
  [/^#\/group\/([^/]+)$/, dashboardPage, (g) => [["Dashboard", `#/group/${enc(g)}`]]],
  [/^#\/group\/([^/]+)\/dataset$/, datasetPage, (g) => [["Dashboard", `#/group/${enc(g)}`]]],
  [/^#\/group\/([^/]+)\/import$/, importPage, (g) => [["Dashboard", `#/group/${enc(g)}`]]],
  [/^#\/group\/([^/]+)\/solution$/, solutionFormPage, (g) => [["Dashboard", `#/group/${enc(g)}`]]],
  [/^#\/group\/([^/]+)\/campaign$/, campaignFormPage, (g) => [["Dashboard", `#/group/${enc(g)}`]]],
  [/^#\/solution\/([^/]+)$/, solutionPage, () => []],
  [/^#\/campaign\/([^/]+)$/, campaignPage, () => []],
];

async function render() {
  generation += 1;
  while (timers.length) clearTimeout(timers.pop());
  const keys = Api.creds();
  document.getElementById("who").textContent = keys ? `signed in as ${keys.accessKey} · ` : "";
  if (keys) document.getElementById("who").append(h("a", { href: "#/", id: "sign-out",
    onclick: () => { Api.signOut(); render(); } }, "sign out"));
  const crumbs = document.getElementById("crumbs");
  crumbs.replaceChildren(link("#/", "Dataset groups"));
  if (!keys) return signInPage();
  const hash = location.hash || "#/";
  for (const [pattern, page, trail] of ROUTES) {
    const m = hash.match(pattern);
    if (!m) continue;
    const args = m.slice(1).map(decodeURIComponent);
    for (const [text, href] of trail(...args)) crumbs.append(" › ", link(href, text));
    const started = performance.now();
    view.dataset.page = page.name;
    view.dataset.loaded = "";
    try { await page(...args); } catch (e) { view.replaceChildren(h("p", { class: "error" }, e.message)); }
    view.dataset.loaded = String(Math.round(performance.now() - started));
    return;
  }
  view.replaceChildren(h("p", { class: "error" }, `No page at ${hash}`));
}

window.addEventListener("hashchange", render);
Api.loadSettings().then(render);
