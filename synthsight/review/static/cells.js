/* synthsight review page, part 1 of 3 (cells.js, summary.js, page.js: one inline script, in this order).
 * DOM helpers and the cells of the records table. Every value reaches the document through textContent
 * or a checked attribute; links are built only from 64-hex media names. */
"use strict";
var synthsightCells = (function () {
  var HEX = /^[0-9a-f]{64}$/;

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
  function cssName(v) { return String(v).toLowerCase().replace(/[^a-z0-9]+/g, "_"); }

  /* The cells for summary S; onThumb() is called whenever a thumbnail has loaded or failed. */
  function cells(S, onThumb) {
    var BASE = encodeURIComponent(S.folder) + "/";
    function thumbCell(d) {
      var td = el("td", "c-thumb");
      if (d.t && HEX.test(d.t)) {
        var img = document.createElement("img");
        img.alt = "preview";
        img.decoding = "async";
        var holder = el("span", "thumb");
        img.addEventListener("load", function () {
          img.setAttribute("data-loaded", "1");
          img.setAttribute("data-natural-width", img.naturalWidth);
          tileBox(holder, img, d);
          onThumb();
        });
        img.addEventListener("error", function () {
          img.setAttribute("data-failed", "1");
          td.replaceChildren(el("span", "ph", "thumbnail missing from " + S.folder + "/thumbs"));
          onThumb();
        });
        img.src = BASE + "thumbs/" + d.t + ".jpg";
        td.appendChild(add(holder, img));
      } else {
        td.appendChild(el("span", "ph", d.tn || (d.er ? "no preview: the file could not be read" : "no preview")));
      }
      return td;
    }
    /* A tiles model's top tile: its box (pixels of the oriented picture) over the thumbnail, in percent.
     * The record holds the stored size; when the thumbnail's shape is the other way round, EXIF turned it. */
    function tileBox(holder, img, d) {
      var b = d.tt, w = d.w, h = d.ht;
      if (!Array.isArray(b) || b.length !== 4 || !(w > 0 && h > 0)) return;
      if ((img.naturalWidth > img.naturalHeight) !== (w > h) && w !== h) { var s = w; w = h; h = s; }
      var box = el("span", "tilebox");
      box.style.left = (100 * b[0] / w).toFixed(3) + "%";
      box.style.top = (100 * b[1] / h).toFixed(3) + "%";
      box.style.width = (100 * (b[2] - b[0]) / w).toFixed(3) + "%";
      box.style.height = (100 * (b[3] - b[1]) / h).toFixed(3) + "%";
      holder.title = "the tile ranked first (" + (d.tk || "tiles") + "): " + b.join(",");
      holder.appendChild(box);
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
    function scoreCell(score, th) {
      var td = el("td", "c-score");
      if (score === null) { td.appendChild(el("span", "muted", "—")); return td; }
      var bar = el("div", "bar"), fillEl = el("span", "fill");
      fillEl.style.width = (100 * score).toFixed(1) + "%";
      bar.appendChild(fillEl);
      if (th !== null) { var tick = el("span", "tick"); tick.style.left = (100 * th) + "%"; bar.appendChild(tick); }
      bar.title = "p(ai) " + score.toFixed(6) + (th !== null ? ", threshold " + th.toFixed(4) : "");
      add(td, el("span", "num", score.toFixed(4)), bar);
      return td;
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
    return { thumb: thumbCell, path: pathCell, score: scoreCell, prov: provCell, err: errCell, cam: camCell,
      sha: shaCell };
  }

  return { HEX: HEX, el: el, add: add, fmt: fmt, pct: pct, cssName: cssName, cells: cells };
})();
