"use strict";
(async function () {
  const form = document.getElementById("filters");
  const params = new URLSearchParams(location.search);
  const info = await markMode();
  const typeSelect = form.elements["type"];
  for (const t of info.types || []) typeSelect.append(el("option", {}, t));
  for (const name of ["state", "type", "agent", "q", "limit"]) {
    if (params.has(name)) form.elements[name].value = params.get(name);
  }
  let offset = Number(params.get("offset") || 0);

  async function load() {
    const query = new URLSearchParams();
    for (const name of ["state", "type", "agent", "q", "limit"]) {
      const v = form.elements[name].value;
      if (v) query.set(name, v);
    }
    if (offset) query.set("offset", String(offset));
    history.replaceState(null, "", "/sessions?" + query);
    try {
      const data = await api("/api/sessions?" + query);
      const body = document.querySelector("#sessions tbody");
      body.replaceChildren();
      for (const s of data.sessions) {
        body.append(el("tr", { "data-session": s.session_id },
          el("td", { class: "mono" }, s.created_at),
          el("td", {}, el("a", { href: "/sessions/" + encodeURIComponent(s.session_id), class: "mono" }, s.session_id)),
          el("td", {}, s.type),
          el("td", {}, s.participants.map((p) => p.name).join(", ")),
          el("td", {}, el("span", { class: "state " + s.state }, s.state)),
          el("td", {}, s.reason || "")));
      }
      document.getElementById("total").textContent = "(" + data.total.toLocaleString("en-US") + ")";
      const last = Math.min(data.offset + data.sessions.length, data.total);
      document.getElementById("page").textContent = data.total ? (data.offset + 1) + "–" + last + " of " + data.total : "none";
      document.getElementById("prev").disabled = data.offset === 0;
      document.getElementById("next").disabled = last >= data.total;
      document.body.dataset.loaded = "1";
    } catch (err) { showError(err); }
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); offset = 0; load(); });
  document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - Number(form.elements.limit.value)); load(); });
  document.getElementById("next").addEventListener("click", () => { offset += Number(form.elements.limit.value); load(); });
  load();
})();
