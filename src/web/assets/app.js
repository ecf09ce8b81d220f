// cassflow page behaviour: live tail of a topic, the row count of a table, and the Stream
// page's charts. Everything is read from the JSON API with the session cookie; pages work
// (without live updates) when scripts are off.
(function () {
  "use strict";

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); });
  }

  function cell(text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text == null ? "" : String(text);
    return td;
  }

  function clock(ms) {
    return ms == null ? "" : new Date(ms).toISOString().substring(0, 19).replace("T", " ");
  }

  // Topic page: refresh the newest messages every 2 s.
  function liveTail(table) {
    const url = table.dataset.tailUrl, status = document.getElementById("tail-status");
    function refresh() {
      getJson(url).then(function (data) {
        const body = document.createElement("tbody");
        for (const m of data.messages) {
          const tr = document.createElement("tr");
          tr.append(cell(clock(m.timestamp), "nowrap"), cell(m.partition, "num"), cell(m.offset, "num"),
            cell(m.key, "small"));
          const td = document.createElement("td"), code = document.createElement("code");
          code.textContent = m.value + (m.truncated ? "…" : "");
          td.append(code); tr.append(td); body.append(tr);
        }
        if (!data.messages.length) { const tr = document.createElement("tr"); tr.append(cell("No messages.", "muted")); body.append(tr); }
        table.replaceChild(body, table.tBodies[0]);
        if (status) { status.textContent = "live"; status.classList.remove("stale"); }
      }).catch(function () {
        if (status) { status.textContent = "not updating"; status.classList.add("stale"); }
      });
    }
    setInterval(refresh, 2000);
  }

  // Table page: the row count is a full scan, fetched after the page is shown.
  function rowCount(el) {
    getJson(el.dataset.countUrl)
      .then(function (d) { el.textContent = String(d.count); })
      .catch(function () { el.textContent = "unknown (count failed or timed out)"; });
  }

  // Stream page: poll samples every second, redraw each pipeline's charts.
  const COLORS = ["#0f6fc6", "#c62828", "#1a7f37", "#b35900"];
  const LABELS = {
    rows_per_sec: "rows/s", lag: "lag", latency_p50_ms: "p50 ms", latency_p99_ms: "p99 ms",
    dead_letters_per_sec: "dead letters/s",
  };
  const PAUSED = { cassandra_unavailable: "paused (Cassandra outage)",
    unauthorized: "paused (writes not authorized)", schema: "paused (table cannot be written)" };
  // The same words as stream_page.rs `describe`.
  function describeStatus(st) {
    const state = st.state === "paused" && PAUSED[st.reason] ? PAUSED[st.reason] : st.state;
    const since = " since " + clock(Date.parse(st.since)) + " UTC";
    return state + since + (st.detail ? ": " + st.detail : "");
  }

  function liveStream(root) {
    const url = root.dataset.samplesUrl, samples = [];
    let seq = 0;
    function render() {
      for (const section of root.querySelectorAll("section.pipeline")) {
        const name = section.dataset.pipeline;
        const mine = samples.filter(function (s) { return s.pipelines[name]; });
        const last = mine.length ? mine[mine.length - 1].pipelines[name] : null;
        for (const canvas of section.querySelectorAll("canvas.chart")) {
          const series = canvas.dataset.series.split(",").map(function (key, i) {
            return { label: LABELS[key] || key, color: COLORS[i % COLORS.length],
              points: mine.map(function (s) { return [s.at, s.pipelines[name][key]]; }) };
          });
          window.CassChart.draw(canvas, series);
        }
        if (!last) continue;
        for (const dd of section.querySelectorAll("[data-field]")) {
          const f = dd.dataset.field;
          if (f === "paused") dd.textContent = last.paused ? "yes" : "no";
          else if (f === "status") { if (last.status) dd.textContent = describeStatus(last.status); }
          else if (f === "last_error") dd.textContent = last.last_error ? clock(Date.parse(last.last_error.at)) + " UTC " + last.last_error.message : "none";
          else dd.textContent = String(last[f]);
        }
      }
    }
    function poll() {
      getJson(url + "?since=" + seq).then(function (d) {
        for (const s of d.samples) { samples.push(s); seq = s.seq; }
        while (samples.length > 300) samples.shift();
        render();
      }).catch(function () {});
    }
    poll();
    setInterval(poll, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const tail = document.querySelector("table[data-tail-url]");
    if (tail) liveTail(tail);
    const count = document.querySelector("[data-count-url]");
    if (count) rowCount(count);
    const stream = document.getElementById("stream");
    if (stream && window.CassChart) liveStream(stream);
  });
})();
