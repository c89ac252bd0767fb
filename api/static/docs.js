// Renders /openapi.json as a browsable page, with a small "Try it" form per operation. No external assets.
"use strict";

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
};

const resolve = (spec, schema) => {
  if (schema && schema.$ref) return spec.components.schemas[schema.$ref.split("/").pop()] || schema;
  return schema || {};
};

function schemaText(spec, schema, depth = 0) {
  schema = resolve(spec, schema);
  if (depth > 3) return "…";
  if (schema.type === "array") return [schemaText(spec, schema.items, depth + 1)];
  if (schema.type === "object" && schema.properties) {
    const out = {};
    for (const [k, v] of Object.entries(schema.properties)) out[k] = schemaText(spec, v, depth + 1);
    return out;
  }
  const t = Array.isArray(schema.type) ? schema.type.join("|") : schema.type || "any";
  return schema.enum ? `${t} (${schema.enum.join(", ")})` : t;
}

function tryIt(spec, path, method, op) {
  const form = el("form", { class: "try" });
  const inputs = {};
  for (const p of op.parameters || []) {
    const input = el("input", { name: p.name, placeholder: p.description || "" });
    inputs[p.name] = [p, input];
    form.append(el("div", {}, el("label", {}, `${p.name}${p.required ? " *" : ""} `, input)));
  }
  let body = null;
  if (op.requestBody) {
    body = el("textarea", { rows: 6, cols: 70, placeholder: "request body" });
    form.append(el("div", {}, body));
  }
  const out = el("pre");
  form.append(el("button", { type: "submit" }, "Send"), out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let url = path;
    const qs = new URLSearchParams();
    for (const [name, [p, input]] of Object.entries(inputs)) {
      if (!input.value) continue;
      if (p.in === "path") url = url.replace(`{${name}}`, encodeURIComponent(input.value));
      else if (p.in === "query") qs.append(name, input.value);
    }
    if ([...qs].length) url += "?" + qs;
    const headers = {};
    const key = document.getElementById("key").value.trim();
    if (key) headers.Authorization = `Bearer ${key}`;
    if (body && body.value) headers["Content-Type"] = "application/json";
    const res = await fetch(url, { method: method.toUpperCase(), headers, body: body && body.value || undefined });
    const text = await res.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
    out.textContent = `${res.status} ${res.statusText}\n${shown}`;
  });
  return form;
}

function operation(spec, path, method, op) {
  const params = op.parameters || [];
  const rows = params.map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in),
    el("td", {}, p.required ? "required" : ""), el("td", {}, JSON.stringify(p.schema || {})),
    el("td", {}, p.description || "")));
  const responses = Object.entries(op.responses || {}).map(([status, r]) => {
    const media = Object.entries(r.content || {})[0];
    return el("tr", {}, el("td", {}, status), el("td", {}, r.description || ""),
      el("td", {}, media ? el("pre", {}, `${media[0]}\n${JSON.stringify(schemaText(spec, media[1].schema), null, 2)}`) : ""));
  });
  const body = el("div", { class: "body" }, el("p", {}, op.description || ""));
  if (rows.length) body.append(el("h4", {}, "Parameters"), el("table", {}, ...rows));
  if (op.requestBody) {
    const media = Object.entries(op.requestBody.content || {});
    body.append(el("h4", {}, "Request body"),
      ...media.map(([ct, m]) => el("pre", {}, `${ct}\n${JSON.stringify(schemaText(spec, m.schema), null, 2)}`)));
  }
  body.append(el("h4", {}, "Responses"), el("table", {}, ...responses), el("h4", {}, "Try it"),
    tryIt(spec, path, method, op));
  return el("details", { class: "op" }, el("summary", {}, el("span", { class: `method ${method}` }, method.toUpperCase()),
    el("span", { class: "path" }, path), el("span", { class: "summary" }, op.summary || "")), body);
}

async function main() {
  const main = document.getElementById("endpoints");
  const res = await fetch("/openapi.json");
  const spec = await res.json();
  document.getElementById("title").textContent = `${spec.info.title} ${spec.info.version}`;
  document.getElementById("description").textContent = spec.info.description || "";
  const byTag = {};
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ["other"])[0];
      (byTag[tag] = byTag[tag] || []).push(operation(spec, path, method, op));
    }
  }
  main.replaceChildren();
  for (const [tag, ops] of Object.entries(byTag)) main.append(el("h2", {}, tag), ...ops);
}

main().catch((err) => {
  document.getElementById("endpoints").textContent = `Could not load /openapi.json: ${err}`;
});
