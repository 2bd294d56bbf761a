// Models: every deployment with its provider, health, cooldown, recent latency and error
// rate, and what it supports. A virtual key sees the model names it may use.
import { get } from "../api.js";
import { h, table } from "../dom.js";
import { money, ms, percent } from "../format.js";

const ABILITIES = [
  ["generate", "generate"],
  ["edit", "edit"],
  ["chat_images", "chat images"],
  ["stream", "stream"],
];

function health(d) {
  if (!d.available) return h("span", { class: "badge bad" }, "unavailable");
  if (d.cooling_down) {
    const left = d.cooldown && d.cooldown.remaining_seconds;
    return h("span", { class: "badge warn" }, left ? `cooling down (${Math.ceil(left)} s)` : "cooling down");
  }
  return h("span", { class: "badge good" }, "ready");
}

export async function render(main, { identity }) {
  if (!identity.is_master) {
    const models = await get("/v1/models");
    main.append(table(["Model"], models.data.map((m) => h("tr", {}, h("td", {}, m.id))), "Models this key may use"));
    return;
  }
  const state = await get("/router/deployments");
  const rows = state.deployments.map((d) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, d.model_group),
      h("td", {}, h("code", {}, d.deployment_id)),
      h("td", {}, d.provider),
      h("td", {}, health(d)),
      h("td", {}, h("ul", { class: "abilities" }, ABILITIES.filter(([k]) => d.supports[k]).map(([, t]) => h("li", {}, t)))),
      h("td", { class: "num" }, d.in_flight),
      h("td", { class: "num" }, d.recent.requests),
      h("td", { class: "num" }, percent(d.recent.error_rate)),
      h("td", { class: "num" }, ms(d.recent.latency_ms_avg)),
      h("td", { class: "num" }, money(d.recent.spend)),
    ),
  );
  main.append(
    h("p", { class: "muted" }, `Routing: ${state.routing_strategy}. Traffic columns cover the last hour of spend logs.`),
    table(
      ["Model", "Deployment", "Provider", "Health", "Supports", "In flight", "Requests", "Errors", "Latency", "Spend"],
      rows,
      `${state.deployments.length} deployments`,
    ),
  );
}
