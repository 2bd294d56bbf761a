// Spend: charts over time (per hour or day) by model, key, end user; totals; the spend logs
// as CSV with the same filters.
import { get, query } from "../api.js";
import { field, h, table } from "../dom.js";
import { money } from "../format.js";
import { stackedBars } from "../chart.js";

const RANGES = {
  "24h": { interval: "hour", seconds: 86_400, text: "Last 24 hours, by hour" },
  "7d": { interval: "day", seconds: 7 * 86_400, text: "Last 7 days, by day" },
  "30d": { interval: "day", seconds: 30 * 86_400, text: "Last 30 days, by day" },
};

export async function render(main, { identity }) {
  const range = h("select", { name: "range" }, Object.entries(RANGES).map(([k, r]) => h("option", { value: k }, r.text)));
  range.value = "7d";
  const groupBy = h(
    "select",
    { name: "group_by" },
    [["model", "Model"], ["key", "Key"], ["end_user", "End user"], ["provider", "Provider"]].map(([v, t]) => h("option", { value: v }, t)),
  );
  const metric = h("select", { name: "metric" }, [["spend", "Spend"], ["requests", "Requests"], ["images", "Images"]].map(([v, t]) => h("option", { value: v }, t)));
  const model = h("input", { name: "model", placeholder: "any" });
  const key = h("input", { name: "key_alias", placeholder: "any" });
  const endUser = h("input", { name: "end_user", placeholder: "any" });
  const filters = h(
    "form",
    { class: "card row filters", "aria-label": "Spend filters" },
    field("Range", range),
    field("Split by", groupBy),
    field("Show", metric),
    field("Model", model),
    identity.is_master ? field("Key alias", key) : null,
    field("End user", endUser),
    h("button", { type: "submit" }, "Apply"),
  );
  const out = h("section", { "aria-live": "polite" });
  main.append(filters, out);

  async function load() {
    const r = RANGES[range.value];
    const now = Math.floor(Date.now() / 1000);
    const params = {
      model: model.value,
      key_alias: identity.is_master ? key.value : "",
      end_user: endUser.value,
      start: now - r.seconds,
      end: now + 1,
    };
    const report = await get(`/spend/report${query({ ...params, group_by: groupBy.value, interval: r.interval })}`);
    const t = report.totals;
    const cards = h(
      "div",
      { class: "totals" },
      [
        ["Spend", money(t.spend)],
        ["Requests", t.requests],
        ["Images", t.images],
        ["Requests of unknown cost", t.requests_cost_unknown],
      ].map(([k, v]) => h("div", { class: "card stat" }, h("span", { class: "muted" }, k), h("strong", {}, String(v)))),
    );
    const title = `${metric.options[metric.selectedIndex].text} by ${groupBy.options[groupBy.selectedIndex].text.toLowerCase()}, ${r.text.toLowerCase()}`;
    const rows = report.groups.map((g) => {
      const a = report.group_totals[g];
      return h("tr", {}, h("th", { scope: "row" }, g), h("td", { class: "num" }, money(a.spend)), h("td", { class: "num" }, a.requests), h("td", { class: "num" }, a.images), h("td", { class: "num" }, a.requests_cost_unknown));
    });
    const exportLink = identity.is_master
      ? h("a", { class: "button ghost", href: `/spend/logs.csv${query(params)}`, download: "spend-logs.csv" }, "Export spend logs (CSV)")
      : null;
    out.replaceChildren(
      cards,
      stackedBars(report, metric.value, title),
      rows.length ? table([groupBy.options[groupBy.selectedIndex].text, "Spend", "Requests", "Images", "Unknown cost"], rows) : h("p", { class: "muted" }, "No requests in this range."),
      exportLink,
    );
  }

  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    load();
  });
  for (const control of [range, groupBy, metric]) control.addEventListener("change", load);
  await load();
}
