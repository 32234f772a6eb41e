"use strict";
(async function () {
  await markMode();
  const form = document.getElementById("filters");
  let offset = 0;
  const limit = 100;
  const shown = new Set(["at", "kind", "session_id", "agent_id"]);
  async function load() {
    const query = new URLSearchParams({ limit: String(limit), offset: String(offset) });
    for (const name of ["kind", "session_id"]) if (form.elements[name].value) query.set(name, form.elements[name].value);
    try {
      const data = await api("/api/audit?" + query);
      const body = document.querySelector("#audit tbody");
      body.replaceChildren();
      for (const r of data.records) {
        const rest = Object.fromEntries(Object.entries(r).filter(([k]) => !shown.has(k)));
        body.append(el("tr", {},
          el("td", { class: "mono" }, r.at || DASH),
          el("td", {}, r.kind),
          el("td", {}, r.session_id ? el("a", { href: "/sessions/" + encodeURIComponent(r.session_id), class: "mono" }, r.session_id) : DASH),
          el("td", { class: "mono" }, r.agent_id || DASH),
          el("td", { class: "mono" }, JSON.stringify(rest))));
      }
      document.getElementById("total").textContent = "(" + data.total + ")";
      const last = Math.min(offset + data.records.length, data.total);
      document.getElementById("page").textContent = data.total ? (offset + 1) + "–" + last + " of " + data.total : "none";
      document.getElementById("prev").disabled = offset === 0;
      document.getElementById("next").disabled = last >= data.total;
    } catch (err) { showError(err); }
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); offset = 0; load(); });
  document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - limit); load(); });
  document.getElementById("next").addEventListener("click", () => { offset += limit; load(); });
  load();
})();
