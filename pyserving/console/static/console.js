// pyserving console: plain JavaScript, no build step. Reads only public endpoints:
// TF Serving's REST API (/v1/models/...), /v1/config and /console/api/stats.
"use strict";
(() => {
  const POLL_MS = 1000;
  const MAX_POINTS = 300;
  const COLORS = ["#2f5fd0", "#c62828", "#1a7f37", "#b35900"];
  const S = {
    after: 0, afterEvent: 0, pid: null, server: null, points: [], events: [],
    config: [], status: {}, meta: {}, cards: {}, charts: {}, serverCharts: null, refreshing: false,
    dirty: true, lastConfig: 0,
  };

  // -- small DOM helpers (textContent only: names and errors come from model folders) --
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "value") node.value = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const $ = (sel, root) => (root || document).querySelector(sel);
  const enc = encodeURIComponent;
  const fmt = (v, digits) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits === undefined ? 1 : digits));
  const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "–");
  const mb = (b) => (b === null || b === undefined ? "–" : (b / 1048576).toFixed(0) + " MB");

  async function getJSON(url, options) {
    const res = await fetch(url, options);
    const text = await res.text();
    let body;
    try { body = JSON.parse(text); } catch (e) { body = { error: text }; }
    return { ok: res.ok, status: res.status, body };
  }

  // -- polling ------------------------------------------------------------------------
  async function poll() {
    try {
      const { ok, body } = await getJSON("/console/api/stats", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ after: S.after, after_event: S.afterEvent }),
      });
      if (!ok) throw new Error(body.error || "stats failed");
      if (S.pid !== null && body.server.pid !== S.pid) { // another process answers now
        Object.assign(S, { after: 0, afterEvent: 0, points: [], events: [], dirty: true });
        S.pid = body.server.pid;
        return;
      }
      S.pid = body.server.pid;
      S.server = body.server;
      if (body.events.length) { S.events.push(...body.events); S.dirty = true; }
      S.afterEvent = body.event_seq;
      S.points.push(...body.points);
      if (S.points.length > MAX_POINTS) S.points.splice(0, S.points.length - MAX_POINTS);
      S.after = body.seq;
      setConnected(true);
      if (S.dirty || Date.now() - S.lastConfig > 10000) await refreshModels();
      updateServer();
      updateCharts();
    } catch (e) {
      setConnected(false, e);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  function setConnected(up) {
    const conn = $("#conn");
    conn.textContent = up ? "live" : "disconnected";
    conn.className = "pill " + (up ? "live" : "down");
  }

  async function refreshModels() {
    if (S.refreshing) return;
    S.refreshing = true;
    S.dirty = false;
    try {
      const cfg = await getJSON("/v1/config");
      S.lastConfig = Date.now();
      S.config = (cfg.ok && cfg.body.model_config_list && cfg.body.model_config_list.config) || [];
      await Promise.all(S.config.map(async (model) => {
        const st = await getJSON(`/v1/models/${enc(model.name)}`);
        S.status[model.name] = st.ok ? st.body.model_version_status || [] : { error: st.body.error };
      }));
      renderModels(); // states first; signatures follow
      await Promise.all(S.config.map(async (model) => {
        const meta = (S.meta[model.name] = S.meta[model.name] || {});
        const versions = Array.isArray(S.status[model.name]) ? S.status[model.name] : [];
        await Promise.all(versions.filter((v) => v.state === "AVAILABLE" && !meta[v.version]).map(async (v) => {
          const md = await getJSON(`/v1/models/${enc(model.name)}/versions/${v.version}/metadata`);
          if (md.ok) meta[v.version] = md.body.metadata.signature_def.signature_def;
        }));
      }));
      renderModels();
    } finally {
      S.refreshing = false;
    }
  }

  // -- server figures ---------------------------------------------------------------------
  function updateServer() {
    const s = S.server;
    if (!s) return;
    const worker = s.pid ? ` · pid ${s.pid}` : "";
    $("#server-info").textContent = `${location.host} · pyserving ${s.version}${worker}`;
    $("#stats-note").textContent = s.prometheus
      ? "Rates and latencies come from the server's request metrics (REST and gRPC), the same the Prometheus endpoint exports."
      : "Prometheus monitoring is off: while this page is open the server counts model runs (REST and gRPC) for these charts, and stops when it is closed. In flight counts REST requests. With --monitoring_config_file, request-level metrics are used.";
    const last = S.points[S.points.length - 1];
    if (last) {
      $("#fig-inflight").textContent = last.in_flight === null ? "–" : last.in_flight;
      $("#fig-rss").textContent = mb(last.rss_bytes);
      $("#fig-cpu").textContent = fmt(last.cpu_percent, 0) + " %";
    }
    $("#fig-models").textContent = S.config.length;
  }

  // -- charts ---------------------------------------------------------------------------
  function makeChart(container, title, labels, unit) {
    const width = Math.max(280, container.clientWidth || 320);
    const series = [{}].concat(labels.map((label, i) => ({
      label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false,
      value: (u, v) => (v === null || v === undefined ? "–" : fmt(v, 2) + (unit ? " " + unit : "")),
    })));
    const empty = [[]].concat(labels.map(() => []));
    const chart = new uPlot({
      title, width, height: 150, series, legend: { live: true },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] } },
      axes: [{ stroke: "#6b7385" }, { stroke: "#6b7385", size: 52 }],
      cursor: { drag: { x: false, y: false } },
    }, empty, container);
    new ResizeObserver(() => {
      if (container.clientWidth > 0) chart.setSize({ width: container.clientWidth, height: 150 });
    }).observe(container);
    return chart;
  }

  function updateCharts() {
    const xs = S.points.map((p) => p.time);
    if (!S.serverCharts) {
      S.serverCharts = {
        inflight: makeChart($("#chart-inflight"), "in-flight requests", ["in flight"]),
        rss: makeChart($("#chart-rss"), "RSS (MB)", ["RSS"], "MB"),
        cpu: makeChart($("#chart-cpu"), "CPU (% of one core)", ["CPU"], "%"),
      };
    }
    S.serverCharts.inflight.setData([xs, S.points.map((p) => p.in_flight)]);
    S.serverCharts.rss.setData([xs, S.points.map((p) => (p.rss_bytes === null ? null : p.rss_bytes / 1048576))]);
    S.serverCharts.cpu.setData([xs, S.points.map((p) => p.cpu_percent)]);
    for (const [name, charts] of Object.entries(S.charts)) {
      const m = (key) => S.points.map((p) => (p.models[name] ? p.models[name][key] : null));
      charts.throughput.setData([xs, m("rps"), m("eps")]);
      charts.latency.setData([xs, m("p50_ms"), m("p99_ms")]);
      charts.batching.setData([xs, m("batch"), m("queue_ms")]);
      const last = S.points.length ? S.points[S.points.length - 1].models[name] : null;
      const card = S.cards[name];
      if (card && last) {
        card.live.textContent = `${fmt(last.rps)} req/s · ${fmt(last.eps)} err/s · p50 ${fmt(last.p50_ms, 2)} ms · p99 ${fmt(last.p99_ms, 2)} ms`;
      }
    }
  }

  // -- model cards ------------------------------------------------------------------------
  function renderModels() {
    const root = $("#models");
    const names = S.config.map((m) => m.name);
    if (!names.length) root.replaceChildren(h("p", { class: "muted" }, "No model configured."));
    else if (!Object.keys(S.cards).length) root.replaceChildren();
    for (const name of Object.keys(S.cards)) {
      if (!names.includes(name)) { S.cards[name].node.remove(); delete S.cards[name]; delete S.charts[name]; }
    }
    for (const model of S.config) {
      let card = S.cards[model.name];
      if (!card) {
        card = S.cards[model.name] = buildCard(model);
        root.append(card.node);
        S.charts[model.name] = {
          throughput: makeChart(card.perf.querySelector(".c1"), "requests/s", ["req/s", "errors/s"]),
          latency: makeChart(card.perf.querySelector(".c2"), "latency (ms)", ["p50", "p99"], "ms"),
          batching: makeChart(card.perf.querySelector(".c3"), "batching", ["batch size (rows)", "queue (ms)"]),
        };
      }
      updateCard(card, model);
    }
  }

  function buildCard(model) {
    const card = { name: model.name };
    card.live = h("span", { class: "muted mono" });
    card.head = h("div", { class: "card-head" }, h("h2", {}, model.name), card.live);
    card.info = h("div", { class: "muted small" });
    card.versions = h("div");
    card.perf = h("div", { class: "panel charts" },
      h("div", { class: "chart c1" }), h("div", { class: "chart c2" }), h("div", { class: "chart c3" }));
    card.sigs = h("div", { class: "panel", hidden: true });
    card.tryit = h("div", { class: "panel tryit", hidden: true });
    card.history = h("div", { class: "panel history", hidden: true });
    const panels = { Performance: card.perf, Signatures: card.sigs, "Try it": card.tryit, History: card.history };
    const buttons = Object.entries(panels).map(([label, panel], i) => h("button", {
      class: i === 0 ? "active" : "", "data-tab": label,
      onclick: (ev) => {
        for (const b of ev.target.parentNode.children) b.classList.toggle("active", b === ev.target);
        for (const p of Object.values(panels)) p.hidden = p !== panel;
      },
    }, label));
    card.node = h("section", { class: "card model", "data-model": model.name },
      card.head, card.info, card.versions, h("div", { class: "tabs" }, buttons),
      card.perf, card.sigs, card.tryit, card.history);
    return card;
  }

  function versionLabels(model) {
    const out = {};
    for (const [label, v] of Object.entries(model.version_labels || {})) (out[String(v)] = out[String(v)] || []).push(label);
    return out;
  }

  function lastEvent(name, version, predicate) {
    for (let i = S.events.length - 1; i >= 0; i--) {
      const e = S.events[i];
      if (e.model === name && String(e.version) === String(version) && predicate(e)) return e;
    }
    return null;
  }

  function updateCard(card, model) {
    const policy = model.model_version_policy ? Object.keys(model.model_version_policy)[0] : "latest";
    card.info.textContent = `platform ${model.model_platform || "tensorflow"} · ${model.base_path} · version policy ${policy}`;
    const status = S.status[model.name];
    const labels = versionLabels(model);
    if (!Array.isArray(status)) {
      card.versions.replaceChildren(h("p", { class: "error" }, h("span", { class: "pill state-FAILED" }, "no version"), " ",
        h("span", { class: "mono" }, (status && status.error) || "")));
    } else {
      const rows = status.map((v) => {
        const failed = v.status && v.status.error_code !== "OK";
        const loaded = lastEvent(model.name, v.version, (e) => e.state === "AVAILABLE");
        const error = failed ? `${v.status.error_code}: ${v.status.error_message}` : "";
        return h("tr", { "data-version": v.version, "data-state": v.state },
          h("td", { class: "mono" }, v.version),
          h("td", {}, h("span", { class: `pill state-${failed ? "FAILED" : v.state}` }, failed ? `${v.state} (failed)` : v.state)),
          h("td", {}, (labels[v.version] || []).join(", ")),
          h("td", {}, loaded ? when(loaded.time) : "–"),
          h("td", {}, loaded && loaded.load_seconds !== undefined ? `${fmt(loaded.load_seconds, 2)} s` : "–"),
          h("td", { class: "error" }, error));
      });
      card.versions.replaceChildren(h("table", { class: "versions" },
        h("tr", {}, ["version", "state", "labels", "loaded at", "load time", "last error"].map((t) => h("th", {}, t))), rows));
    }
    renderSignatures(card, model);
    renderHistory(card, model);
  }

  function renderHistory(card, model) {
    const events = S.events.filter((e) => e.model === model.name).slice().reverse();
    card.history.replaceChildren(events.length ? h("table", {},
      h("tr", {}, ["time", "version", "state", "what", "error"].map((t) => h("th", {}, t))),
      events.map((e) => h("tr", {},
        h("td", {}, when(e.time)), h("td", { class: "mono" }, e.version),
        h("td", {}, h("span", { class: `pill state-${e.error ? "FAILED" : e.state}` }, e.state)),
        h("td", {}, e.what || (e.load_seconds !== undefined ? `loaded in ${fmt(e.load_seconds, 2)} s` : "")),
        h("td", { class: "error" }, e.error || "")))) : h("p", { class: "muted" }, "No events yet."));
  }

  // -- signatures, snippets, try it ---------------------------------------------------------
  function dims(info) {
    const shape = info.tensor_shape || {};
    if (shape.unknown_rank) return null;
    return (shape.dim || []).map((d) => Number(d.size));
  }
  const shapeText = (info) => { const d = dims(info); return d === null ? "unknown rank" : `(${d.join(", ")}${d.length === 1 ? "," : ""})`; };
  const isString = (dtype) => dtype === "DT_STRING";
  const isNumeric = (dtype) => /^DT_(FLOAT|DOUBLE|HALF|BFLOAT16|U?INT\d+)$/.test(dtype);
  const isBool = (dtype) => dtype === "DT_BOOL";

  // How the try-it form asks for one input: one instance's value (the batch dimension dropped).
  function fieldKind(info) {
    const d = dims(info);
    if (d === null || d.length === 0 || d[0] !== -1) return "json";
    const rest = d.length - 1;
    if (rest === 0 && (isString(info.dtype) || isNumeric(info.dtype) || isBool(info.dtype))) return "scalar";
    if (rest === 1 && (isString(info.dtype) || isNumeric(info.dtype))) return "list";
    return "json";
  }

  function sampleValue(info) {
    const d = dims(info) || [-1];
    const leaf = isString(info.dtype) ? "text" : isBool(info.dtype) ? false : 1;
    const build = (rest) => (rest.length === 0 ? leaf : Array.from({ length: rest[0] > 0 ? rest[0] : 1 }, () => build(rest.slice(1))));
    return build(d.slice(1));
  }

  function verbOf(sig) {
    const m = sig.method_name || "";
    if (m.endsWith("/classify")) return "classify";
    if (m.endsWith("/regress")) return "regress";
    return "predict";
  }

  function exampleBody(name, sig) {
    const verb = verbOf(sig);
    const body = name === "serving_default" ? {} : { signature_name: name };
    if (verb !== "predict") { body.examples = [{ feature: 1.0 }]; return body; }
    const inputs = Object.entries(sig.inputs || {});
    if (inputs.every(([, info]) => fieldKind(info) !== "json" || (dims(info) || [])[0] === -1)) {
      const instance = {};
      for (const [alias, info] of inputs) instance[alias] = sampleValue(info);
      body.instances = [inputs.length === 1 ? instance[inputs[0][0]] : instance];
    } else {
      body.inputs = Object.fromEntries(inputs.map(([alias, info]) => [alias, sampleValue(info)]));
    }
    return body;
  }

  function tfDtype(dtype) {
    const map = { DT_FLOAT: "float32", DT_DOUBLE: "float64", DT_HALF: "float16", DT_STRING: "string" };
    return "tf." + (map[dtype] || dtype.replace(/^DT_/, "").toLowerCase());
  }

  function snippets(model, version, name, sig) {
    const base = `${location.protocol}//${location.host}`;
    const verb = verbOf(sig);
    const url = `${base}/v1/models/${enc(model)}/versions/${version}:${verb}`;
    const body = JSON.stringify(exampleBody(name, sig));
    const curl = `curl -d '${body.replace(/'/g, "'\\''")}' \\\n  ${url}`;
    const pyBody = body.replace(/\btrue\b/g, "True").replace(/\bfalse\b/g, "False").replace(/\bnull\b/g, "None");
    const py = `import requests\n\nbody = ${pyBody}\nr = requests.post("${url}", json=body, timeout=10)\nprint(r.status_code, r.json())`;
    const grpcPort = S.server && S.server.grpc_port ? S.server.grpc_port : 8500;
    const lines = [
      "import grpc", "import tensorflow as tf",
      "from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc", "",
      `channel = grpc.insecure_channel("${location.hostname}:${grpcPort}")`,
      "stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)",
      "request = predict_pb2.PredictRequest()",
      `request.model_spec.name = ${JSON.stringify(model)}`,
      `request.model_spec.version.value = ${version}`,
      `request.model_spec.signature_name = ${JSON.stringify(name)}`,
    ];
    for (const [alias, info] of Object.entries(sig.inputs || {})) {
      const value = JSON.stringify([sampleValue(info)]);
      lines.push(`request.inputs[${JSON.stringify(alias)}].CopyFrom(tf.make_tensor_proto(${value}, dtype=${tfDtype(info.dtype)}))`);
    }
    lines.push("response = stub.Predict(request, 10.0)", "print(response.outputs)");
    const out = [h("h3", {}, "curl"), h("pre", { class: "snippet-curl" }, curl),
      h("h3", {}, "Python (requests)"), h("pre", {}, py)];
    if (verb === "predict") out.push(h("h3", {}, "Python (gRPC stub)"), h("pre", {}, lines.join("\n")));
    return out;
  }

  function tensorTable(title, tensors) {
    return [h("h3", {}, title), h("table", {},
      h("tr", {}, ["name", "dtype", "shape", "tensor"].map((t) => h("th", {}, t))),
      Object.entries(tensors || {}).map(([alias, info]) => h("tr", {},
        h("td", { class: "mono" }, alias), h("td", { class: "mono" }, info.dtype),
        h("td", { class: "mono" }, shapeText(info)), h("td", { class: "mono muted" }, info.name))))];
  }

  function renderSignatures(card, model) {
    const meta = S.meta[model.name] || {};
    const status = Array.isArray(S.status[model.name]) ? S.status[model.name] : [];
    const versions = status.filter((v) => v.state === "AVAILABLE" && meta[v.version]).map((v) => v.version);
    const key = JSON.stringify(versions);
    if (card.sigKey === key) return; // unchanged: keep what the user typed
    card.sigKey = key;
    if (!versions.length) {
      card.sigs.replaceChildren(h("p", { class: "muted" }, "No version is AVAILABLE."));
      card.tryit.replaceChildren(h("p", { class: "muted" }, "No version is AVAILABLE."));
      return;
    }
    const pick = (onchange) => h("select", { class: "version-select", onchange },
      versions.map((v) => h("option", { value: v }, `version ${v}`)));
    const showSigs = (version) => {
      const sigs = meta[version];
      body.replaceChildren(...Object.entries(sigs).filter(([n]) => n !== "__saved_model_init_op").map(([name, sig]) =>
        h("div", { class: "signature" },
          h("h3", {}, `signature_def['${name}']`, h("span", { class: "muted small" }, `  method ${sig.method_name}`)),
          h("div", { class: "grid2" }, h("div", {}, tensorTable("inputs", sig.inputs), tensorTable("outputs", sig.outputs)),
            h("div", {}, snippets(model.name, version, name, sig))))));
    };
    const body = h("div");
    card.sigs.replaceChildren(h("div", {}, pick((ev) => showSigs(ev.target.value))), body);
    showSigs(versions[0]);
    renderTryIt(card, model, versions, meta);
  }

  function renderTryIt(card, model, versions, meta) {
    const form = h("div", { class: "fields" });
    const preview = h("textarea", { class: "mono request-body", rows: 3, spellcheck: "false" });
    const result = h("div", { class: "result" });
    const versionSel = h("select", { class: "version-select" }, versions.map((v) => h("option", { value: v }, `version ${v}`)));
    const sigSel = h("select", { class: "signature-select" });
    const fields = {};
    const sigOf = () => meta[versionSel.value][sigSel.value];
    const fillSignatures = () => {
      const names = Object.keys(meta[versionSel.value]).filter((n) => n !== "__saved_model_init_op");
      sigSel.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
      if (names.includes("serving_default")) sigSel.value = "serving_default";
      buildFields();
    };
    const buildFields = () => {
      const sig = sigOf();
      for (const k of Object.keys(fields)) delete fields[k];
      if (verbOf(sig) !== "predict") {
        form.replaceChildren(h("p", { class: "muted" }, `A ${verbOf(sig)} signature: edit the tf.Example features below.`));
        preview.value = JSON.stringify(exampleBody(sigSel.value, sig), null, 1);
        return;
      }
      form.replaceChildren(...Object.entries(sig.inputs || {}).map(([alias, info]) => {
        const kind = fieldKind(info);
        let input;
        if (kind === "scalar" && isNumeric(info.dtype)) input = h("input", { type: "number", step: "any", "data-input": alias, oninput: update });
        else if (kind === "json") input = h("textarea", { class: "mono", "data-input": alias, oninput: update, rows: 3 });
        else input = h("input", { type: "text", "data-input": alias, oninput: update });
        if (kind === "json") input.value = JSON.stringify((dims(info) || [-1])[0] === -1 ? [sampleValue(info)] : sampleValue(info));
        fields[alias] = { input, info, kind };
        const hint = kind === "list" ? (isString(info.dtype) ? "space-separated tokens" : "space-separated numbers")
          : kind === "json" ? "JSON value, batch dimension included" : "one value";
        return h("div", { class: "form-row" }, h("label", { class: "mono" }, alias),
          input, h("div", { class: "hint" }, `${info.dtype} ${shapeText(info)} · ${hint}`));
      }));
      update();
    };
    function parseScalar(text, info) {
      if (isString(info.dtype)) return text;
      if (isBool(info.dtype)) return /^(true|1)$/i.test(text.trim());
      return text.trim() === "" ? 0 : Number(text);
    }
    function update() {
      const body = sigSel.value === "serving_default" ? {} : { signature_name: sigSel.value };
      const values = {};
      let columnar = false;
      for (const [alias, f] of Object.entries(fields)) {
        const text = f.input.value;
        if (f.kind === "scalar") values[alias] = parseScalar(text, f.info);
        else if (f.kind === "list") values[alias] = text.split(/\s+/).filter((t) => t !== "").map((t) => parseScalar(t, f.info));
        else { columnar = true; try { values[alias] = JSON.parse(text); } catch (e) { values[alias] = text; } }
      }
      if (columnar) {
        // JSON fields carry their batch dimension: send every input columnar, the others as a batch of one.
        body.inputs = Object.fromEntries(Object.entries(fields).map(([a, f]) => [a, f.kind === "json" ? values[a] : [values[a]]]));
      } else {
        const names = Object.keys(values);
        body.instances = [names.length === 1 ? values[names[0]] : values];
      }
      preview.value = JSON.stringify(body);
    }
    async function send(ev) {
      const button = ev.target;
      const sig = sigOf();
      const url = `/v1/models/${enc(model.name)}/versions/${versionSel.value}:${verbOf(sig)}`;
      button.disabled = true;
      const started = performance.now();
      let status = 0; let text = "";
      try {
        const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: preview.value });
        status = res.status;
        text = await res.text();
      } catch (e) {
        text = String(e);
      }
      const ms = performance.now() - started;
      button.disabled = false;
      let pretty = text;
      let answer = null;
      try {
        const doc = JSON.parse(text);
        pretty = JSON.stringify(doc, null, 1);
        const first = doc.predictions ? doc.predictions[0] : null;
        if (first && typeof first === "object" && !Array.isArray(first)) {
          const words = Object.entries(first).filter(([, v]) => typeof v === "string");
          if (words.length) answer = words.map(([k, v]) => `${k}: ${v}`).join(" · ");
        }
      } catch (e) { /* not JSON: show as is */ }
      result.className = "result" + (status === 200 ? "" : " failed");
      result.replaceChildren(
        h("div", {}, h("span", { class: "latency" }, `HTTP ${status || "error"} in ${ms.toFixed(1)} ms`), " ", h("span", { class: "muted small" }, "(round trip from this browser)")),
        answer ? h("div", { class: "answer" }, answer) : null,
        h("pre", { class: "response" }, pretty));
    }
    versionSel.addEventListener("change", fillSignatures);
    sigSel.addEventListener("change", buildFields);
    card.tryit.replaceChildren(
      h("div", { class: "form-row" }, h("label", {}, "version"), versionSel),
      h("div", { class: "form-row" }, h("label", {}, "signature"), sigSel),
      form,
      h("div", { class: "form-row" }, h("label", {}, "request body"), preview,
        h("div", { class: "hint" }, "Built from the fields above; edit it freely before sending.")),
      h("div", { class: "form-row" }, h("span"), h("div", {}, h("button", { class: "primary send", onclick: send }, "Send predict"))),
      result);
    fillSignatures();
  }

  window.pyservingConsole = { state: S, charts: S.charts };
  refreshModels();
  poll();
})();
