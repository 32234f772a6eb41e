"use strict";
(async function () {
  await markMode();
  try {
    const data = await api("/api/agents");
    const body = document.querySelector("#agents tbody");
    for (const a of data.agents) {
      const online = a.online === null ? DASH : a.online ? "online" : "offline";
      body.append(el("tr", { "data-agent": a.agent_id },
        el("td", {}, el("a", { href: "/sessions?agent=" + encodeURIComponent(a.agent_id) }, a.name || a.agent_id)),
        el("td", { class: "mono" }, a.agent_id),
        el("td", {}, a.kind || DASH),
        el("td", { class: a.online ? "online" : "offline-agent" }, online),
        el("td", { class: "n" }, num(a.usage.sessions)),
        ...usageCells(a.usage).slice(0)));
    }
  } catch (err) { showError(err); }
})();
