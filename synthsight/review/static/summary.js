/* synthsight review page, part 2 of 3: the summary above the table (counts, histogram, folders, manifests).
 * Clicking a card, a bar or a folder changes the table's filters through the page's `filters` object. */
"use strict";
var synthsightSummary = (function () {
  var C = synthsightCells, el = C.el, add = C.add, fmt = C.fmt, pct = C.pct, cssName = C.cssName;

  function byId(id) { return document.getElementById(id); }
  function verdictLabel(v) {
    return { ai: "called AI-generated", uncertain: "uncertain: neither claim holds", real: "called real",
      error: "could not be read", skipped: "skipped (not images)" }[v] || v;
  }

  /* Draw every part for summary S. filters.set({key: value}) and filters.toggle(key, value) filter the table. */
  function draw(S, filters) {
    function about() {
      var r0 = S.reports[0] || {}, m = r0.manifest || {}, model = m.model || {}, parts = [];
      parts.push(fmt(S.total) + " records from " + (S.reports.length === 1 ? r0.name : S.reports.length + " reports"));
      if (m.started) parts.push("scanned " + m.started.replace("T", " ").replace("+00:00", " UTC"));
      if (model.path) {
        parts.push("model " + model.path.split(/[\\/]/).pop() + (model.arch ? " (" + model.arch + ")" : "") +
          (model.sha256 ? " sha256 " + String(model.sha256).slice(0, 12) + "…" : ""));
      }
      if (S.thresholds.length) {
        parts.push(S.thresholds.map(function (t) { return t[1] + " " + t[0].toFixed(4); }).join(" / ") +
          (m.calibration && !m.threshold_forced ? " (calibrated)" : m.threshold_source ? " (" + m.threshold_source + ")" : ""));
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
        b.addEventListener("click", function () { filters.toggle(key, it[0]); });
        box.appendChild(b);
      });
    }
    function meanings() {
      var box = byId("meanings");
      if (!S.meanings.length) return;
      S.meanings.forEach(function (kv) { add(box, el("dt", "", kv[0]), el("dd", "", kv[1])); });
      byId("meanings-box").hidden = false;
    }
    function histogram() {
      var box = byId("hist"), ai = S.histogram.ai, un = S.histogram.uncertain, real = S.histogram.real;
      var n = ai.length, top = 1;
      for (var k = 0; k < n; k++) top = Math.max(top, ai[k] + un[k] + real[k]);
      for (k = 0; k < n; k++) {
        var lo = k / n, hi = (k + 1) / n, b = el("button", "bin");
        b.type = "button";
        b.title = lo.toFixed(2) + "–" + hi.toFixed(2) + ": " + fmt(ai[k]) + " ai, " + (un[k] ? fmt(un[k]) + " uncertain, " : "") +
          fmt(real[k]) + " real";
        b.setAttribute("aria-label", b.title);
        var stack = el("span", "stack");
        [["real", real[k]], ["uncertain", un[k]], ["ai", ai[k]]].forEach(function (part) {
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
        line.style.left = (100 * t[0]) + "%";
        line.title = t[1] + " " + t[0].toFixed(4);
        line.appendChild(el("span", "threshold-label", t[1] + " " + t[0].toFixed(2)));
        box.appendChild(line);
      });
      var scored = ai.concat(un, real).reduce(function (a, b) { return a + b; }, 0);
      byId("hist-legend").textContent = fmt(scored) + " scored files; bar heights are counts (tallest " + fmt(top) +
        "), orange: called AI-generated, yellow: uncertain, green: called real" +
        (S.thresholds.length ? "; lines: where the verdict changes" : "");
    }
    function binFilter(lo, hi) {
      return function () {
        filters.set({ min: lo.toFixed(2), max: hi.toFixed(2) });
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
          filters.set({ q: f[0] + (f[0].indexOf("\\") >= 0 && f[0].indexOf("/") < 0 ? "\\" : "/") });
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

    about();
    meanings();
    var calibrated = S.thresholds.some(function (t) { return t[1] === "t_ai"; });
    cards(byId("verdict-cards"), S.verdicts.filter(function (v) {
      return v[1] || v[0] === "ai" || v[0] === "real" || (v[0] === "uncertain" && calibrated);
    }), "verdict", verdictLabel);
    if (S.has.stability) {
      var unstable = S.unstable || 0;
      cards(byId("stab-cards"), [["unstable", unstable]], "stab", function () {
        return "unstable: a re-encoded view changes the verdict";
      });
      byId("stab-cards").hidden = false;
    }
    if (S.provenance.length) {
      cards(byId("prov-cards"), S.provenance, "prov", function (p) { return "file provenance: " + p; });
      byId("prov-cards").hidden = false;
    }
    histogram();
    folders();
    manifests();
  }

  return { draw: draw };
})();
