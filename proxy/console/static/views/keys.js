// Keys: list, create (shown once), edit, revoke; spend and remaining budget per key.
// A virtual key sees its own key only.
import { get, post } from "../api.js";
import { field, h, table, toast } from "../dom.js";
import { money, when } from "../format.js";

const WINDOWS = ["", "1h", "1d", "7d", "30d"];

function remaining(k) {
  return k.max_budget === null || k.max_budget === undefined
    ? "no budget"
    : money(Math.max(0, k.max_budget - k.spend));
}

function numberOrNull(input) {
  return input.value === "" ? null : Number(input.value);
}

function keyForm(models, initial, submitText, onSubmit) {
  const alias = h("input", { name: "key_alias", value: initial.key_alias || "", maxlength: 256 });
  const boxes = models.map((m) =>
    h("input", { type: "checkbox", name: "models", value: m, checked: (initial.models || []).includes(m) }),
  );
  const budget = h("input", { name: "max_budget", type: "number", min: 0, step: "0.01", value: initial.max_budget ?? "" });
  const window_ = h(
    "select",
    { name: "budget_duration" },
    WINDOWS.map((w) => h("option", { value: w, selected: (initial.budget_duration || "") === w }, w || "never resets")),
  );
  const rpm = h("input", { name: "rpm_limit", type: "number", min: 0, step: 1, value: initial.rpm_limit ?? "" });
  const expiry = h("input", { name: "duration", placeholder: "e.g. 30d", pattern: "\\d+[smhdw]?|" });
  const message = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "card key-form" },
    field("Alias", alias),
    h(
      "fieldset",
      {},
      h("legend", {}, "Models (none ticked: every model)"),
      boxes.map((b) => h("label", { class: "check" }, b, ` ${b.value}`)),
    ),
    h(
      "div",
      { class: "row" },
      field("Budget (USD)", budget),
      field("Budget window", window_),
      field("Requests per minute", rpm),
      field("Expires after", expiry, "A duration from now: 30m, 12h, 30d"),
    ),
    message,
    h("button", { type: "submit" }, submitText),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    const body = {
      key_alias: alias.value || null,
      models: boxes.filter((b) => b.checked).map((b) => b.value),
      max_budget: numberOrNull(budget),
      budget_duration: window_.value || null,
      rpm_limit: numberOrNull(rpm),
    };
    if (expiry.value) body.duration = expiry.value;
    try {
      await onSubmit(body);
    } catch (err) {
      message.textContent = err.message;
    }
  });
  return form;
}

function ownKey(main, info) {
  main.append(
    h(
      "dl",
      { class: "card facts" },
      [
        ["Alias", info.key_alias || "–"],
        ["Key", info.key_name],
        ["Models", info.models.length ? info.models.join(", ") : "every model"],
        ["Spend", money(info.spend)],
        ["Budget", info.max_budget === null ? "none" : money(info.max_budget)],
        ["Remaining", remaining(info)],
        ["Budget window", info.budget_duration || "never resets"],
        ["Requests per minute", info.rpm_limit ?? "no limit"],
        ["Expires", info.expires || "never"],
      ].map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]),
    ),
  );
}

export async function render(main, { identity }) {
  if (!identity.is_master) {
    const own = await get("/key/info");
    ownKey(main, own.info);
    return;
  }
  const models = (await get("/v1/models")).data.map((m) => m.id);
  const created = h("div", { class: "created", "aria-live": "polite" });
  const listing = h("div");
  const editor = h("div");

  async function refresh() {
    const page = await get("/key/list?page_size=200&return_full_object=true");
    const rows = page.keys.map((k) =>
      h(
        "tr",
        { dataset: { keyHash: k.key_hash } },
        h("td", {}, k.key_alias || "–"),
        h("td", {}, h("code", {}, k.key_name)),
        h("td", {}, k.models.length ? k.models.join(", ") : "all"),
        h("td", { class: "num" }, money(k.spend)),
        h("td", { class: "num" }, k.max_budget === null ? "–" : money(k.max_budget)),
        h("td", { class: "num" }, remaining(k)),
        h("td", {}, k.budget_duration || "–"),
        h("td", { class: "num" }, k.rpm_limit ?? "–"),
        h("td", {}, k.expires ? when(Date.parse(k.expires) / 1000) : "never"),
        h(
          "td",
          { class: "actions" },
          h("button", { type: "button", class: "ghost", "aria-label": `Edit key ${k.key_alias || k.key_name}`, onclick: () => edit(k) }, "Edit"),
          h("button", { type: "button", class: "danger", "aria-label": `Revoke key ${k.key_alias || k.key_name}`, onclick: () => revoke(k) }, "Revoke"),
        ),
      ),
    );
    listing.replaceChildren(
      rows.length
        ? table(
            ["Alias", "Key", "Models", "Spend", "Budget", "Remaining", "Window", "RPM", "Expires", "Actions"],
            rows,
            `${page.total} key${page.total === 1 ? "" : "s"}`,
          )
        : h("p", { class: "muted" }, "No virtual keys yet."),
    );
  }

  function edit(k) {
    editor.replaceChildren(
      h("h2", {}, `Edit ${k.key_alias || k.key_name}`),
      keyForm(models, k, "Save changes", async (body) => {
        await post("/key/update", { ...body, key: k.key_hash });
        editor.replaceChildren();
        toast("Key saved.");
        await refresh();
      }),
    );
    editor.querySelector("input").focus();
  }

  async function revoke(k) {
    const name = k.key_alias || k.key_name;
    if (!confirm(`Revoke key ${name}? Requests with it stop at once.`)) return;
    try {
      await post("/key/delete", { keys: [k.key_hash] });
      toast(`Key ${name} revoked.`);
      await refresh();
    } catch (err) {
      toast(err.message, "error");
    }
  }

  const createForm = keyForm(models, {}, "Create key", async (body) => {
    const made = await post("/key/generate", body);
    const copy = h("button", { type: "button", class: "ghost" }, "Copy");
    copy.addEventListener("click", async () => {
      await navigator.clipboard.writeText(made.key);
      toast("Copied.");
    });
    created.replaceChildren(
      h(
        "div",
        { class: "card notice", role: "alert" },
        h("p", {}, "The new key, shown this once: store it now."),
        h("p", {}, h("code", { class: "secret", id: "new-key" }, made.key), " ", copy),
      ),
    );
    createForm.reset();
    await refresh();
  });

  main.append(
    h("details", { class: "create" }, h("summary", {}, "Create a key"), createForm),
    created,
    editor,
    listing,
  );
  await refresh();
}
