// The public API as every client calls it: JSON 1.1 `POST /` with X-Amz-Target for the
// control plane, rest-json POSTs for the runtime and events; every request signed.
"use strict";
const Api = (() => {
  // the API's base: the page is served at <endpoint>/console/...
  const base = location.origin + location.pathname.replace(/\/console(\/.*)?$/, "");
  let settings = { region: "us-east-1" };
  const creds = () => JSON.parse(sessionStorage.getItem("personalize-console-keys") || "null");

  class ApiError extends Error {
    constructor(code, message, status) { super(`${code}: ${message}`); this.code = code; this.status = status; }
  }

  // At most this many calls in flight: each is a Lambda invocation, and one that finds no idle
  // worker starts a cold one (on the emulator a new process, 0.5-1.5 s, several at once contend
  // for the CPU). bench/console_pages.py, the dashboard's first visit (8 calls): 5.4 s with all
  // in flight, 1.8 s with 2, 0.38 s with 1 (the worker that served the page), and the same
  // medians afterwards: a warm call costs a few ms, so waiting for one is cheaper than a cold start.
  const MAX_IN_FLIGHT = 1;
  // A call without an answer ends (and hands its turn on) after this: the API function's own
  // timeout is 60 s (.chalice/config.json), API Gateway's 29 s; a stalled connection would
  // otherwise hold the one turn, and every call after it, forever.
  const TIMEOUT_MS = 90000;
  let inFlight = 0;
  const waiting = [];
  async function limited(fn) {
    if (inFlight >= MAX_IN_FLIGHT) await new Promise((resolve) => waiting.push(resolve));  // a slot handed over
    else inFlight += 1;
    try { return await fn(); } finally { const next = waiting.shift(); if (next) next(); else inFlight -= 1; }
  }

  /** POST `body` (bytes, or a payload sent as JSON) to `path`, signed. */
  const send = (path, headers, payload) => limited(() => signedPost(path, headers, payload));
  async function signedPost(path, headers, payload) {
    const keys = creds();
    if (!keys) throw new ApiError("NotSignedIn", "enter an access key first", 0);
    const body = payload instanceof Uint8Array ? payload : new TextEncoder().encode(JSON.stringify(payload || {}));
    const url = base + path;
    const signed = await SigV4.sign({ method: "POST", url, headers, body, accessKey: keys.accessKey,
                                      secret: keys.secret, region: keys.region || settings.region,
                                      service: "personalize" });
    let response, text;
    try {
      response = await fetch(url, { method: "POST", headers: signed, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
      text = await response.text();
    } catch (e) {
      if (e.name !== "TimeoutError") throw e;
      throw new ApiError("RequestTimeout", `no answer within ${TIMEOUT_MS / 1000} s`, 0);
    }
    let data = {};
    try { data = text ? JSON.parse(text) : {}; } catch (e) { if (response.ok) throw e; }  // a gateway's error page
    if (!response.ok) {
      const code = String(data.__type || response.headers.get("x-amzn-ErrorType") || response.status).split("#").pop();
      throw new ApiError(code, data.message || data.Message || text, response.status);
    }
    return data;
  }

  const control = (op, params) => send("/", {
    "content-type": "application/x-amz-json-1.1", "x-amz-target": `AmazonPersonalize.${op}` }, params);
  const rest = (path, params) => send(path, { "content-type": "application/json" }, params);

  /** Every page of a List* operation (`key` names the list member). */
  async function listAll(op, params, key) {
    let out = [], token;
    do {
      const page = await control(op, { ...params, ...(token ? { nextToken: token } : {}), maxResults: 100 });
      out = out.concat(page[key] || []);
      token = page.nextToken;
    } while (token);
    return out;
  }

  /** The deployment's settings: inline in the served page (chalicelib/console document()),
   *  else settings.json (the page opened from its source files). */
  async function loadSettings() {
    const inline = document.getElementById("settings");
    try { settings = inline ? JSON.parse(inline.textContent) : await (await fetch(base + "/console/settings.json")).json(); }
    catch (e) { /* default */ }
    return settings;
  }

  return {
    base, ApiError, control, listAll, loadSettings, creds,
    settings: () => settings,
    signIn: (accessKey, secret, region) => sessionStorage.setItem("personalize-console-keys",
      JSON.stringify({ accessKey, secret, region })),
    signOut: () => sessionStorage.removeItem("personalize-console-keys"),
    recommendations: (p) => rest("/recommendations", p),
    ranking: (p) => rest("/personalize-ranking", p),
    putEvents: (p) => rest("/events", p),
    /** The console's CSV upload to the stack's data bucket (chalicelib/service/uploads.py):
     *  -> {dataLocation, bytes, columns}. */
    upload: (datasetArn, fileName, bytes) => send(
      `/console/upload?datasetArn=${encodeURIComponent(datasetArn)}&fileName=${encodeURIComponent(fileName)}`,
      { "content-type": "application/octet-stream" }, bytes),
  };
})();
