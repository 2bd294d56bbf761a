// Logs: recent requests from the spend logs, filtered, with a detail view. The logs hold no
// image bytes and no keys (a key's hash and alias only).
import { get, query } from "../api.js";
import { field, h, table } from "../dom.js";
import { money, ms, when } from "../format.js";

const PAGE = 50;
const DETAIL = [
  "request_id", "time_iso", "endpoint", "status", "model_group", "deployment_id", "provider",
  "key_alias", "key_hash", "user_id", "end_user", "stream", "latency_ms", "upstream_ms",
  "retries", "fallbacks", "images", "prompt_tokens", "completion_tokens", "total_tokens",
  "cost", "cost_basis", "error_class", "prompt",
];

export async function render(main) {
  const model = h("input", { name: "model", placeholder: "any" });
  const key = h("input", { name: "key_alias", placeholder: "any" });
  const endUser = h("input", { name: "end_user", placeholder: "any" });
  const status = h("input", { name: "status", type: "number", min: 100, max: 599, placeholder: "any" });
  const filters = h(
    "form",
    { class: "card row filters", "aria-label": "Log filters" },
    field("Model", model),
    field("Key alias", key),
    field("End user", endUser),
    field("Status", status),
    h("button", { type: "submit" }, "Apply"),
  );
  const list = h("section", { "aria-label": "Requests" });
  const detail = h("section", { class: "detail", "aria-live": "polite" });
  main.append(filters, h("div", { class: "logs" }, list, detail));
  let page = 1;

  function showDetail(record) {
    detail.replaceChildren(
      h("h2", {}, "Request"),
      h(
        "dl",
        { class: "card facts" },
        DETAIL.map((k) => [h("dt", {}, k), h("dd", {}, record[k] === null || record[k] === undefined ? "–" : String(record[k]))]),
        record.usage ? [h("dt", {}, "usage"), h("dd", {}, h("pre", {}, JSON.stringify(record.usage, null, 2)))] : null,
      ),
    );
    detail.querySelector("dl").focus?.();
  }

  async function load() {
    const params = { model: model.value, key_alias: key.value, end_user: endUser.value, status: status.value, page, page_size: PAGE };
    const data = await get(`/spend/logs${query(params)}`);
    const rows = data.data.map((r) =>
      h(
        "tr",
        {},
        h("td", {}, when(r.time)),
        h("td", {}, r.model_group || "–"),
        h("td", {}, r.key_alias || "–"),
        h("td", { class: r.status >= 400 ? "num bad-text" : "num" }, r.status),
        h("td", { class: "num" }, r.images),
        h("td", { class: "num" }, ms(r.latency_ms)),
        h("td", { class: "num" }, money(r.cost)),
        h("td", {}, h("button", { type: "button", class: "ghost", "aria-label": `Details of request ${r.request_id}`, onclick: () => showDetail(r) }, "Details")),
      ),
    );
    const pager = h(
      "nav",
      { class: "pager", "aria-label": "Pages" },
      h("button", { type: "button", class: "ghost", disabled: page <= 1, onclick: () => { page -= 1; load(); } }, "Newer"),
      h("span", {}, `Page ${data.page} of ${Math.max(1, data.total_pages)}`),
      h("button", { type: "button", class: "ghost", disabled: page >= data.total_pages, onclick: () => { page += 1; load(); } }, "Older"),
    );
    list.replaceChildren(
      rows.length ? table(["Time (UTC)", "Model", "Key", "Status", "Images", "Latency", "Cost", ""], rows, `${data.total} requests`) : h("p", { class: "muted" }, "No requests match."),
      pager,
    );
  }

  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    page = 1;
    load();
  });
  await load();
}
