// The map page: search stops, plan, draw itineraries in route colours, departures, closures, offer → book →
// live events → cancel. Everything it shows comes from the API with the user's key; no text from the server is
// ever inserted as HTML (textContent only).
"use strict";
import { Api, ApiError } from "/static/map/api.js";
import { WORDS } from "/static/map/i18n.js";

const CONFIG = JSON.parse(document.getElementById("maas-config").textContent || "{}");
const $ = (id) => document.getElementById(id);
const TOKYO_MS = 9 * 3600 * 1000;
const SEVERITY_COLOR = { severe: "#b3261e", warning: "#e07b00", info: "#1f5fa8" };
const MODES = ["SUBWAY", "BUS", "SHUTTLE", "TRAM", "RAIL", "MONORAIL", "FERRY"];
const CLOSURE_POLL_MS = 15000;

const state = {
  lang: localStorage.getItem("maas.lang") || ((navigator.language || "ja").startsWith("ja") ? "ja" : "en"),
  key: localStorage.getItem("maas.key") || (CONFIG.demo_keys || {}).partner || "",
  places: { from: null, to: null },
  network: null, stopCoords: {}, lineLayers: {}, itineraries: [], selected: -1,
  offer: null, booking: null, events: [], closures: [],
};
const api = new Api(() => state.key, () => state.lang);
const t = (k) => (WORDS[state.lang] || WORDS.en)[k] ?? k;
const el = (tag, props = {}, ...children) => {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") n.className = v; else if (k === "style") n.style.cssText = v;
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), v); else if (v !== undefined && v !== null) n.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) n.append(c instanceof Node ? c : String(c));
  return n;
};
// Names in the page's language, whichever language the object was fetched in (Accept-Language en moves the
// Japanese to name_ja / headsign_ja).
const name = (o) => (state.lang === "en" ? (o.name_en || o.name) : (o.name_ja || o.name || o.name_en)) || "";
const headsign = (o) => (state.lang === "en" ? o.headsign : (o.headsign_ja || o.headsign)) || "";
const hhmm = (iso) => (iso ? iso.slice(11, 16) : "");
const color = (c) => "#" + (c || "777777").replace(/^#/, "");
const status = (msg, error = false) => { const s = $("status"); s.textContent = msg || ""; s.className = error ? "error" : ""; };
const fail = (e) => {
  const p = e instanceof ApiError ? e.problem : {};
  status(`${e.status ? e.status + ": " : ""}${e.message}${p.field ? ` (${p.field})` : ""}`, true);
  // "did you mean": an unknown place name comes back with the stations it could mean
  if (Array.isArray(p.suggestions) && p.suggestions.length && (p.field === "from" || p.field === "to")) {
    $("status").append(el("div", { class: "row wrap" }, t("did_you_mean"), ...p.suggestions.slice(0, 5).map((s) =>
      el("button", { type: "button", class: "suggestion", onclick: () => { setPlace(p.field, s.lat !== undefined ? s : { ...s, ...coordsOfStation(s.id) }); status(""); } }, name(s)))));
  }
  if (e.status === 401) showKeyPanel(true);
};
const coordsOfStation = (id) => {
  const f = state.network && state.network.features.find((x) => x.properties.id === id);
  const ll = f ? f.geometry.coordinates : state.stopCoords[id];
  return ll ? { lon: ll[0], lat: ll[1] } : {};
};

// ------------------------------------------------------------------------------------------------------- the map
// SVG for everything people click (each path gets its own events, whatever pane is on top); one canvas, in the
// lowest pane and not interactive, for the thousands of street edges.
const map = L.map("map", { zoomControl: true }).setView([35.68, 139.76], 12);
map.createPane("streets").style.zIndex = 250;
map.createPane("lines").style.zIndex = 300;
map.createPane("closuresPane").style.zIndex = 420;
map.createPane("trip").style.zIndex = 450;
map.createPane("stationsPane").style.zIndex = 460;
const canvas = L.canvas({ padding: 0.3, pane: "streets" });
const layers = {
  streets: L.layerGroup().addTo(map), lines: L.layerGroup().addTo(map), stations: L.layerGroup().addTo(map),
  closures: L.layerGroup().addTo(map), itinerary: L.layerGroup().addTo(map), pins: L.layerGroup().addTo(map),
};
let layerControl = null;
map.attributionControl.setPrefix(false);
map.attributionControl.addAttribution("出典：東京都交通局・公共交通オープンデータ協議会 · Leaflet");

function layerSwitch() {
  if (layerControl) layerControl.remove();
  layerControl = L.control.layers(null, {
    [t("streets")]: layers.streets, [t("lines")]: layers.lines, [t("stations")]: layers.stations,
    [t("closure_layer")]: layers.closures, [t("itinerary")]: layers.itinerary,
  }, { collapsed: true }).addTo(map);
}

function placePopup(latlng, place) {
  const box = el("div", { class: "popup" }, el("h3", {}, place ? name(place) : t("here")));
  if (place && place.id) box.append(el("div", { class: "muted" }, place.id));
  const row = el("div", { class: "row wrap" },
    el("button", { type: "button", "data-act": "from", onclick: () => { setPlace("from", place || pointPlace(latlng)); map.closePopup(); } }, t("from_here")),
    el("button", { type: "button", "data-act": "to", onclick: () => { setPlace("to", place || pointPlace(latlng)); map.closePopup(); } }, t("to_here")));
  if (place && place.id) row.append(el("button", { type: "button", "data-act": "departures", onclick: () => { map.closePopup(); departures(place); } }, t("show_departures")));
  box.append(row);
  L.popup().setLatLng(latlng).setContent(box).openOn(map);
}
const pointPlace = (ll) => ({ id: null, name: `${ll.lat.toFixed(5)},${ll.lng.toFixed(5)}`, lat: ll.lat, lon: ll.lng });
map.on("click", (e) => placePopup(e.latlng, null));

async function loadNetwork() {
  status(t("loading"));
  const date = ($("when").value || tokyoNow()).slice(0, 10);
  const [net, streets] = await Promise.all([api.get("/v1/map/network", { date }), api.get("/v1/map/streets")]);
  state.network = net;
  state.stopCoords = net.stops || {};
  layers.lines.clearLayers(); layers.stations.clearLayers(); layers.streets.clearLayers();
  state.lineLayers = {};
  L.geoJSON(streets, { pane: "streets", renderer: canvas, interactive: false,
    style: () => ({ color: "#b9bec6", weight: 1, opacity: 0.9 }) }).addTo(layers.streets);
  const modes = new Set();
  const byOperator = {};
  for (const f of net.features) {
    const p = f.properties;
    if (p.kind === "line") {
      modes.add(p.mode);
      const op = (byOperator[p.operator] ||= { group: L.layerGroup().addTo(layers.lines), routes: new Set(), colors: new Set() });
      op.routes.add(p.route_id); op.colors.add(color(p.color));
      const line = L.geoJSON(f, { pane: "lines",
        style: () => ({ color: color(p.color), weight: p.mode === "BUS" ? 2 : 4, opacity: 0.55 }) });
      line.bindTooltip(`${p.short_name || ""} ${p.long_name || ""} (${p.operator})`.trim(), { sticky: true });
      line.addTo(op.group);
      (state.lineLayers[p.route_id] ||= []).push(f);
    } else if (p.kind === "station") {
      const [lon, lat] = f.geometry.coordinates;
      const m = L.circleMarker([lat, lon], { pane: "stationsPane", radius: stationRadius(), color: "#444", weight: 1, fillColor: "#fff", fillOpacity: 1 });
      m.bindTooltip(() => name(p));
      m.on("click", (e) => { L.DomEvent.stopPropagation(e); placePopup(e.latlng, { id: p.id, name: p.name, name_en: p.name_en, lat, lon }); });
      m.addTo(layers.stations);
    }
  }
  renderModes([...modes]);
  renderOperators(byOperator);
  const notice = (net.notices || [])[0];
  if (net.bbox) map.fitBounds([[net.bbox[1], net.bbox[0]], [net.bbox[3], net.bbox[2]]], { padding: [10, 10] });
  if (streets.features.length) map.attributionControl.addAttribution("© OpenStreetMap contributors");
  status(notice ? notice.message : "", Boolean(notice));
}

// An operator checking its published network: each operator's lines can be shown alone.
function renderOperators(byOperator) {
  $("network-list").replaceChildren(...Object.entries(byOperator).sort().map(([op, o]) => {
    const box = el("input", { type: "checkbox", checked: "", "data-operator": op, onchange: () => {
      if (box.checked) o.group.addTo(layers.lines); else layers.lines.removeLayer(o.group); } });
    return el("li", {}, el("label", {}, box, " ", ...[...o.colors].slice(0, 8).map((c) => el("span", { class: "swatch", style: `background:${c}` })),
      ` ${op} · ${o.routes.size} ${t("routes")}`));
  }));
  $("network").hidden = false;
}

// Stations shrink as the map zooms out, so a whole city's stops do not hide its lines.
const stationRadius = () => (map.getZoom() >= 15 ? 5 : map.getZoom() >= 13 ? 4 : map.getZoom() >= 12 ? 3 : 2);
map.on("zoomend", () => layers.stations.eachLayer((m) => m.setRadius(stationRadius())));

function renderModes(present) {
  const box = $("modes");
  box.querySelectorAll("label").forEach((n) => n.remove());
  for (const m of MODES.filter((x) => present.includes(x))) {
    box.append(el("label", {}, el("input", { type: "checkbox", value: m, checked: "" }), " ", el("span", { "data-t": m }, t(m))));
  }
}

// ------------------------------------------------------------------------------------------------ stop search
function setPlace(which, place) {
  state.places[which] = place;
  $(which).value = place ? name(place) : "";
  $(which + "-suggest").replaceChildren();
  drawPins();
}

function drawPins() {
  layers.pins.clearLayers();
  for (const which of ["from", "to"]) {
    const p = state.places[which];
    if (!p || p.lat === undefined) continue;
    L.marker([p.lat, p.lon], { interactive: false, keyboard: false, icon: L.divIcon({ className: "", html: `<div class="pin ${which}">${which === "from" ? "A" : "B"}</div>`, iconSize: [24, 24] }) })
      .addTo(layers.pins);
  }
}

function searchBox(which) {
  const input = $(which), list = $(which + "-suggest");
  let timer = null, seq = 0;
  input.addEventListener("input", () => {
    state.places[which] = null;
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q || /^-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?$/.test(q)) { list.replaceChildren(); return; }
    timer = setTimeout(async () => {
      const mine = ++seq;
      try {
        const res = await api.get("/v1/stops", { q, limit: 8 });
        if (mine !== seq) return;
        list.replaceChildren(...res.stops.map((s) => el("li", { role: "option", "data-id": s.id, onclick: () => choose(s) },
          name(s), " ", el("small", {}, `${state.lang === "en" ? s.name : (s.name_en || "")} · ${s.operator} · ${s.type}`))));
      } catch (e) { fail(e); }
    }, 200);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && list.firstChild) { e.preventDefault(); list.firstChild.click(); }
    if (e.key === "Escape") list.replaceChildren();
  });
  const choose = (s) => { setPlace(which, { id: s.id, name: s.name, name_en: s.name_en, lat: s.lat, lon: s.lon }); map.panTo([s.lat, s.lon]); };
}

async function resolvePlace(which) {
  const p = state.places[which];
  if (p) return p.id || `${p.lat},${p.lon}`;
  const text = $(which).value.trim();
  if (!text) throw new ApiError(0, { detail: `${t(which)}?`, field: which });
  if (/^-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?$/.test(text)) return text.replace(/\s/g, "");
  const res = await api.get("/v1/stops", { q: text, limit: 5 });
  const best = res.stops.find((s) => s.type === "station") || res.stops[0];
  if (!best) return text; // let the planner answer with its own detail (and suggestions)
  setPlace(which, { id: best.id, name: best.name, name_en: best.name_en, lat: best.lat, lon: best.lon });
  return best.id;
}

// ------------------------------------------------------------------------------------------------------ plan
const tokyoNow = () => new Date(Date.now() + TOKYO_MS).toISOString().slice(0, 16);

async function plan(ev, cursor) {
  ev && ev.preventDefault && ev.preventDefault();
  status(t("planning"));
  try {
    let q = state.lastPlan;
    if (!cursor || !q) {
      const [from, to] = [await resolvePlace("from"), await resolvePlace("to")];
      const checked = [...$("modes").querySelectorAll("input:checked")].map((i) => i.value);
      const all = $("modes").querySelectorAll("input").length;
      q = { from, to, num: 3 };
      q[$("when-kind").value] = ($("when").value || tokyoNow()) + ":00+09:00";
      if (checked.length && checked.length < all) q.modes = checked.join(",");
      if ($("wheelchair").checked) q.wheelchair = "true";
      state.lastPlan = q;
    }
    const res = await api.get("/v1/plan", cursor ? { ...q, cursor } : q);
    state.page = res.page || {};
    state.itineraries = res.itineraries || [];
    renderItineraries();
    status(state.itineraries.length ? "" : (((res.notices || [])[0] || {}).message || t("no_itinerary")), !state.itineraries.length);
    if (state.itineraries.length) selectItinerary(0);
  } catch (e) { fail(e); }
}

const headline = (w) => (w.headline && (state.lang === "en" ? (w.headline.en || w.headline.ja) : (w.headline.ja || w.headline.en))) || w.id;

function legBadge(leg) {
  if (leg.mode === "WALK") return el("span", { class: "badge walk" }, `${t("walk")} ${Math.round(leg.duration_s / 60)}${t("min")}`);
  const r = leg.route || {};
  return el("span", { class: "badge", style: `background:${color(r.color)};color:${color(r.text_color || "FFFFFF")}` },
    r.short_name || r.long_name || leg.mode);
}

function renderItineraries() {
  const ol = $("itineraries");
  ol.replaceChildren();
  state.itineraries.forEach((it, i) => {
    const legs = it.legs.map((leg) => el("div", { class: "leg-detail" }, legBadge(leg), " ",
      `${hhmm(leg.departure)} ${name(leg.from)} → ${hhmm(leg.arrival)} ${name(leg.to)}`,
      headsign(leg) ? ` (${headsign(leg)} ${t("headsign")})` : ""));
    const li = el("li", { class: "itinerary", "data-index": i, "data-modes": it.legs.map((l) => l.mode).join(" "), onclick: () => selectItinerary(i) },
      el("div", { class: "sum" }, `${hhmm(it.departure)} → ${hhmm(it.arrival)} · ${Math.round(it.duration_s / 60)} ${t("min")} · ${it.transfers} ${t("transfers")}`),
      el("div", { class: "legs" }, it.legs.map(legBadge)), ...legs,
      it.fare ? el("div", { class: "fare" }, `¥${it.fare.total} (${it.fare.medium === "ic" ? "IC" : t("ticket")})`) : null,
      ...(it.warnings || []).map((w) => el("div", { class: `warning sev-${w.severity}` }, `⚠ ${headline(w)}`)),
      (it.avoided || []).length ? el("div", { class: "muted" }, `${t("avoids")}: ${it.avoided.map(headline).join(" / ")}`) : null,
      el("div", { class: "row" }, el("button", { type: "button", class: "offer-btn", onclick: (e) => { e.stopPropagation(); offer(i); } }, t("offer"))));
    ol.append(li);
  });
  const pageRow = el("li", { class: "row" });
  for (const [dir, label] of [["earlier", t("earlier")], ["later", t("later")]]) {
    if (state.page && state.page[dir]) pageRow.append(el("button", { type: "button", id: `${dir}-btn`, onclick: () => plan(null, state.page[dir]) }, label));
  }
  if (pageRow.childNodes.length) ol.append(pageRow);
  $("results").hidden = !state.itineraries.length;
}

function selectItinerary(i) {
  state.selected = i;
  document.querySelectorAll(".itinerary").forEach((n) => n.classList.toggle("selected", Number(n.dataset.index) === i));
  drawItinerary(state.itineraries[i]);
}

// A stop of the drawn itinerary: clicking it offers the same as a station (from/to here, departures).
function stopMarker(s, radius, c, weight) {
  const m = L.circleMarker([s.lat, s.lon], { pane: "trip", radius, color: c, fillColor: "#fff", fillOpacity: 1, weight });
  if (s.stop_id) m.on("click", (e) => { L.DomEvent.stopPropagation(e); placePopup(e.latlng, { id: s.stop_id, name: s.name, name_en: s.name_en, lat: s.lat, lon: s.lon }); });
  return m;
}

function drawItinerary(it) {
  layers.itinerary.clearLayers();
  if (!it) return;
  const bounds = [];
  for (const leg of it.legs) {
    const coords = (leg.geometry && leg.geometry.coordinates) || [[leg.from.lon, leg.from.lat], [leg.to.lon, leg.to.lat]];
    const ll = coords.map(([lon, lat]) => [lat, lon]);
    bounds.push(...ll);
    const walk = leg.mode === "WALK";
    const c = walk ? "#555" : color(leg.route && leg.route.color);
    if (!walk) L.polyline(ll, { pane: "trip", color: "#fff", weight: 9, opacity: 0.9 }).addTo(layers.itinerary);
    L.polyline(ll, { pane: "trip", color: c, weight: walk ? 4 : 6, dashArray: walk ? "4 8" : null, className: "leg" })
      .bindTooltip(walk ? `${t("walk")} ${leg.distance_m} m` : `${(leg.route && (leg.route.short_name || leg.route.long_name)) || leg.mode} ${headsign(leg)}`)
      .addTo(layers.itinerary);
    if (!walk) {
      for (const s of leg.intermediate_stops || []) {
        stopMarker(s, 3, c, 2).bindTooltip(`${hhmm(s.departure || s.arrival)} ${name(s)}`).addTo(layers.itinerary);
      }
      for (const [p, when] of [[leg.from, leg.departure], [leg.to, leg.arrival]]) {
        stopMarker(p, 6, c, 3).bindTooltip(`${hhmm(when)} ${name(p)}`).addTo(layers.itinerary);
      }
    }
  }
  if (bounds.length) map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
}

// --------------------------------------------------------------------------------------------- departures
async function departures(place) {
  const when = $("when").value;
  try {
    const res = await api.get(`/v1/stops/${encodeURIComponent(place.id)}/departures`,
      { at: when ? when + ":00+09:00" : undefined, limit: 12 });
    $("departures-title").textContent = `${t("departures")} · ${name(place)}`;
    const rows = res.departures.map((d) => el("tr", { class: d.status === "closed" ? "closed" : "" },
      el("td", {}, hhmm(d.departure)), el("td", {}, legBadge({ mode: d.mode, route: d.route })),
      el("td", {}, headsign(d)), el("td", {}, d.status === "closed" ? t("closed") : "")));
    const warn = (res.warnings || []).map((w) => el("tr", {}, el("td", { colspan: 4, class: `warning sev-${w.severity}` }, `⚠ ${headline(w)}`)));
    $("departures-body").replaceChildren(...warn, ...(rows.length ? rows : [el("tr", {}, el("td", {}, t("no_departures")))]));
    $("departures").hidden = false;
    $("departures").scrollIntoView({ block: "nearest" });
  } catch (e) { fail(e); }
}

// ------------------------------------------------------------------------------------------------- closures
function closureText(c) {
  const msg = c.message || {};
  return (state.lang === "en" ? (msg.en || msg.ja) : (msg.ja || msg.en)) || c.id;
}

async function loadClosures() {
  try {
    const res = await api.get("/v1/closures", { active: "true" });
    state.closures = res.closures || [];
    drawClosures();
  } catch (e) { if (e.status !== 503) fail(e); }
}

function drawClosures() {
  layers.closures.clearLayers();
  const list = $("closures-list");
  list.replaceChildren();
  for (const c of state.closures) {
    const col = SEVERITY_COLOR[c.severity] || SEVERITY_COLOR.severe;
    const box = el("div", { class: "popup" }, el("h3", { class: `sev-${c.severity}` }, closureText(c)),
      el("div", {}, `${c.effect} · ${c.cause} · ${c.severity}`),
      el("div", { class: "muted" }, `${c.start.slice(0, 16).replace("T", " ")} – ${c.end ? c.end.slice(0, 16).replace("T", " ") : t("lifted_on")}`),
      el("div", { class: "muted" }, c.source || ""));
    const style = { pane: "closuresPane", color: col, fillColor: col, fillOpacity: 0.25, weight: 2, className: "closure" };
    const parts = [];
    const tg = c.targets || {};
    for (const a of [...(tg.areas || []), ...(tg.walk_areas || [])]) {
      if (a.type === "Circle") parts.push(L.circle([a.center[1], a.center[0]], { ...style, radius: a.radius_m }));
      else parts.push(L.geoJSON(a, { style: () => style, pane: "closuresPane" }));
    }
    const coordsOf = (id) => state.stopCoords[id];
    for (const id of [...(tg.stops || []), ...(tg.stations || [])]) {
      let ll = coordsOf(id);
      if (!ll && state.network) {
        const st = state.network.features.find((f) => f.properties.kind === "station" && f.properties.id === id);
        ll = st && st.geometry.coordinates;
      }
      if (ll) parts.push(L.circleMarker([ll[1], ll[0]], { ...style, radius: 10, fillOpacity: 0.5 }));
    }
    for (const rid of tg.routes || []) {
      for (const f of state.lineLayers[rid] || []) parts.push(L.geoJSON(f, { style: () => ({ ...style, weight: 6, dashArray: "6 6" }), pane: "closuresPane" }));
    }
    for (const s of tg.segments || []) {
      const a = coordsOf(s.from_stop), b = coordsOf(s.to_stop);
      if (a && b) parts.push(L.polyline([[a[1], a[0]], [b[1], b[0]]], { ...style, weight: 7, dashArray: "6 6" }));
    }
    const group = L.featureGroup(parts).bindPopup(box);
    group.addTo(layers.closures);
    const li = el("li", { class: `sev-${c.severity}`, "data-closure": c.id, onclick: () => {
      if (parts.length) { map.fitBounds(group.getBounds(), { maxZoom: 16, padding: [30, 30] }); group.openPopup(); }
    } }, closureText(c), el("div", { class: "muted" }, `${c.effect} · ${c.start.slice(0, 16).replace("T", " ")}`));
    list.append(li);
  }
  if (!state.closures.length) list.append(el("li", { class: "muted" }, t("no_closures")));
}

// ------------------------------------------------------------------------------------ offer → book → cancel
function bookingPanel(...children) {
  $("booking-body").replaceChildren(...children);
  $("booking").hidden = false;
  $("booking").scrollIntoView({ block: "nearest" });
}

async function offer(i) {
  const it = state.itineraries[i];
  selectItinerary(i);
  try {
    const adults = Math.max(0, Math.min(9, Number($("adults").value) || 1));
    state.offer = await api.post("/v1/offers", { itinerary: it, passengers: { adult: adults } });
    state.booking = null;
    state.disruption = null;
    renderOffer();
  } catch (e) { fail(e); }
}

function renderOffer() {
  const o = state.offer, q = o.quote || {};
  const legs = (q.legs || []).map((l) => el("div", { class: "leg-detail" }, `#${l.index} ${l.operator} ${l.mode}: ¥${l.amount} (${l.basis || ""})`));
  // sandbox payment: a test token (tok_visa approves, tok_chargeDeclined declines) or a test card number
  const card = el("input", { id: "card", value: "tok_visa", list: "sandbox-cards", autocomplete: "off", spellcheck: "false" });
  const cards = el("datalist", { id: "sandbox-cards" }, ...["tok_visa", "tok_jcb", "tok_chargeDeclined", "4242424242424242"].map((v) => el("option", { value: v })));
  bookingPanel(el("div", { id: "offer", "data-offer": o.id }, `${t("total")}: ¥${q.total} ${q.currency || "JPY"}`), ...legs,
    el("div", { class: "muted" }, `${t("expires")} ${hhmm(o.expires_at)}`),
    el("label", { for: "card" }, t("card")), card, cards,
    el("div", { class: "row" }, el("button", { type: "button", id: "book-btn", class: "primary", onclick: () => book(card.value.trim()) }, t("book"))));
}

async function book(card) {
  try {
    const payment = card.startsWith("tok_") ? { token: card } : { card_number: card.replace(/\s/g, "") };
    state.booking = await api.post("/v1/bookings", { offer_id: state.offer.id, payment });
    renderBooking();
  } catch (e) { fail(e); }
}

function renderBooking() {
  const b = state.booking;
  const tickets = (b.legs || []).map((l) => el("div", { class: "ticket" },
    `#${l.index} ${l.operator} ${l.state} ¥${l.amount}`, l.ticket ? ` · ${t("ticket")} ${l.ticket.ticket_id} (${l.ticket.validation_code || ""})` : "",
    l.refund ? ` · ${t("refund")} ¥${l.refund.amount ?? ""}` : ""));
  const cancellable = b.state === "CONFIRMED";
  const dis = state.disruption && state.disruption.booking_id === b.id ? state.disruption : null;
  const disruption = dis && el("div", { id: "disruption", class: "sev-severe" }, `${t("disrupted")}: ${dis.reason || ""}`,
    dis.alternative ? el("div", { class: "row" }, el("button", { type: "button", id: "alternative-btn", onclick: () => {
      state.itineraries = [dis.alternative]; renderItineraries(); selectItinerary(0); } }, t("alternative"))) : null);
  bookingPanel(disruption || "", el("div", { id: "booking-state", "data-state": b.state, "data-booking": b.id }, `${b.id} · ${t("state")}: ${b.state} · ¥${b.total}`),
    ...tickets, el("div", { class: "muted" }, `payment: ${(b.payment && b.payment.status) || ""}`),
    el("div", { class: "row" }, el("button", { type: "button", id: "cancel-btn", class: "danger", disabled: cancellable ? null : "", onclick: cancel }, t("cancel"))));
}

async function cancel() {
  try {
    state.booking = await api.post(`/v1/bookings/${encodeURIComponent(state.booking.id)}/cancel`, {});
    renderBooking();
  } catch (e) { fail(e); }
}

// ---------------------------------------------------------------------------------------------- live events
let eventsAbort = null;
async function listen() {
  if (eventsAbort) eventsAbort.abort();
  const ctl = eventsAbort = new AbortController();
  const list = $("events-list");
  list.replaceChildren(el("li", { class: "muted", "data-t": "events_on" }, t("events_on")));
  for (let attempt = 0; !ctl.signal.aborted; attempt++) {
    try {
      await api.events((rec) => {
        if (rec.event === "shutdown") return;
        state.events.push(rec);
        const d = rec.data || {};
        const text = `${new Date().toLocaleTimeString()} ${rec.event} ${d.booking_id || ""} ${d.state || d.status || ""}`;
        list.prepend(el("li", { "data-event": rec.event }, text));
        if (state.booking && d.booking_id === state.booking.id && d.state && d.state !== state.booking.state) {
          api.get(`/v1/bookings/${encodeURIComponent(state.booking.id)}`).then((b) => { state.booking = b; renderBooking(); }).catch(() => {});
        }
        if (rec.event === "disrupted") {
          loadClosures();
          if (state.booking && d.booking_id === state.booking.id) { state.disruption = d; renderBooking(); }
        }
      }, ctl.signal);
    } catch (e) {
      if (ctl.signal.aborted) return;
      if (e instanceof ApiError && (e.status === 403 || e.status === 401 || e.status === 503)) {
        list.replaceChildren(el("li", { class: "muted" }, e.status === 403 ? t("events_need_partner") : e.message));
        return;
      }
    }
    await new Promise((r) => setTimeout(r, Math.min(15000, 1000 * 2 ** Math.min(attempt, 4))));
  }
}

// ----------------------------------------------------------------------------------------- key and language
function showKeyPanel(show) {
  $("key-section").hidden = !show;
  const demo = CONFIG.demo_keys || {};
  $("demo-keys").replaceChildren(...Object.entries(demo).map(([role, key]) =>
    el("button", { type: "button", onclick: () => useKey(key) }, `${t("demo_key")}: ${role}`)));
}

async function useKey(key) {
  state.key = key.trim();
  localStorage.setItem("maas.key", state.key);
  $("key-input").value = "";
  showKeyPanel(false);
  status(t("key_saved"));
  await start();
}

function applyLang() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-t]").forEach((n) => { n.textContent = t(n.dataset.t); });
  $("lang-btn").textContent = state.lang === "ja" ? "EN" : "日本語";
  for (const w of ["from", "to"]) if (state.places[w]) $(w).value = name(state.places[w]);
  renderItineraries();
  if (state.selected >= 0) selectItinerary(state.selected);
  drawClosures();
  layerSwitch();
}

let closureTimer = null;
async function start() {
  if (!state.key) { showKeyPanel(true); status(t("need_key"), true); return; }
  try {
    await loadNetwork();
  } catch (e) { fail(e); return; }
  await loadClosures();
  clearInterval(closureTimer);
  closureTimer = setInterval(loadClosures, CLOSURE_POLL_MS);
  listen();
}

$("plan-form").addEventListener("submit", plan);
$("key-form").addEventListener("submit", (e) => { e.preventDefault(); if ($("key-input").value.trim()) useKey($("key-input").value); });
$("key-btn").addEventListener("click", () => showKeyPanel($("key-section").hidden));
$("lang-btn").addEventListener("click", () => { state.lang = state.lang === "ja" ? "en" : "ja"; localStorage.setItem("maas.lang", state.lang); applyLang(); });
$("swap-btn").addEventListener("click", () => { const a = state.places.from, b = state.places.to; const ta = $("from").value, tb = $("to").value; setPlace("from", b); setPlace("to", a); if (!b) $("from").value = tb; if (!a) $("to").value = ta; });
$("closures-refresh").addEventListener("click", loadClosures);
searchBox("from");
searchBox("to");
$("when").value = tokyoNow();
if ((CONFIG.missing_assets || []).length) status(t("missing_assets"), true);
applyLang();
start();
// For tests and the curious: the page's state, read-only by convention.
window.maasMap = { state, layers, map, plan, loadClosures };
