"use strict";
// The session page: a timeline with one lane per participant, a step control whose state
// the server folds (GET /api/sessions/{id}/state?at=N), and a live tail (Server-Sent Events).
(async function () {
  const sid = decodeURIComponent(location.pathname.split("/").pop());
  document.getElementById("sid").textContent = sid;
  await markMode();
  const base = "/api/sessions/" + encodeURIComponent(sid);
  let data;
  try {
    data = await api(base);
  } catch (err) {
    showError(err);
    return;
  }
  const names = data.names;
  const lanes = data.session.participants.map((p) => p.agent_id);
  const timeline = document.getElementById("timeline");
  const slider = document.getElementById("slider");
  const atInput = document.getElementById("at");
  let envelopes = [];
  let position = 0;
  let violations = data.violations.slice();

  const nameOf = (id) => names[id] || id;
  const laneOf = (id) => {
    let i = lanes.indexOf(id);
    if (i < 0) {
      lanes.push(id);
      i = lanes.length - 1;
      drawLanes();
    }
    return i;
  };

  function drawLanes() {
    const head = document.getElementById("lanes");
    head.style.setProperty("--lanes", lanes.length);
    head.replaceChildren(...lanes.map((id) => el("div", { class: "lane", "data-lane": id }, nameOf(id))));
    timeline.querySelectorAll(".row").forEach((r) => r.style.setProperty("--lanes", lanes.length));
    timeline.querySelectorAll(".lane-bg").forEach((b) => b.remove());
    lanes.forEach((_, i) => {
      timeline.prepend(el("div", { class: "lane-bg", style: "left:" + ((i + 0.5) / lanes.length) * 100 + "%" }));
    });
  }

  // What a lifecycle event's data repeats (the session, its creator, empty knobs and labels).
  const REPEATED = new Set(["session_id", "creator_id", "usage"]);

  function describe(env) {
    if (env.text !== null) return env.text;
    const d = env.event_data || {};
    if (env.event_type === "ag2.session.invite") {
      return "invite to " + (d.manifest_type || "?") + " v" + (d.manifest_version || 1);
    }
    if (d.reason) return "reason: " + d.reason;
    if (d.message) return d.message;
    const rest = Object.fromEntries(Object.entries(d).filter(([k]) => !REPEATED.has(k)));
    return Object.keys(rest).length ? JSON.stringify(rest) : "";
  }

  function kindOf(env) {
    const t = env.event_type;
    if (t === "ag2.session.closed" || t === "ag2.session.expired") return "close";
    if (t === "ag2.msg.turn_failed") return "failed";
    if (t === "ag2.session.expectation_violated") return "violation";
    if (t.startsWith("ag2.session.")) return "lifecycle";
    return "content";
  }

  function usageLine(u) {
    if (!u) return null;
    const parts = [u.model || DASH,
      "in " + num(u.input_tokens) + " / out " + num(u.output_tokens) + " tok",
      "cache " + num(u.cache_read_tokens) + "/" + num(u.cache_write_tokens),
      cost(u.cost_usd),
      u.latency_ms === null || u.latency_ms === undefined ? DASH : num(u.latency_ms, 0) + " ms"];
    return el("div", { class: "usage-line" }, parts.join(" · "));
  }

  function recipients(env) {
    if (env.audience === null) return lanes.filter((id) => id !== env.sender_id && data.session.participants.some((p) => p.agent_id === id));
    return env.audience;
  }

  function envelopeRow(env) {
    const s = laneOf(env.sender_id);
    const kind = kindOf(env);
    const to = recipients(env);
    const row = el("div", {
      class: "row envelope", "data-seq": env.sequence, "data-type": env.event_type,
      "data-sender": nameOf(env.sender_id), "data-audience": to.map(nameOf).join(","),
      style: "--lanes:" + lanes.length,
    });
    const n = lanes.length;
    for (const r of to) {
      const ri = laneOf(r);
      if (ri === s) continue;
      const lo = Math.min(s, ri), hi = Math.max(s, ri);
      row.append(el("div", {
        class: "arrow " + (ri > s ? "right" : "left"), "data-to": nameOf(r),
        style: "left:" + ((lo + 0.5) / n) * 100 + "%;width:" + ((hi - lo) / n) * 100 + "%",
      }));
    }
    const card = el("div", { class: "card " + kind, style: "grid-column:" + (s + 1) },
      el("div", { class: "head" },
        el("span", { class: "seq" }, "#" + env.sequence),
        el("span", {}, shortTime(env.created_at)),
        el("span", { class: "type" }, env.event_type),
        to.length ? el("span", {}, "→ " + to.map(nameOf).join(", ")) : el("span", {}, "→ nobody")),
      el("div", { class: "text" }, describe(env)),
      usageLine(env.usage));
    row.append(card);
    return row;
  }

  function violationRow(v) {
    const who = (v.violators || []).map(nameOf).join(", ");
    return el("div", { class: "row marker-row", "data-violation": v.expectation, style: "--lanes:" + lanes.length },
      el("div", { class: "banner violation" },
        "⚠ expectation violated: " + v.expectation + (who ? " by " + who : "") + " (" + v.on_violation + ") at " + shortTime(v.at)));
  }

  function closeRow(env) {
    const label = env.event_type === "ag2.session.expired" ? "expired" : "closed";
    return el("div", { class: "row marker-row close-marker", "data-after-seq": env.sequence, style: "--lanes:" + lanes.length },
      el("div", { class: "banner close" }, "■ session " + label + ": " + ((env.event_data || {}).reason || "")));
  }

  // Violations go after the last envelope logged before them (the close a violation causes
  // is logged after its audit record, at the same time with a coarse or mock clock).
  function placeViolations() {
    timeline.querySelectorAll("[data-violation]").forEach((r) => r.remove());
    for (const v of violations) {
      const row = violationRow(v);
      let anchor = null;
      for (const r of timeline.querySelectorAll(".row.envelope")) {
        const env = envelopes[Number(r.dataset.seq) - 1];
        if (env && env.created_at < v.at) anchor = r;
      }
      if (anchor) anchor.after(row);
      else timeline.prepend(row);
    }
  }

  function append(env, initial) {
    if (envelopes.length && env.sequence <= envelopes[envelopes.length - 1].sequence) return;
    envelopes.push(env);
    timeline.append(envelopeRow(env));
    if (kindOf(env) === "close") {
      timeline.append(closeRow(env));
      setBadge(env.event_type === "ag2.session.expired" ? "expired" : "closed");
    }
    const following = position === envelopes.length - 1;
    slider.max = String(envelopes.length);
    atInput.max = String(envelopes.length);
    document.getElementById("count").textContent = String(envelopes.length);
    if (initial) return;
    if (following) moveTo(envelopes.length);
    else markRows();
  }

  function setBadge(state) {
    const badge = document.getElementById("state");
    badge.textContent = state;
    badge.className = "state " + state;
  }

  function markRows() {
    for (const r of timeline.querySelectorAll(".close-marker")) {
      r.classList.toggle("future", Number(r.dataset.afterSeq) > (position ? envelopes[position - 1].sequence : 0));
    }
    for (const r of timeline.querySelectorAll(".row.envelope")) {
      const seq = Number(r.dataset.seq);
      const index = envelopes.findIndex((e) => e.sequence === seq);
      r.classList.toggle("future", index >= position);
      r.classList.toggle("current", index === position - 1);
    }
  }

  let pending = 0;
  async function moveTo(at) {
    position = Math.max(0, Math.min(at, envelopes.length));
    slider.value = String(position);
    atInput.value = String(position);
    markRows();
    const ticket = ++pending;
    try {
      const state = await api(base + "/state?at=" + position);
      if (ticket === pending) renderState(state);
    } catch (err) { showError(err); }
  }

  // Agent ids in a JSON text, followed by the agent's name.
  function withNames(text) {
    return text.replace(/"([0-9A-HJKMNP-TV-Z]{26})"/g, (all, id) => (names[id] ? all + " (" + names[id] + ")" : all));
  }

  function renderState(s) {
    document.getElementById("state-at").textContent = String(s.at);
    const may = Object.entries(s.may_send).map(([id, ok]) => nameOf(id) + (ok ? " ✓" : " ✗")).join(", ");
    const body = document.getElementById("state-body");
    body.replaceChildren(
      el("dl", { class: "meta" },
        el("dt", {}, "lifecycle"), el("dd", {}, el("span", { class: "state " + s.state, id: "fold-state" }, s.state)),
        el("dt", {}, "sequence"), el("dd", { id: "fold-seq" }, String(s.sequence)),
        el("dt", {}, "may send a text"), el("dd", { id: "fold-may-send" }, may || DASH),
        el("dt", {}, "pending acks"), el("dd", {}, s.pending_acks.map(nameOf).join(", ") || DASH),
        el("dt", {}, "close reason"), el("dd", {}, s.close_reason || DASH),
        el("dt", {}, "decision"), el("dd", {}, s.decision ? s.decision.state + " (" + s.decision.reason + ")" : DASH),
        el("dt", {}, "adapter"), el("dd", {}, s.adapter || DASH)),
      el("div", {}, "adapter state"),
      el("pre", { id: "fold-adapter-state" }, withNames(JSON.stringify(s.adapter_state, null, 1))),
      el("div", {}, "context (knobs, labels)"),
      el("pre", { id: "fold-context" }, JSON.stringify({ knobs: s.knobs, labels: s.labels }, null, 1)),
      ...(s.error ? [el("div", { class: "banner violation", id: "fold-error" }, s.error)] : []));
  }

  function renderMeta() {
    const m = data.session;
    const meta = document.getElementById("meta");
    const rows = [
      ["type", m.manifest.type + " v" + m.manifest.version],
      ["participants", m.participants.map((p) => nameOf(p.agent_id) + " (" + p.role + ")").join(", ")],
      ["created", m.created_at],
      ["labels", Object.keys(m.labels).length ? JSON.stringify(m.labels) : DASH],
    ];
    meta.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    const usage = document.getElementById("usage");
    usage.querySelector("thead").replaceChildren(el("tr", {}, el("th", {}, "agent"), ...USAGE_HEADERS.map((h) => el("th", { class: "n" }, h))));
    const body = usage.querySelector("tbody");
    body.replaceChildren(
      ...lanes.map((id) => el("tr", { "data-agent": nameOf(id) }, el("td", {}, nameOf(id)), ...usageCells(data.usage.by_agent[id]))),
      el("tr", { "data-agent": "total" }, el("th", {}, "session"), ...usageCells(data.usage.total)));
  }

  function search() {
    const q = document.getElementById("search").value.toLowerCase();
    for (const r of timeline.querySelectorAll(".row.envelope")) {
      r.classList.toggle("hidden", q !== "" && !r.textContent.toLowerCase().includes(q));
    }
  }

  drawLanes();
  renderMeta();
  setBadge(data.final.state);
  for (const env of data.envelopes) append(env, true);
  placeViolations();
  moveTo(envelopes.length);

  slider.addEventListener("input", () => moveTo(Number(slider.value)));
  atInput.addEventListener("change", () => moveTo(Number(atInput.value)));
  document.getElementById("first").addEventListener("click", () => moveTo(0));
  document.getElementById("back").addEventListener("click", () => moveTo(position - 1));
  document.getElementById("fwd").addEventListener("click", () => moveTo(position + 1));
  document.getElementById("last").addEventListener("click", () => moveTo(envelopes.length));
  document.getElementById("search").addEventListener("input", search);
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
    if (e.key === "ArrowRight") moveTo(position + 1);
    if (e.key === "ArrowLeft") moveTo(position - 1);
  });

  // The live tail: what the WAL gets after what was loaded.
  const status = document.getElementById("live-status");
  if (data.final.state !== "closed" && data.final.state !== "expired") {
    const last = envelopes.length ? envelopes[envelopes.length - 1].sequence : 0;
    const source = new EventSource(base + "/events?after=" + last);
    source.addEventListener("open", () => { status.textContent = "● live tail"; status.className = "online"; });
    source.addEventListener("envelope", (e) => {
      const env = JSON.parse(e.data);
      append(env);
      if (kindOf(env) === "close") { source.close(); status.textContent = "(ended)"; status.className = "muted"; }
      document.body.dataset.lastSeq = String(env.sequence);
    });
    source.addEventListener("error", () => { status.textContent = "○ tail reconnecting"; status.className = "muted"; });
  }
  document.body.dataset.loaded = "1";
})();
