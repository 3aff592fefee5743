// Neuron atlas viewer. All data arrive as <script> files (works from file://); all text is set with textContent.
(function () {
  "use strict";
  const IDX = window.ATLAS_INDEX.main;
  const COLOURS = {red:"#c81e23",orange:"#f08214",yellow:"#f5dc23",green:"#289632",blue:"#1e46c8",purple:"#782896",
    pink:"#f596be",brown:"#784614",white:"#f5f5f5",gray:"#808080",black:"#0f0f0f"};
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; };
  const loaded = {};
  function load(src) {
    if (!loaded[src]) loaded[src] = new Promise((ok, bad) => { const s = document.createElement("script"); s.src = src; s.onload = ok; s.onerror = () => bad(new Error("cannot load " + src)); document.head.appendChild(s); });
    return loaded[src];
  }
  $("model").textContent = "— " + IDX.model;
  $("subtitle").textContent = "census at " + IDX.reduction + ", FDR alpha " + IDX.alpha + "; thresholds from permutation nulls: " +
    Object.entries(IDX.thresholds).map(([k, v]) => k + " " + Number(v).toFixed(2)).join(", ");
  const ct = $("census-table");
  const head = el("tr"); ["layer", "site", "multimodal colour", "text", "colour", "total"].forEach(h => head.appendChild(el("th", h))); ct.appendChild(head);
  IDX.layers.forEach(r => { const tr = el("tr"); [r.layer, r.site, r.multimodal_colour, r.text, r.colour, r.total].forEach(v => tr.appendChild(el("td", v))); ct.appendChild(tr);
    const o = el("option", r.layer); o.value = r.layer; $("f-layer").appendChild(o); });
  IDX.terms.forEach(t => { const o = el("option", t); o.value = t; $("f-colour").appendChild(o); });
  let shown = 100;
  async function rows() {
    const layers = $("f-layer").value === "all" ? IDX.layers.map(r => r.layer) : [Number($("f-layer").value)];
    await Promise.all(layers.map(l => load("data/layer_" + l + ".js")));
    const cls = $("f-class").value, col = $("f-colour").value, q = $("f-search").value.trim();
    let m = q.match(/^L?(\d+)[:.](\d+)$/i), unitOnly = q.match(/^\d+$/);
    const out = [];
    layers.forEach(l => window.ATLAS_LAYERS[String(l)].rows.forEach(r => {
      if (cls === "selective" ? r[1] === "none" : (cls !== "any" && r[1] !== cls)) return;
      if (col !== "any" && r[2] !== col) return;
      if (m && !(Number(m[1]) === l && Number(m[2]) === r[0])) return;
      if (unitOnly && Number(q) !== r[0]) return;
      out.push([l].concat(r));
    }));
    out.sort((a, b) => Math.max(b[5], b[6]) - Math.max(a[5], a[6]));
    return out;
  }
  async function render() {
    const rs = await rows();
    const tb = $("neurons").querySelector("tbody"); tb.textContent = "";
    $("count").textContent = rs.length + " neurons match";
    rs.slice(0, shown).forEach(r => { const tr = el("tr"); tr.dataset.layer = r[0]; tr.dataset.unit = r[1];
      r.forEach((v, i) => { const td = el("td", v); if (i === 2) td.className = "cls-" + v; tr.appendChild(td); });
      tr.addEventListener("click", () => openCard(r[0], r[1])); tb.appendChild(tr); });
  }
  function bars(title, values, labels) {
    const w = 16, h = 70, svgNS = "http://www.w3.org/2000/svg";
    const box = el("div", undefined, "tuning"); box.appendChild(el("div", title));
    const svg = document.createElementNS(svgNS, "svg"); svg.setAttribute("width", labels.length * w + 10); svg.setAttribute("height", h + 4);
    const max = Math.max(1e-6, ...values.map(Math.abs));
    values.forEach((v, i) => { const r = document.createElementNS(svgNS, "rect"); const bh = Math.abs(v) / max * (h / 2);
      r.setAttribute("x", 5 + i * w); r.setAttribute("width", w - 3); r.setAttribute("y", v >= 0 ? h / 2 - bh : h / 2); r.setAttribute("height", bh);
      r.setAttribute("fill", COLOURS[labels[i]] || "#888"); r.setAttribute("stroke", "#555");
      const t = document.createElementNS(svgNS, "title"); t.textContent = labels[i] + ": " + v.toFixed(3); r.appendChild(t); svg.appendChild(r); });
    box.appendChild(svg); return box;
  }
  async function openCard(layer, unit) {
    const shard = Math.floor(unit / IDX.shard);
    await load("data/cards_" + layer + "_" + shard + ".js");
    const c = window.ATLAS_CARDS[layer + "_" + shard][String(unit)];
    const card = $("card"); card.hidden = false; card.textContent = "";
    card.appendChild(el("h2", c.site + " · unit " + c.unit));
    card.appendChild(el("p", "class: " + c["class"] + " · preferred colour (patches): " + c.pref_colour + " · preferred word (neutral ink): " + c.pref_word, "cls-" + c["class"]));
    const st = el("table"); Object.entries(c.stats).forEach(([k, v]) => { const tr = el("tr"); tr.appendChild(el("th", k)); tr.appendChild(el("td", Number(v).toPrecision(3))); st.appendChild(tr); });
    card.appendChild(st);
    card.appendChild(el("h3", "tuning (mean activation)"));
    const tun = el("div"); if (c.tuning_colour.length) tun.appendChild(bars("colour patches", c.tuning_colour, IDX.terms));
    if (c.tuning_word.length) tun.appendChild(bars("words in neutral ink", c.tuning_word, IDX.terms));
    if (c.tuning_ink.length) tun.appendChild(bars("Stroop images by ink", c.tuning_ink, IDX.terms)); card.appendChild(tun);
    card.appendChild(el("h3", "top-activating stimuli"));
    const th = el("div", undefined, "thumbs");
    c.top.forEach(([row, act]) => { const f = el("figure"); const img = document.createElement("img"); img.src = "img/stim_" + row + ".png";
      const s = IDX.stimuli[String(row)] || {label: {}, text: ""}; img.alt = s.text; f.appendChild(img);
      f.appendChild(el("figcaption", act.toFixed(2) + " " + Object.values(s.label).filter(Boolean).join(" "))); th.appendChild(f); });
    card.appendChild(th);
    const key = c.site + ":" + c.unit;
    if (IDX.attributed.indexOf(key) >= 0) { card.appendChild(el("h3", "integrated-gradients attribution (captum) on top stimuli"));
      const img = document.createElement("img"); img.src = "img/attr_" + c.site + "_" + c.unit + ".png"; img.alt = "attribution"; card.appendChild(img); }
    card.appendChild(el("h3", "ablation of this neuron alone"));
    if (c.ablation) {
      const at = el("table"); Object.entries(c.ablation).forEach(([k, v]) => { const tr = el("tr"); tr.appendChild(el("th", k));
        tr.appendChild(el("td", typeof v === "number" && k !== "n_stimuli" ? (v >= 0 ? "+" : "") + v.toFixed(4) : v)); at.appendChild(tr); });
      card.appendChild(at);
    } else card.appendChild(el("p", "not measured for this neuron alone"));
    card.scrollIntoView();
  }
  ["f-layer", "f-class", "f-colour"].forEach(id => $(id).addEventListener("change", () => { shown = 100; render(); }));
  $("f-search").addEventListener("input", () => { shown = 100; render(); });
  $("more").addEventListener("click", () => { shown += 100; render(); });
  window.atlasOpenCard = openCard;
  render();
})();
