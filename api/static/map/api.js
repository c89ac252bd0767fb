// The API client of the map page: bearer key, Accept-Language, problem+json errors, and Server-Sent Events over
// fetch (EventSource cannot send an Authorization header).
"use strict";

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());

export class Api {
  constructor(getKey, getLang) { this.getKey = getKey; this.getLang = getLang; }

  headers(extra = {}) {
    const h = { "Accept-Language": this.getLang(), ...extra };
    const key = this.getKey();
    if (key) h.Authorization = `Bearer ${key}`;
    return h;
  }

  async request(method, path, { query, body, headers = {}, idempotent = false } = {}) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
    const h = this.headers(headers);
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (idempotent) h["Idempotency-Key"] = newKey();
    const r = await fetch(url, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 204) return null;
    const type = r.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await r.json() : await r.text();
    if (!r.ok) throw new ApiError(r.status, typeof data === "object" ? data : { detail: String(data).slice(0, 200) });
    return data;
  }

  get(path, query) { return this.request("GET", path, { query }); }
  post(path, body, opts = {}) { return this.request("POST", path, { body, idempotent: true, ...opts }); }

  // Reads /v1/events until `signal` aborts; calls onEvent({event, data, id}) per record. Returns when the stream
  // ends; throws ApiError when the server refuses it.
  async events(onEvent, signal) {
    const r = await fetch("/v1/events", { headers: this.headers({ Accept: "text/event-stream" }), signal });
    if (!r.ok) {
      let p = {};
      try { p = await r.json(); } catch (e) { /* not JSON */ }
      throw new ApiError(r.status, p);
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const rec = parseSse(block);
        if (rec) onEvent(rec);
      }
    }
  }
}

export function parseSse(block) {
  let event = "message", id = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  if (!data.length) return null;
  const text = data.join("\n");
  let parsed = text;
  try { parsed = JSON.parse(text); } catch (e) { /* plain text */ }
  return { event, id, data: parsed };
}
