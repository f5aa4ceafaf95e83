/* synthsight review page. Plain JavaScript, no library, nothing to build.
 * Every value from a report reaches the document through textContent or a checked attribute:
 * this file never parses data as markup, and links are built only from 64-hex media names. */
"use strict";
(function () {
  var T0 = performance.now();
  var S = JSON.parse(document.getElementById("summary-data").textContent);
  var BASE = encodeURIComponent(S.folder) + "/";
  var HEX = /^[0-9a-f]{64}$/;
  var CACHE_CHUNKS = 400;
  var idx = null, view = null, lower = null, renderToken = 0;
  var chunks = new Map(), waiting = {};
  var status = byId("status");
  var state = defaults();

  function byId(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent) {
    for (var k = 1; k < arguments.length; k++) if (arguments[k]) parent.appendChild(arguments[k]);
    return parent;
  }
  function fmt(n) { return Number(n).toLocaleString("en-US"); }
  function pct(n, d) { return d ? (100 * n / d).toFixed(n && n * 1000 < d ? 2 : 1) + "%" : ""; }
  function pad5(k) { return ("0000" + k).slice(-5); }
  function defaults() {
    return { verdict: "", prov: "", err: "", q: "", min: "", max: "", sort: "score", dir: "desc", page: 1, size: S.page_size };
  }
  function mark(key, value) { status.setAttribute("data-" + key, String(value)); }

  /* ---- data files: <script> elements, because browsers refuse fetch() on file:// ---- */
  window.synthsightData = function (kind, k, payload) {
    if (kind === "index") idx = payload;
    else if (kind === "rows") {
      chunks.set(k, payload);
      if (chunks.size > CACHE_CHUNKS) chunks.delete(chunks.keys().next().value);
    }
    var w = waiting[kind + k];
    if (w) { delete waiting[kind + k]; w.resolve(); }
  };
  function load(kind, k) {
    if (kind === "rows" && chunks.has(k)) return Promise.resolve();
    var key = kind + k;
    if (waiting[key]) return waiting[key].promise;
    var w = {};
    w.promise = new Promise(function (resolve, reject) { w.resolve = resolve; w.reject = reject; });
    waiting[key] = w;
    var s = document.createElement("script");
    s.src = BASE + "data/" + (kind === "index" ? "index.js" : "rows-" + pad5(k) + ".js");
    s.onerror = function () {
      delete waiting[key];
      w.reject(new Error("cannot load " + decodeURIComponent(s.src.split("/").slice(-3).join("/")) +
        ": keep the folder " + S.folder + " beside this page"));
    };
    s.onload = function () {
      s.remove();
      if (waiting[key]) { delete waiting[key]; w.reject(new Error("damaged data file " + s.src)); }
    };
    document.head.appendChild(s);
    return w.promise;
  }

  /* ---- the view's state lives in the address (#verdict=ai&q=...): shareable, and testable ---- */
  function readHash() {
    var p = new URLSearchParams(location.hash.replace(/^#/, "")), d = defaults();
    Object.keys(d).forEach(function (k) { if (p.has(k)) d[k] = p.get(k); });
    d.page = Math.max(1, parseInt(d.page, 10) || 1);
    d.size = S.page_sizes.indexOf(parseInt(d.size, 10)) >= 0 ? parseInt(d.size, 10) : S.page_size;
    if (["asc", "desc"].indexOf(d.dir) < 0) d.dir = "desc";
    if (["score", "path", "verdict", "prov", "err"].indexOf(d.sort) < 0) d.sort = "score";
    return d;
  }
  function writeHash() {
    var d = defaults(), p = new URLSearchParams();
    Object.keys(d).forEach(function (k) { if (String(state[k]) !== String(d[k])) p.set(k, state[k]); });
    var h = p.toString();
    try { history.replaceState(null, "", h ? "#" + h : location.pathname + location.search); }
    catch (e) { location.hash = h; }
  }

  /* ---- summary ---- */
  function about() {
    var r0 = S.reports[0] || {}, m = r0.manifest || {}, model = m.model || {}, parts = [];
    parts.push(fmt(S.total) + " records from " + (S.reports.length === 1 ? r0.name : S.reports.length + " reports"));
    if (m.started) parts.push("scanned " + m.started.replace("T", " ").replace("+00:00", " UTC"));
    if (model.path) {
      parts.push("model " + model.path.split(/[\\/]/).pop() + (model.arch ? " (" + model.arch + ")" : "") +
        (model.sha256 ? " sha256 " + String(model.sha256).slice(0, 12) + "…" : ""));
    }
    if (S.thresholds.length) {
      parts.push("threshold " + S.thresholds.map(function (t) { return t.toFixed(4); }).join(" / ") +
        (m.threshold_source ? " (" + m.threshold_source + ")" : ""));
    }
    if (m.backend) parts.push([m.backend, m.device, m.precision].filter(Boolean).join(" "));
    byId("about").textContent = parts.join(" · ");
    byId("footer").textContent = "Page made " + S.generated.replace("T", " ").replace("+00:00", " UTC") + " by " + S.tool +
      " from " + S.reports.map(function (r) { return r.path; }).join(", ") + ". Thumbnails: " + fmt(S.thumbs.made) +
      " (the top " + fmt(S.thumbs.limit) + " judged records, flagged first; --thumbs)." +
      (S.duplicates ? " " + fmt(S.duplicates) + " identical records held by several reports are shown once." : "");
    var ul = byId("warnings");
    S.warnings.forEach(function (w) { ul.appendChild(el("li", "", w)); });
    ul.hidden = !S.warnings.length;
  }
  function cards(box, items, key, label) {
    box.replaceChildren();
    items.forEach(function (it) {
      var b = el("button", "card " + key + "-" + cssName(it[0]) + " tone-" + cssName(String(it[0]).split("-")[0]));
      b.type = "button";
      b.setAttribute("data-value", it[0]);
      b.setAttribute("data-key", key);
      add(b, el("span", "card-n", fmt(it[1])), el("span", "card-pct", pct(it[1], S.total)),
        el("span", "card-label", label(it[0])));
      b.addEventListener("click", function () {
        state[key] = state[key] === it[0] ? "" : it[0];
        state.page = 1;
        update();
      });
      box.appendChild(b);
    });
  }
  function cssName(v) { return String(v).toLowerCase().replace(/[^a-z0-9]+/g, "_"); }
  function verdictLabel(v) {
    return { ai: "called AI-generated", real: "called real", error: "could not be read", skipped: "skipped (not images)" }[v] || v;
  }
  function histogram() {
    var box = byId("hist"), ai = S.histogram.ai, real = S.histogram.real, n = ai.length, top = 1;
    for (var k = 0; k < n; k++) top = Math.max(top, ai[k] + real[k]);
    for (k = 0; k < n; k++) {
      var lo = k / n, hi = (k + 1) / n, b = el("button", "bin");
      b.type = "button";
      b.title = lo.toFixed(2) + "–" + hi.toFixed(2) + ": " + fmt(ai[k]) + " ai, " + fmt(real[k]) + " real";
      b.setAttribute("aria-label", b.title);
      var stack = el("span", "stack");
      [["real", real[k]], ["ai", ai[k]]].forEach(function (part) {
        if (!part[1]) return;
        var seg = el("span", "seg seg-" + part[0]);
        seg.style.height = Math.max(1.5, 100 * part[1] / top) + "%";
        stack.appendChild(seg);
      });
      b.appendChild(stack);
      b.addEventListener("click", binFilter(lo, hi));
      box.appendChild(b);
    }
    S.thresholds.forEach(function (t) {
      var line = el("span", "threshold");
      line.style.left = (100 * t) + "%";
      line.title = "threshold " + t.toFixed(4);
      line.appendChild(el("span", "threshold-label", "threshold " + t.toFixed(2)));
      box.appendChild(line);
    });
    var scored = ai.concat(real).reduce(function (a, b) { return a + b; }, 0);
    byId("hist-legend").textContent = fmt(scored) + " scored files; bar heights are counts (tallest " + fmt(top) +
      "), orange: called AI-generated, green: called real" + (S.thresholds.length ? "; line: the decision threshold" : "");
  }
  function binFilter(lo, hi) {
    return function () {
      state.min = lo.toFixed(2); state.max = hi.toFixed(2); state.page = 1;
      update();
      byId("filters").scrollIntoView({ block: "start" });
    };
  }
  function folders() {
    var body = byId("folders").tBodies[0];
    S.folders.forEach(function (f) {
      var shown = S.root && (f[0] + "/").indexOf(S.root) === 0 ? f[0].slice(S.root.length) || "." : f[0];
      var tr = el("tr"), b = el("button", "link", shown);
      b.type = "button";
      b.title = "show this folder's files";
      b.addEventListener("click", function () {
        state.q = f[0] + (f[0].indexOf("\\") >= 0 && f[0].indexOf("/") < 0 ? "\\" : "/");
        state.page = 1;
        update();
        byId("filters").scrollIntoView({ block: "start" });
      });
      add(tr, add(el("td", "folder"), b), el("td", "num", fmt(f[1])), el("td", "num", f[2] ? fmt(f[2]) : "–"),
        el("td", "num", f[3] ? fmt(f[3]) : "–"));
      body.appendChild(tr);
    });
    byId("folders-note").textContent = (S.folder_count > S.folders.length ?
      "the " + S.folders.length + " largest of " + fmt(S.folder_count) + " folders" : fmt(S.folder_count) + " folder(s)") +
      (S.root ? "; paths on this page are shown below " + S.root : "");
  }
  function manifests() {
    var box = byId("manifests");
    S.reports.forEach(function (r) {
      add(box, el("h3", "", r.name + " — " + fmt(r.records) + " records"), el("p", "muted mono", r.path));
      if (!r.manifest) { box.appendChild(el("p", "muted", "no run manifest found for this report")); return; }
      var table = el("table", "kv"), tb = el("tbody");
      flatten(r.manifest, "").forEach(function (kv) {
        var td = el("td", "mono");
        if (kv[2]) td.appendChild(el("pre", "", kv[1])); else td.textContent = kv[1];
        add(tb, add(el("tr"), el("th", "", kv[0]), td));
      });
      box.appendChild(add(table, tb));
    });
  }
  function flatten(obj, prefix) {
    var out = [];
    Object.keys(obj).forEach(function (k) {
      var v = obj[k], name = prefix + k;
      if (v && typeof v === "object" && !Array.isArray(v)) out = out.concat(flatten(v, name + "."));
      else if (Array.isArray(v) && v.some(function (x) { return x && typeof x === "object"; }))
        out.push([name, JSON.stringify(v, null, 1), true]);
      else out.push([name, Array.isArray(v) ? v.join(", ") : v === null ? "—" : String(v), false]);
    });
    return out;
  }

  /* ---- filters, facet counts, sorting ---- */
  function codeOf(list, value) {
    if (value === "") return -1;
    var k = list.indexOf(value);
    return k < 0 ? -99 : k; // a value this page does not hold (an old or mistyped link) matches nothing
  }
  function filter() {
    var t = performance.now(), n = idx.path.length, q = state.q.toLowerCase();
    if (q && !lower) lower = idx.path.map(function (p) { return p.toLowerCase(); });
    var fv = codeOf(idx.verdicts, state.verdict), fp = state.prov === "(none)" ? 0 : codeOf(idx.provs, state.prov);
    var fe = state.err === "(any error)" ? -2 : state.err === "(no error)" ? 0 : codeOf(idx.errs, state.err);
    if (fe === -99) fe = -98; // -2 means any error; keep "matches nothing" apart from it
    var lo = state.min === "" ? -1 : Number(state.min), hi = state.max === "" ? 2 : Number(state.max);
    var ranged = state.min !== "" || state.max !== "";
    var V = idx.v, P = idx.p, E = idx.e, SC = idx.score, L = lower;
    var cv = new Array(idx.verdicts.length).fill(0), cp = new Array(idx.provs.length).fill(0);
    var ce = new Array(idx.errs.length).fill(0), out = new Int32Array(n), m = 0;
    for (var i = 0; i < n; i++) {
      if (q && L[i].indexOf(q) < 0) continue;
      if (ranged) { var s = SC[i]; if (s === null || s < lo || s > hi) continue; }
      var okV = fv === -1 || V[i] === fv, okP = fp === -1 || P[i] === fp;
      var okE = fe === -1 || (fe === -2 ? E[i] > 0 : E[i] === fe);
      if (okP && okE) cv[V[i]]++;
      if (okV && okE) cp[P[i]]++;
      if (okV && okP) ce[E[i]]++;
      if (okV && okP && okE) out[m++] = i;
    }
    view = out.subarray(0, m);
    sortView();
    mark("filter-ms", Math.round(performance.now() - t));
    facets(cv, cp, ce);
  }
  function sortView() {
    if (state.sort === "score" && state.dir === "desc") return; // the data's own order
    var dir = state.dir === "asc" ? 1 : -1, key = state.sort, cmp;
    var SC = idx.score, PA = idx.path;
    var names = { verdict: [idx.v, idx.verdicts], prov: [idx.p, idx.provs], err: [idx.e, idx.errs] }[key];
    if (key === "score") {
      cmp = function (a, b) {
        var x = SC[a], y = SC[b];
        if (x === null || y === null) return (x === null) - (y === null) || a - b; // unscored last, either way
        return dir * (x - y) || a - b;
      };
    } else if (key === "path") {
      cmp = function (a, b) { return PA[a] < PA[b] ? -dir : PA[a] > PA[b] ? dir : 0; };
    } else {
      cmp = function (a, b) {
        var x = names[1][names[0][a]], y = names[1][names[0][b]];
        return x < y ? -dir : x > y ? dir : a - b;
      };
    }
    view = Int32Array.from(Array.prototype.slice.call(view).sort(cmp));
  }
  function facets(cv, cp, ce) {
    fill(byId("f-verdict"), [["", "any verdict", sum(cv)]].concat(idx.verdicts.map(function (v, k) {
      return [v, v, cv[k]];
    })), state.verdict);
    var provs = idx.provs.map(function (p, k) { return [k ? p : "(none)", k ? p : "(none)", cp[k]]; });
    byId("f-prov-label").hidden = idx.provs.length < 2;
    fill(byId("f-prov"), [["", "any", sum(cp)]].concat(provs), state.prov);
    var errs = idx.errs.map(function (e, k) { return [k ? e : "(no error)", k ? e : "(no error)", ce[k]]; });
    fill(byId("f-err"), [["", "any", sum(ce)], ["(any error)", "(any error)", sum(ce) - ce[0]]].concat(errs), state.err);
    document.querySelectorAll(".card").forEach(function (c) {
      var key = c.getAttribute("data-key");
      c.setAttribute("aria-pressed", String(state[key] === c.getAttribute("data-value")));
    });
  }
  function sum(a) { return a.reduce(function (x, y) { return x + y; }, 0); }
  function fill(select, options, value) {
    select.replaceChildren();
    if (!options.some(function (o) { return o[0] === value; })) options.push([value, value, 0]);
    options.forEach(function (o) {
      if (o[0] !== "" && o[0] !== value && !o[2]) return; // nothing to show: not offered
      var opt = el("option", "", o[1] + " (" + fmt(o[2]) + ")");
      opt.value = o[0];
      select.appendChild(opt);
    });
    select.value = value;
  }

  /* ---- the table ---- */
  function render() {
    var size = state.size, pages = Math.max(1, Math.ceil(view.length / size));
    state.page = Math.min(Math.max(1, state.page), pages);
    var start = (state.page - 1) * size, ids = Array.prototype.slice.call(view, start, start + size);
    var need = [];
    ids.forEach(function (i) { var c = Math.floor(i / S.chunk); if (need.indexOf(c) < 0) need.push(c); });
    byId("count").textContent = view.length ?
      "Showing " + fmt(start + 1) + "–" + fmt(start + ids.length) + " of " + fmt(view.length) + " matching records" +
        (view.length < S.total ? " (" + fmt(S.total) + " in all)" : "") + sortNote() :
      "No record matches these filters (" + fmt(S.total) + " in all).";
    byId("p-total").textContent = fmt(pages);
    byId("p-num").value = state.page;
    byId("p-num").max = pages;
    byId("p-first").disabled = byId("p-prev").disabled = state.page <= 1;
    byId("p-next").disabled = byId("p-last").disabled = state.page >= pages;
    document.querySelectorAll("th[data-sort]").forEach(function (th) {
      var on = th.getAttribute("data-sort") === state.sort;
      th.setAttribute("aria-sort", on ? (state.dir === "asc" ? "ascending" : "descending") : "none");
    });
    var token = ++renderToken, t = performance.now();
    status.setAttribute("data-state", "loading");
    Promise.all(need.map(function (c) { return load("rows", c); })).then(function () {
      if (token !== renderToken) return;
      var body = byId("rows"), frag = document.createDocumentFragment();
      ids.forEach(function (i) { frag.appendChild(row(i)); });
      body.replaceChildren(frag);
      mark("rows", ids.length); mark("matching", view.length); mark("page", state.page);
      mark("render-ms", Math.round(performance.now() - t));
      if (!status.hasAttribute("data-first-page-ms")) mark("first-page-ms", Math.round(performance.now() - T0));
      status.setAttribute("data-state", "ready");
      thumbCount();
    }, fail);
  }
  function sortNote() {
    if (state.sort === "score" && state.dir === "desc") return ", highest score first";
    return ", sorted by " + state.sort + (state.dir === "asc" ? " (ascending)" : " (descending)");
  }
  function row(i) {
    var c = Math.floor(i / S.chunk), d = chunks.get(c)[i - c * S.chunk], verdict = idx.verdicts[idx.v[i]];
    var score = idx.score[i], tr = el("tr", "v-" + cssName(verdict));
    tr.setAttribute("data-verdict", verdict);
    add(tr, thumbCell(d), pathCell(idx.path[i], d), scoreCell(score, i), add(el("td", "c-verdict"),
      el("span", "badge verdict-" + cssName(verdict), verdict)), provCell(d), errCell(d), camCell(d), shaCell(d));
    return tr;
  }
  function thumbCell(d) {
    var td = el("td", "c-thumb");
    if (d.t && HEX.test(d.t)) {
      var img = document.createElement("img");
      img.alt = "preview";
      img.decoding = "async";
      img.addEventListener("load", function () {
        img.setAttribute("data-loaded", "1");
        img.setAttribute("data-natural-width", img.naturalWidth);
        thumbCount();
      });
      img.addEventListener("error", function () {
        img.setAttribute("data-failed", "1");
        td.replaceChildren(el("span", "ph", "thumbnail missing from " + S.folder + "/thumbs"));
        thumbCount();
      });
      img.src = BASE + "thumbs/" + d.t + ".jpg";
      td.appendChild(img);
    } else {
      td.appendChild(el("span", "ph", d.tn || (d.er ? "no preview: the file could not be read" : "no preview")));
    }
    return td;
  }
  function thumbCount() {
    mark("thumbs-loaded", document.querySelectorAll("td.c-thumb img[data-loaded]").length);
    mark("thumbs-failed", document.querySelectorAll("td.c-thumb img[data-failed]").length);
  }
  function pathCell(path, d) {
    var td = el("td", "c-path"), cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1;
    var from = S.root && path.indexOf(S.root) === 0 && cut >= S.root.length ? S.root.length : 0;
    var p = add(el("div", "path"), el("span", "dir", path.slice(from, cut)), el("span", "name", path.slice(cut)));
    p.title = path;
    td.appendChild(p);
    var when = d.m ? d.m.replace("T", " ").replace(/\.\d+Z$/, " UTC") : "";
    var facts = [d.f, d.w && d.ht ? d.w + "×" + d.ht : "", d.b !== undefined ? fmt(d.b) + " bytes" : "", when];
    td.appendChild(el("div", "facts", facts.filter(Boolean).join(" · ")));
    if (d.x) td.appendChild(el("div", "facts mono", "exact name (base64): " + d.x));
    return td;
  }
  function scoreCell(score, i) {
    var td = el("td", "c-score");
    if (score === null) { td.appendChild(el("span", "muted", "—")); return td; }
    var bar = el("div", "bar"), fillEl = el("span", "fill"), th = threshold(i);
    fillEl.style.width = (100 * score).toFixed(1) + "%";
    bar.appendChild(fillEl);
    if (th !== null) { var tick = el("span", "tick"); tick.style.left = (100 * th) + "%"; bar.appendChild(tick); }
    bar.title = "p(ai) " + score.toFixed(6) + (th !== null ? ", threshold " + th.toFixed(4) : "");
    add(td, el("span", "num", score.toFixed(4)), bar);
    return td;
  }
  function threshold(i) {
    var r = S.reports[idx.src ? idx.src[i] : 0];
    return r && typeof r.threshold === "number" ? r.threshold : null;
  }
  function provCell(d) {
    var td = el("td", "c-prov");
    if (d.pv) td.appendChild(el("span", "badge prov tone-" + cssName(d.pv.split("-")[0]), d.pv));
    if (d.ev) td.appendChild(el("div", "evidence", d.ev));
    if (d.pd) add(td, add(el("details", "detail"), el("summary", "", "detail"), el("pre", "", d.pd)));
    return td;
  }
  function errCell(d) {
    var td = el("td", "c-err");
    if (d.er) td.appendChild(el("div", "error", d.er));
    if (d.n) td.appendChild(el("div", "facts", d.n));
    return td;
  }
  function camCell(d) {
    var td = el("td", "c-cam");
    if (d.g && HEX.test(d.g)) {
      var a = el("a", "cam"), img = document.createElement("img");
      a.href = img.src = BASE + "gradcam/" + d.g + ".png";
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.title = "Grad-CAM overlay: where the model looked for its verdict (opens the full image)";
      img.alt = "Grad-CAM overlay";
      img.decoding = "async";
      td.appendChild(add(a, img));
    } else if (d.gn) {
      td.appendChild(el("span", "facts", d.gn));
    }
    return td;
  }
  function shaCell(d) {
    var td = el("td", "c-sha");
    if (d.h) { var code = el("code", "sha", d.h); code.title = d.h; td.appendChild(code); }
    return td;
  }

  /* ---- wiring ---- */
  function update(fromHash) {
    if (!idx) return;
    if (!fromHash) writeHash();
    syncControls();
    filter();
    render();
  }
  function syncControls() {
    byId("f-q").value = state.q;
    byId("f-min").value = state.min;
    byId("f-max").value = state.max;
    byId("f-size").value = String(state.size);
  }
  function controls() {
    S.page_sizes.forEach(function (n) {
      var o = el("option", "", n); o.value = String(n); byId("f-size").appendChild(o);
    });
    [["f-verdict", "verdict"], ["f-prov", "prov"], ["f-err", "err"], ["f-size", "size"]].forEach(function (p) {
      byId(p[0]).addEventListener("change", function (e) {
        state[p[1]] = p[1] === "size" ? parseInt(e.target.value, 10) : e.target.value; state.page = 1; update();
      });
    });
    var typing = null;
    byId("f-q").addEventListener("input", function (e) {
      clearTimeout(typing);
      typing = setTimeout(function () { state.q = e.target.value; state.page = 1; update(); }, 150);
    });
    ["min", "max"].forEach(function (k) {
      byId("f-" + k).addEventListener("change", function (e) { state[k] = e.target.value; state.page = 1; update(); });
    });
    byId("filters").addEventListener("submit", function (e) { e.preventDefault(); });
    byId("f-reset").addEventListener("click", function () { state = defaults(); update(); });
    document.querySelectorAll("th[data-sort] button").forEach(function (b) {
      b.addEventListener("click", function () {
        var key = b.parentNode.getAttribute("data-sort");
        state.dir = state.sort === key ? (state.dir === "asc" ? "desc" : "asc") : key === "score" ? "desc" : "asc";
        state.sort = key; state.page = 1; update();
      });
    });
    var go = function (delta) { return function () { state.page += delta; update(); }; };
    byId("p-first").addEventListener("click", function () { state.page = 1; update(); });
    byId("p-last").addEventListener("click", function () { state.page = 1e9; update(); });
    byId("p-prev").addEventListener("click", go(-1));
    byId("p-next").addEventListener("click", go(1));
    byId("p-num").addEventListener("change", function (e) { state.page = parseInt(e.target.value, 10) || 1; update(); });
    document.addEventListener("keydown", function (e) {
      var t = e.target, field = /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(t.tagName);
      if (e.key === "Escape" && t.id === "f-q") { state.q = ""; state.page = 1; update(); return; }
      if (field || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "/") { e.preventDefault(); byId("f-q").focus(); }
      else if (e.key === "n" && !byId("p-next").disabled) go(1)();
      else if (e.key === "p" && !byId("p-prev").disabled) go(-1)();
    });
    window.addEventListener("hashchange", function () { state = readHash(); update(true); });
  }
  function hideEmptyColumns() {
    var hide = [];
    if (!S.has.evidence) hide.push("c-prov");
    if (!S.has.gradcam) hide.push("c-cam");
    if (!S.has.sha256) hide.push("c-sha");
    document.body.className += hide.map(function (c) { return " hide-" + c; }).join("");
  }
  function fail(err) {
    status.setAttribute("data-state", "error");
    mark("error", err.message);
    byId("count").textContent = "Cannot show the records: " + err.message;
    byId("count").className = "count failed";
  }

  about();
  cards(byId("verdict-cards"), S.verdicts.filter(function (v) { return v[1] || v[0] === "ai" || v[0] === "real"; }),
    "verdict", verdictLabel);
  if (S.provenance.length) {
    cards(byId("prov-cards"), S.provenance, "prov", function (p) { return "file provenance: " + p; });
    byId("prov-cards").hidden = false;
  }
  histogram();
  folders();
  manifests();
  hideEmptyColumns();
  controls();
  state = readHash();
  load("index", 0).then(function () {
    mark("index-ms", Math.round(performance.now() - T0));
    mark("total", idx.path.length);
    update(true);
  }, fail);
})();
