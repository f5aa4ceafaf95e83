/* synthsight review page, part 3 of 3: data loading, the view's state, filters, sorting, the table, wiring.
 * Plain JavaScript, no library, nothing to build. Every value from a report reaches the document through
 * textContent or a checked attribute: this file never parses data as markup. */
"use strict";
(function () {
  var T0 = performance.now();
  var S = JSON.parse(document.getElementById("summary-data").textContent);
  var BASE = encodeURIComponent(S.folder) + "/";
  var C = synthsightCells, el = C.el, add = C.add, fmt = C.fmt, cssName = C.cssName;
  var CACHE_CHUNKS = 400;
  var idx = null, view = null, lower = null, renderToken = 0;
  var chunks = new Map(), waiting = {};
  var status = byId("status");
  var state = defaults();

  var cell = C.cells(S, thumbCount);
  var filters = {
    set: function (changes) { Object.keys(changes).forEach(function (k) { state[k] = changes[k]; }); state.page = 1; update(); },
    toggle: function (key, value) { filters.set({ [key]: state[key] === value ? "" : value }); },
  };

  function byId(id) { return document.getElementById(id); }
  function pad5(k) { return ("0000" + k).slice(-5); }
  function defaults() {
    return { verdict: "", prov: "", err: "", stab: "", q: "", min: "", max: "", sort: "score", dir: "desc", page: 1,
      size: S.page_size };
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
    var V = idx.v, P = idx.p, E = idx.e, SC = idx.score, L = lower, U = idx.u;
    var fs = state.stab === "unstable" ? 2 : state.stab === "stable" ? 1 : state.stab === "" ? -1 : -99;
    var cv = new Array(idx.verdicts.length).fill(0), cp = new Array(idx.provs.length).fill(0);
    var ce = new Array(idx.errs.length).fill(0), cs = [0, 0, 0], out = new Int32Array(n), m = 0;
    for (var i = 0; i < n; i++) {
      if (q && L[i].indexOf(q) < 0) continue;
      if (ranged) { var s = SC[i]; if (s === null || s < lo || s > hi) continue; }
      var okV = fv === -1 || V[i] === fv, okP = fp === -1 || P[i] === fp;
      var okE = fe === -1 || (fe === -2 ? E[i] > 0 : E[i] === fe), okS = fs === -1 || U[i] === fs;
      if (okP && okE && okS) cv[V[i]]++;
      if (okV && okE && okS) cp[P[i]]++;
      if (okV && okP && okS) ce[E[i]]++;
      if (okV && okP && okE) cs[U[i]]++;
      if (okV && okP && okE && okS) out[m++] = i;
    }
    view = out.subarray(0, m);
    sortView();
    mark("filter-ms", Math.round(performance.now() - t));
    facets(cv, cp, ce, cs);
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
  function facets(cv, cp, ce, cs) {
    fill(byId("f-verdict"), [["", "any verdict", sum(cv)]].concat(idx.verdicts.map(function (v, k) {
      return [v, v, cv[k]];
    })), state.verdict);
    var provs = idx.provs.map(function (p, k) { return [k ? p : "(none)", k ? p : "(none)", cp[k]]; });
    byId("f-prov-label").hidden = idx.provs.length < 2;
    fill(byId("f-prov"), [["", "any", sum(cp)]].concat(provs), state.prov);
    var errs = idx.errs.map(function (e, k) { return [k ? e : "(no error)", k ? e : "(no error)", ce[k]]; });
    fill(byId("f-err"), [["", "any", sum(ce)], ["(any error)", "(any error)", sum(ce) - ce[0]]].concat(errs), state.err);
    fill(byId("f-stab"), [["", "any", sum(cs)], ["unstable", "unstable", cs[2]], ["stable", "stable", cs[1]]],
      state.stab);
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
    var verdictCell = add(el("td", "c-verdict"), el("span", "badge verdict-" + cssName(verdict), verdict));
    if (idx.u[i] === 2) {
      var badge = el("span", "badge unstable", "unstable");
      badge.title = "a re-encoded view (--stability) gets another verdict";
      verdictCell.appendChild(badge);
    }
    add(tr, cell.thumb(d), cell.path(idx.path[i], d), cell.score(score, cuts(i), d), verdictCell, cell.prov(d),
      cell.err(d), cell.cam(d), cell.sha(d));
    return tr;
  }
  function thumbCount() {
    mark("thumbs-loaded", document.querySelectorAll("td.c-thumb img[data-loaded]").length);
    mark("thumbs-failed", document.querySelectorAll("td.c-thumb img[data-failed]").length);
  }
  function cuts(i) {
    var r = S.reports[idx.src ? idx.src[i] : 0];
    return r && Array.isArray(r.cuts) ? r.cuts : [];
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
    [["f-verdict", "verdict"], ["f-prov", "prov"], ["f-err", "err"], ["f-stab", "stab"], ["f-size", "size"]].forEach(function (p) {
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
    byId("f-stab-label").hidden = !S.has.stability;
    document.body.className += hide.map(function (c) { return " hide-" + c; }).join("");
  }
  function fail(err) {
    status.setAttribute("data-state", "error");
    mark("error", err.message);
    byId("count").textContent = "Cannot show the records: " + err.message;
    byId("count").className = "count failed";
  }

  synthsightSummary.draw(S, filters);
  hideEmptyColumns();
  controls();
  state = readHash();
  load("index", 0).then(function () {
    mark("index-ms", Math.round(performance.now() - T0));
    mark("total", idx.path.length);
    update(true);
  }, fail);
})();
