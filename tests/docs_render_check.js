// Runs api/static/docs.js against a tiny fake DOM and the OpenAPI document given on stdin; prints what it rendered.
"use strict";
const fs = require("fs");
const spec = JSON.parse(fs.readFileSync(0, "utf8"));
class Node_ {
  constructor(tag) { this.tag = tag; this.children = []; this.attrs = {}; this._text = ""; this.className = ""; }
  setAttribute(k, v) { this.attrs[k] = v; }
  append(...c) { this.children.push(...c); }
  replaceChildren(...c) { this.children = c; }
  addEventListener() {}
  set textContent(t) { this._text = String(t); this.children = []; }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); }
}
class Text_ extends Node_ { constructor(t) { super("#text"); this._text = t; } }
const byId = {};
for (const id of ["title", "description", "endpoints", "key"]) byId[id] = new Node_("div");
global.Node = Node_;
global.document = { createElement: (t) => new Node_(t), createTextNode: (t) => new Text_(t),
                    getElementById: (id) => byId[id] };
global.fetch = async () => ({ json: async () => spec });
eval(fs.readFileSync(process.argv[2], "utf8"));
setTimeout(() => {
  const ops = [];
  const walk = (n) => { if (n.tag === "details") ops.push(n.children[0].textContent); n.children.forEach(walk); };
  walk(byId.endpoints);
  console.log(JSON.stringify({ title: byId.title.textContent, ops }));
}, 50);
