/* gapbench report and web leaderboard. Everything read from the database is hostile text: it
   reaches the page only through textContent, never as HTML, and strings handed to Plotly (which
   reads a few HTML-like tags in labels) are entity-escaped first. */
(function () {
  "use strict";

  var boot = JSON.parse(document.getElementById("gapbench-data").textContent);
  var API = boot.mode === "api";
  var PAGE = 50;
  var view = boot.view || null;
  var KIND_COLORS = {
    ahead: "#1b7f3b", behind: "#b3261e", equivalent: "#1f5fbf", inconclusive: "#7a7f8a"
  };
  var SAFE_ATTRS = { "class": 1, "title": 1, "type": 1, "value": 1, "id": 1, "colspan": 1,
    "data-key": 1, "aria-label": 1 };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined) { return; }
      if (name === "text") { node.textContent = String(value); return; }
      if (!SAFE_ATTRS[name]) { throw new Error("attribute not allowed: " + name); }
      node.setAttribute(name, String(value));
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function byId(id) { return document.getElementById(id); }
  /* Plotly parses <b>, <br>, <a href> ... in text: escape so data shows as written. */
  function ptext(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  /* Long ids (scripted:...?options) would squeeze a chart: labels are cut, hovers keep them whole. */
  function short(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + "\u2026" : s; }
  function pct(x, digits) { return x === null || x === undefined ? "-" : (100 * x).toFixed(digits === undefined ? 1 : digits); }
  function num(x, digits) { return x === null || x === undefined ? "-" : Number(x).toFixed(digits); }
  function money(x) {
    if (x === null || x === undefined) { return "-"; }
    return x >= 0.01 ? x.toFixed(3) : Number(x.toPrecision(2)).toExponential();
  }
  function overall() { return view.leaderboard.filter(function (r) { return r.task === "overall"; }); }
  function models() { return overall().map(function (r) { return r.model; }); }
  function tasks() {
    var seen = {};
    view.leaderboard.forEach(function (r) { if (r.task !== "overall") { seen[r.task] = 1; } });
    return Object.keys(seen).sort();
  }
  var PLOT_CONFIG = { displaylogo: false, responsive: true };
  var FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12 };

  /* ---- header ---- */
  function renderHeader() {
    byId("title").textContent = "gapbench results";
    var what = view.tasks ? " · tasks: " + view.tasks.join(", ") : "";
    byId("meta").textContent = view.db + what + " · " + models().length + " models · margin ±" +
      (100 * view.margin).toFixed(1) + " pts · generated " + view.generated_at;
    var notes = byId("notes");
    clear(notes);
    view.notes.forEach(function (n) { notes.appendChild(el("div", { text: n })); });
  }

  /* ---- leaderboard ---- */
  var COLUMNS = [
    { key: "rank_low", label: "rank", get: function (r) { return r.rank_interval || ""; }, sort: function (r) { return r.rank === null ? 1e9 : r.rank_low + r.rank_high / 1e3; } },
    { key: "model", label: "model", text: true, get: function (r) { return r.model + (r.pareto ? " \u2605" : ""); } },
    { key: "task", label: "task", text: true, get: function (r) { return r.task; } },
    { key: "n", label: "n", get: function (r) { return r.n === r.planned ? String(r.n) : r.n + "/" + r.planned; } },
    { key: "accuracy", label: "acc%", get: function (r) { return pct(r.accuracy); } },
    { key: "ci_low", label: "95% CI", get: function (r) { return pct(r.ci_low) + "\u2013" + pct(r.ci_high); } },
    { key: "extraction_failure_rate", label: "noans%", get: function (r) { return pct(r.extraction_failure_rate); } },
    { key: "failed", label: "fail", get: function (r) { return String(r.failed); } },
    { key: "tokens_per_s", label: "tok/s", get: function (r) { return num(r.tokens_per_s, 1); } },
    { key: "p50_latency_s", label: "p50 s", get: function (r) { return num(r.p50_latency_s, 2); } },
    { key: "usd_per_correct", label: "$/corr", get: function (r) { return money(r.usd_per_correct); } },
    { key: "peak_rss_mb", label: "MB", get: function (r) { return r.peak_rss_mb === null ? "" : num(r.peak_rss_mb, 0); } }
  ];
  var lbState = { key: null, dir: 1 };

  function sortValue(col, row) {
    if (col.sort) { return col.sort(row); }
    var v = row[col.key];
    return v === null || v === undefined ? null : v;
  }

  function renderLeaderboard() {
    var head = byId("lb-head");
    clear(head);
    COLUMNS.forEach(function (col) {
      var cls = col.text ? "text" : "";
      if (lbState.key === col.key) { cls += lbState.dir > 0 ? " sorted-asc" : " sorted-desc"; }
      var th = el("th", { "class": cls, "data-key": col.key, text: col.label });
      th.addEventListener("click", function () {
        if (lbState.key === col.key) { lbState.dir = -lbState.dir; } else { lbState.key = col.key; lbState.dir = col.text ? 1 : -1; }
        renderLeaderboard();
      });
      head.appendChild(th);
    });
    var filter = byId("lb-filter").value.trim().toLowerCase();
    var withTasks = byId("lb-tasks").checked;
    var rows = view.leaderboard.filter(function (r) {
      if (!withTasks && r.task !== "overall") { return false; }
      if (!filter) { return true; }
      return (r.model + " " + r.task).toLowerCase().indexOf(filter) >= 0;
    });
    if (lbState.key !== null) {
      var col = COLUMNS.filter(function (c) { return c.key === lbState.key; })[0];
      rows = rows.map(function (r, i) { return [r, i]; });
      rows.sort(function (x, y) {
        var a = sortValue(col, x[0]), b = sortValue(col, y[0]);
        if (a === b) { return x[1] - y[1]; }
        if (a === null) { return 1; }
        if (b === null) { return -1; }
        return (a < b ? -1 : 1) * lbState.dir;
      });
      rows = rows.map(function (p) { return p[0]; });
    }
    var body = byId("lb-body");
    clear(body);
    rows.forEach(function (r) {
      var tr = el("tr", { "class": r.task === "overall" ? "overall-row" : "task-row" });
      COLUMNS.forEach(function (c) {
        var cls = c.text ? "text" : "";
        if (c.key === "model") { cls += " model"; }
        var td = el("td", { "class": cls, text: c.get(r) });
        if (c.key === "n" && r.n !== r.planned) { td.setAttribute("title", "answered/planned: some samples have no answer"); }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    if (!rows.length) { body.appendChild(el("tr", {}, [el("td", { "class": "empty text", colspan: COLUMNS.length, text: "No row matches the filter." })])); }
  }

  /* ---- pairwise gaps ---- */
  function renderForest() {
    var pairs = view.pairs.filter(function (p) { return p.n_paired > 0; });
    var list = byId("verdicts");
    clear(list);
    view.pairs.forEach(function (p) {
      list.appendChild(el("li", {}, [el("span", { "class": "kind " + p.kind, text: p.kind }), " ", p.verdict]));
    });
    var node = byId("chart-forest");
    if (!pairs.length) {
      Plotly.purge(node);
      clear(node);
      node.appendChild(el("p", { "class": "empty", text: "No pair of models shares an answered instance yet." }));
      return;
    }
    var labels = pairs.map(function (p) { return ptext(short(p.model_a, 28) + " \u2212 " + short(p.model_b, 28)); });
    var traces = Object.keys(KIND_COLORS).map(function (kind) {
      var idx = [];
      pairs.forEach(function (p, i) { if (p.kind === kind) { idx.push(i); } });
      return {
        type: "scatter", mode: "markers+text", name: kind,
        x: idx.map(function (i) { return 100 * pairs[i].diff; }),
        y: idx.map(function (i) { return i; }),
        text: idx.map(function () { return kind; }), textposition: "top center",
        hovertext: idx.map(function (i) { return ptext(pairs[i].verdict); }), hoverinfo: "text",
        marker: { color: KIND_COLORS[kind], size: 10 },
        error_x: { type: "data", symmetric: false, color: KIND_COLORS[kind],
          array: idx.map(function (i) { return 100 * (pairs[i].ci_high - pairs[i].diff); }),
          arrayminus: idx.map(function (i) { return 100 * (pairs[i].diff - pairs[i].ci_low); }) }
      };
    }).filter(function (t) { return t.x.length; });
    var m = 100 * view.margin;
    Plotly.react(node, traces, {
      font: FONT, height: Math.max(260, 90 + 48 * pairs.length), margin: { l: 20, r: 30, t: 30, b: 50 },
      xaxis: { title: { text: "gap A \u2212 B (points), 95% CI" }, zeroline: true },
      yaxis: { tickvals: pairs.map(function (p, i) { return i; }), ticktext: labels, autorange: "reversed", automargin: true, zeroline: false },
      shapes: [{ type: "rect", xref: "x", yref: "paper", x0: -m, x1: m, y0: 0, y1: 1,
        fillcolor: "rgba(31,95,191,0.10)", line: { width: 0 } }],
      annotations: [{ x: 0, xref: "x", y: 1, yref: "paper", yanchor: "bottom", showarrow: false,
        text: "\u00b1" + m.toFixed(1) + " pts equivalence margin" }],
      legend: { orientation: "h", y: -0.25 }
    }, PLOT_CONFIG);
  }

  /* ---- cost and speed ---- */
  function frontier(points, lowerIsBetter) {
    var sorted = points.slice().sort(function (a, b) { return lowerIsBetter ? a.x - b.x : b.x - a.x; });
    var best = -1, out = [];
    sorted.forEach(function (p) { if (p.y > best) { out.push(p); best = p.y; } });
    return out;
  }
  function tradeoff(nodeId, field, title, log, lowerIsBetter) {
    var node = byId(nodeId);
    var pts = overall().filter(function (r) { return r[field] !== null && r[field] !== undefined && r.n > 0; })
      .map(function (r) { return { x: r[field], y: 100 * r.accuracy, lo: 100 * r.ci_low, hi: 100 * r.ci_high, model: r.model }; });
    if (!pts.length) {
      Plotly.purge(node);
      clear(node);
      node.appendChild(el("p", { "class": "empty", text: "No model has a value for " + title + "." }));
      return;
    }
    var front = frontier(pts, lowerIsBetter);
    Plotly.react(node, [
      { type: "scatter", mode: "markers+text", name: "models", x: pts.map(function (p) { return p.x; }),
        y: pts.map(function (p) { return p.y; }), text: pts.map(function (p) { return ptext(short(p.model, 24)); }),
        hovertext: pts.map(function (p) { return ptext(p.model); }),
        textposition: "top center", hoverinfo: "text+x+y", marker: { size: 10, color: "#2a4d8f" }, cliponaxis: false,
        error_y: { type: "data", symmetric: false, array: pts.map(function (p) { return p.hi - p.y; }),
          arrayminus: pts.map(function (p) { return p.y - p.lo; }) } },
      { type: "scatter", mode: "lines", name: "Pareto frontier", x: front.map(function (p) { return p.x; }),
        y: front.map(function (p) { return p.y; }), line: { dash: "dot", color: "#d0741c" }, hoverinfo: "skip" }
    ], {
      font: FONT, height: 380, margin: { l: 60, r: 20, t: 40, b: 60 }, title: { text: "accuracy vs " + title },
      xaxis: { title: { text: title }, type: log ? "log" : "linear" },
      yaxis: { title: { text: "accuracy % (95% CI)" }, rangemode: "tozero" },
      legend: { orientation: "h", y: -0.25 }
    }, PLOT_CONFIG);
  }

  /* ---- heatmap ---- */
  function renderHeatmap() {
    var node = byId("chart-heatmap");
    var ms = models(), ts = tasks();
    var cell = {};
    view.leaderboard.forEach(function (r) { cell[r.model + "\u0000" + r.task] = r; });
    var z = [], text = [], hover = [];
    ms.forEach(function (m) {
      var zr = [], tr = [], hr = [];
      ts.forEach(function (t) {
        var r = cell[m + "\u0000" + t];
        zr.push(r ? 100 * r.accuracy : null);
        tr.push(r ? pct(r.accuracy) + "%<br>noans " + pct(r.extraction_failure_rate) + "%" : "");
        hr.push(r ? ptext(m) + "<br>" + ptext(t) + "<br>accuracy " + pct(r.accuracy) + "% (" + pct(r.ci_low) + "\u2013" + pct(r.ci_high) + ")<br>no answer " + pct(r.extraction_failure_rate) + "%, n=" + r.n : "");
      });
      z.push(zr); text.push(tr); hover.push(hr);
    });
    Plotly.react(node, [{
      type: "heatmap", x: ts.map(ptext), y: ms.map(function (m, i) { return i; }), z: z, text: text, texttemplate: "%{text}",
      hovertext: hover, hoverinfo: "text", zmin: 0, zmax: 100, colorscale: "Viridis",
      colorbar: { title: { text: "acc %" } }
    }], {
      font: FONT, height: Math.max(260, 120 + 50 * ms.length), margin: { l: 20, r: 20, t: 20, b: 60 },
      yaxis: { automargin: true, autorange: "reversed", tickvals: ms.map(function (m, i) { return i; }),
        ticktext: ms.map(function (m) { return ptext(short(m, 36)); }), zeroline: false, showgrid: false },
      xaxis: { type: "category" }
    }, PLOT_CONFIG);
  }

  /* ---- origins over time ---- */
  function renderOrigins() {
    var node = byId("chart-origins");
    var note = byId("origins-note");
    var gap = view.gap;
    var rows = gap ? gap.timeline.filter(function (r) { return r.as_of; }) : [];
    if (!gap || !rows.length) {
      Plotly.purge(node);
      node.style.display = "none";
      note.textContent = gap ? "No compared model has a release date in the catalog." : (view.gap_note || "");
      return;
    }
    node.style.display = "";
    note.textContent = gap.overall.kind ? "Overall: best " + gap.first + " \u2212 best " + gap.second + " = " + pct(gap.overall.diff) + " pts (" + gap.overall.kind + ")" : "";
    var traces = [gap.first, gap.second].map(function (origin, k) {
      var have = rows.filter(function (r) { return r.best[origin]; });
      return { type: "scatter", mode: "lines+markers", name: "best " + ptext(origin), line: { shape: "hv" },
        x: have.map(function (r) { return r.as_of; }), y: have.map(function (r) { return 100 * r.best[origin].accuracy; }),
        hovertext: have.map(function (r) { return ptext(origin + ": " + r.best[origin].model); }), hoverinfo: "text+x+y",
        marker: { size: 9, color: k ? "#2a4d8f" : "#c0392b" } };
    });
    var gaps = rows.filter(function (r) { return r.diff !== null; });
    traces.push({ type: "scatter", mode: "markers", name: "gap " + ptext(gap.first + " \u2212 " + gap.second) + " (pts, 95% CI)", yaxis: "y2",
      x: gaps.map(function (r) { return r.as_of; }), y: gaps.map(function (r) { return 100 * r.diff; }),
      text: gaps.map(function (r) { return r.kind; }), hoverinfo: "text+x+y", marker: { symbol: "diamond", size: 9, color: "#555" },
      error_y: { type: "data", symmetric: false, array: gaps.map(function (r) { return 100 * (r.ci95[1] - r.diff); }),
        arrayminus: gaps.map(function (r) { return 100 * (r.diff - r.ci95[0]); }) } });
    Plotly.react(node, traces, {
      font: FONT, height: 400, margin: { l: 60, r: 60, t: 20, b: 60 },
      xaxis: { title: { text: "release date (as of)" }, type: "date" },
      yaxis: { title: { text: "best accuracy % on shared instances" }, rangemode: "tozero" },
      yaxis2: { title: { text: "gap (points)" }, overlaying: "y", side: "right", zeroline: true },
      legend: { orientation: "h", y: -0.25 }
    }, PLOT_CONFIG);
  }

  /* ---- provenance ---- */
  var RUN_COLS = ["id", "model", "status", "started", "finished", "gapbench_version", "backend",
    "engine_version", "model_sha256", "settings_hash", "threads", "batch_size", "device",
    "generation_seconds", "peak_rss_mb", "sampling", "command"];
  function renderRuns() {
    var head = byId("runs-head"), body = byId("runs-body");
    clear(head); clear(body);
    RUN_COLS.forEach(function (c) { head.appendChild(el("th", { "class": "text", text: c })); });
    view.runs.forEach(function (run) {
      var tr = el("tr");
      RUN_COLS.forEach(function (c) {
        var v = run[c];
        if (c === "sampling") { v = JSON.stringify(v); }
        if (c === "generation_seconds" && v !== null) { v = v.toFixed(1); }
        if (c === "peak_rss_mb" && v !== null) { v = v.toFixed(0); }
        var text = v === null || v === undefined ? "" : String(v);
        var content = c === "sampling" || c === "command" ? el("code", { text: text }) : text;
        tr.appendChild(el("td", { "class": "text" }, [content]));
      });
      body.appendChild(tr);
    });
  }

  /* ---- sample browser ---- */
  var sb = { offset: 0, total: 0, token: 0 };
  var OUTCOME_LABELS = { all: "all", right: "right", wrong: "wrong", noanswer: "no answer", failed: "failed" };

  function fillSelect(node, values, labels, keep) {
    var current = node.value;
    clear(node);
    values.forEach(function (v, i) { node.appendChild(el("option", { value: v, text: labels[i] })); });
    if (keep && values.indexOf(current) >= 0) { node.value = current; }
  }
  function setupBrowser() {
    var ms = models(), ts = tasks();
    fillSelect(byId("sb-model"), [""].concat(ms), ["all models"].concat(ms), true);
    fillSelect(byId("sb-task"), [""].concat(ts), ["all tasks"].concat(ts), true);
    if (!byId("sb-outcome").options.length) {
      var keys = Object.keys(OUTCOME_LABELS);
      fillSelect(byId("sb-outcome"), keys, keys.map(function (k) { return OUTCOME_LABELS[k]; }), false);
    }
    fillSelect(byId("sb-other"), [""].concat(ms), ["\u2014 no second model \u2014"].concat(ms), true);
    var help = byId("sb-help");
    if (API) {
      help.textContent = "Every stored sample, " + PAGE + " per page, read from the database as you page. Pick a second model to see the instances where exactly one of the two was right.";
    } else {
      var stored = 0;
      Object.keys(view.sample_counts).forEach(function (k) { stored += view.sample_counts[k]; });
      help.textContent = "This file holds " + boot.samples.rows.length.toLocaleString("en-US") + " of the " + stored.toLocaleString("en-US") +
        " stored samples (up to " + boot.samples.limit.toLocaleString("en-US") + " per model and task, and per pair and task where exactly one was right; long texts cut at " +
        boot.samples.max_chars.toLocaleString("en-US") + " characters). `gapbench serve` browses them all.";
    }
  }
  function query() {
    return { model: byId("sb-model").value, task: byId("sb-task").value, outcome: byId("sb-outcome").value || "all", other: byId("sb-other").value };
  }
  function outcomeOf(s) {
    if (s.error !== null) { return "failed"; }
    if (!s.extraction_ok) { return "noanswer"; }
    return s.correct ? "right" : "wrong";
  }
  function matches(s, q) {
    if (q.model && s.model !== q.model) { return false; }
    if (q.task && s.task !== q.task) { return false; }
    if (q.outcome === "all") { return true; }
    if (q.outcome === "noanswer") { return s.error === null && !s.extraction_ok; }
    if (q.outcome === "right") { return s.error === null && s.correct; }
    if (q.outcome === "wrong") { return s.error === null && !s.correct; }
    return s.error !== null;
  }
  function embeddedPage(q, offset) {
    var rows;
    if (q.other && q.model && q.other !== q.model) {
      var byId_ = boot.samples.byId;
      var key = q.model + "\u0000" + q.other;
      var swapped = false;
      var list = boot.disagreements[key];
      if (!list) { list = boot.disagreements[q.other + "\u0000" + q.model]; swapped = true; }
      rows = (list || []).map(function (pair) {
        var a = byId_[pair[0]], b = byId_[pair[1]];
        return swapped ? { a: b, b: a } : { a: a, b: b };
      }).filter(function (p) { return !q.task || p.a.task === q.task; });
      return Promise.resolve({ total: rows.length, rows: rows.slice(offset, offset + PAGE), pairs: true });
    }
    rows = boot.samples.rows.filter(function (s) { return matches(s, q); });
    return Promise.resolve({ total: rows.length, rows: rows.slice(offset, offset + PAGE), pairs: false });
  }
  function apiPage(q, offset) {
    var params = new URLSearchParams();
    var pairs = Boolean(q.other && q.model && q.other !== q.model);
    if (pairs) { params.set("a", q.model); params.set("b", q.other); } else {
      if (q.model) { params.set("model", q.model); }
      params.set("outcome", q.outcome);
    }
    if (q.task) { params.set("task", q.task); }
    params.set("offset", String(offset));
    params.set("limit", String(PAGE));
    return fetch((pairs ? "api/disagreements?" : "api/samples?") + params.toString())
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (d) { return { total: d.total, rows: d.rows, pairs: pairs }; });
  }
  function sampleCard(s) {
    var o = outcomeOf(s);
    var fields = [["prompt", s.prompt], ["reasoning", s.reasoning], ["output", s.output],
      ["extracted", s.extracted === null ? "(none)" : s.extracted], ["reference", s.reference],
      ["read as", s.score_method], ["error", s.error]];
    var dl = el("dl");
    fields.forEach(function (f) {
      if (f[1] === null || f[1] === undefined || (f[0] === "reasoning" && !f[1])) { return; }
      dl.appendChild(el("dt", { text: f[0] }));
      dl.appendChild(el("dd", {}, [el("pre", { "class": "f-" + f[0].replace(" ", "-"), text: f[1] })]));
    });
    var timing = "latency " + num(s.latency_s, 2) + " s" + (s.ttft_s !== null ? " · ttft " + num(s.ttft_s, 2) + " s" : "") +
      " · " + s.prompt_tokens + " prompt + " + s.completion_tokens + " output tokens";
    return el("div", { "class": "sample" }, [
      el("div", { "class": "head" }, [
        el("span", { "class": "id", text: s.model }),
        el("span", { text: s.task + " · seed " + s.seed + " · #" + s.index + " · " + s.difficulty + (s.draw ? " · draw " + s.draw : "") + (s.prompt_style ? " · " + s.prompt_style : "") }),
        el("span", { "class": "badge " + o, text: OUTCOME_LABELS[o] }),
        el("span", { "class": "timing", text: timing })
      ]), dl]);
  }
  function loadSamples() {
    var q = query();
    var token = ++sb.token;
    var status = byId("sb-status");
    status.textContent = "loading\u2026";
    return (API ? apiPage(q, sb.offset) : embeddedPage(q, sb.offset)).then(function (page) {
      if (token !== sb.token) { return; }
      sb.total = page.total;
      if (sb.offset >= sb.total && sb.total > 0) { sb.offset = Math.floor((sb.total - 1) / PAGE) * PAGE; return loadSamples(); }
      var list = byId("sb-list");
      clear(list);
      page.rows.forEach(function (row) {
        if (page.pairs) { list.appendChild(el("div", { "class": "pair" }, [sampleCard(row.a), sampleCard(row.b)])); } else { list.appendChild(sampleCard(row)); }
      });
      if (!page.rows.length) { list.appendChild(el("p", { "class": "empty", text: page.pairs ? "No instance where exactly one of the two was right." : "No sample matches." })); }
      var first = sb.total ? sb.offset + 1 : 0;
      var last = Math.min(sb.offset + PAGE, sb.total);
      var pages = Math.max(1, Math.ceil(sb.total / PAGE));
      status.textContent = (page.pairs ? "instances " : "samples ") + first.toLocaleString("en-US") + "\u2013" + last.toLocaleString("en-US") +
        " of " + sb.total.toLocaleString("en-US") + " (page " + (Math.floor(sb.offset / PAGE) + 1) + " of " + pages + ")";
      byId("sb-page").value = String(Math.floor(sb.offset / PAGE) + 1);
      byId("sb-page").max = String(pages);
      byId("sb-prev").disabled = sb.offset === 0;
      byId("sb-first").disabled = sb.offset === 0;
      byId("sb-next").disabled = last >= sb.total;
      byId("sb-last").disabled = last >= sb.total;
    }).catch(function (err) { status.textContent = "could not load samples: " + err.message; });
  }
  function wireBrowser() {
    ["sb-model", "sb-task", "sb-outcome", "sb-other"].forEach(function (id) {
      byId(id).addEventListener("change", function () { sb.offset = 0; loadSamples(); });
    });
    byId("sb-first").addEventListener("click", function () { sb.offset = 0; loadSamples(); });
    byId("sb-prev").addEventListener("click", function () { sb.offset = Math.max(0, sb.offset - PAGE); loadSamples(); });
    byId("sb-next").addEventListener("click", function () { sb.offset += PAGE; loadSamples(); });
    byId("sb-last").addEventListener("click", function () { sb.offset = Math.max(0, Math.floor((sb.total - 1) / PAGE) * PAGE); loadSamples(); });
    byId("sb-go").addEventListener("click", function () {
      var page = parseInt(byId("sb-page").value, 10);
      if (!isNaN(page) && page >= 1) { sb.offset = (page - 1) * PAGE; loadSamples(); }
    });
  }

  /* ---- everything ---- */
  function renderAll() {
    renderHeader();
    renderLeaderboard();
    renderForest();
    tradeoff("chart-cost", "usd_per_correct", "$ per correct answer", true, true);
    tradeoff("chart-speed", "tokens_per_s", "output tokens/s", false, false);
    renderHeatmap();
    renderOrigins();
    renderRuns();
    setupBrowser();
  }

  function start() {
    byId("lb-filter").addEventListener("input", renderLeaderboard);
    byId("lb-tasks").addEventListener("change", renderLeaderboard);
    wireBrowser();
    if (!API) {
      boot.samples.byId = {};
      boot.samples.rows.forEach(function (s) { boot.samples.byId[s.id] = s; });
      renderAll();
      loadSamples();
      document.body.setAttribute("data-ready", "1");
      return;
    }
    var fingerprint = null;
    function refresh() {
      return fetch("api/version").then(function (r) { return r.json(); }).then(function (v) {
        if (v.fingerprint === fingerprint) {
          // New results are being summarised; the numbers shown stay until that ends.
          if (v.updating) { byId("live").textContent = "· live: new results, recomputing…"; }
          return null;
        }
        return fetch("api/view").then(function (r) {
          if (!r.ok) { return r.json().then(function (e) { throw new Error(e.error || ("HTTP " + r.status)); }); }
          return r.json();
        }).then(function (data) {
          var firstTime = view === null;
          fingerprint = v.fingerprint;
          view = data;
          renderAll();
          loadSamples();
          byId("live").textContent = "· live: updated " + new Date().toLocaleTimeString();
          if (firstTime) { document.body.setAttribute("data-ready", "1"); }
        });
      }).catch(function (err) { byId("live").textContent = "· live: " + err.message; });
    }
    refresh();
    setInterval(refresh, boot.poll_ms || 3000);
  }
  start();
}());
