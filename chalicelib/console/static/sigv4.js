// Signature Version 4 in the browser (WebCrypto): the same canonical request, string to
// sign and key derivation as botocore's SigV4Auth, which the server uses to verify
// (chalicelib/auth/sigv4.py). The signed path is the page's own URL path, the form the
// server accepts behind API Gateway and on ministack/LocalStack (auth/gate.signed_paths).
"use strict";
const SigV4 = (() => {
  const enc = new TextEncoder();
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
  const bytes = (x) => (typeof x === "string" ? enc.encode(x) : x);
  const sha256 = async (data) => hex(await crypto.subtle.digest("SHA-256", bytes(data)));
  async function hmac(key, msg) {
    const k = await crypto.subtle.importKey("raw", bytes(key), { name: "HMAC", hash: "SHA-256" },
                                            false, ["sign"]);
    return crypto.subtle.sign("HMAC", k, enc.encode(msg));
  }
  // RFC 3986 unreserved characters stay, everything else is %XX (as botocore quotes)
  const rfc3986 = (s) => encodeURIComponent(s).replace(/[!'()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  const amzDate = (now) => now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");

  /** Headers to send (without Host, which the browser sets) for the request. */
  async function sign({ method, url, headers, body, accessKey, secret, region, service, now }) {
    const u = new URL(url);
    const stamp = amzDate(now || new Date());
    const day = stamp.slice(0, 8);
    const all = { host: u.host, "x-amz-date": stamp };
    for (const [k, v] of Object.entries(headers || {})) all[k.toLowerCase()] = String(v);
    const names = Object.keys(all).sort();
    const canonicalHeaders = names.map((n) => `${n}:${all[n].trim().replace(/\s+/g, " ")}\n`).join("");
    const query = Array.from(u.searchParams).map(([k, v]) => [rfc3986(k), rfc3986(v)])
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`).join("&");
    const canonical = [method, u.pathname, query, canonicalHeaders, names.join(";"),
                       await sha256(body || "")].join("\n");
    const scope = `${day}/${region}/${service}/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", stamp, scope, await sha256(canonical)].join("\n");
    let key = enc.encode("AWS4" + secret);
    for (const part of [day, region, service, "aws4_request"]) key = await hmac(key, part);
    const signature = hex(await hmac(key, toSign));
    const out = {};
    for (const n of names) if (n !== "host") out[n] = all[n];
    out.authorization = `AWS4-HMAC-SHA256 Credential=${accessKey}/${scope}, ` +
                        `SignedHeaders=${names.join(";")}, Signature=${signature}`;
    return out;
  }
  return { sign, sha256 };
})();
