// Gallery (general_settings.console_gallery): the images of successful requests, with prompt,
// model, key alias and cost; filter by model and key; delete.
import { del, get, query } from "../api.js";
import { field, h, toast } from "../dom.js";
import { money, when } from "../format.js";

export async function render(main, { identity }) {
  const model = h("input", { name: "model", placeholder: "any" });
  const key = h("input", { name: "key_alias", placeholder: "any" });
  const filters = h(
    "form",
    { class: "card row filters", "aria-label": "Gallery filters" },
    field("Model", model),
    identity.is_master ? field("Key alias", key) : null,
    h("button", { type: "submit" }, "Apply"),
  );
  const grid = h("section", { class: "gallery", "aria-label": "Kept images" });
  main.append(filters, grid);

  async function load() {
    const params = { model: model.value, key_alias: identity.is_master ? key.value : "", page_size: 100 };
    const page = await get(`/gallery${query(params)}`);
    if (!page.data.length) {
      grid.replaceChildren(h("p", { class: "muted" }, "No images kept yet: make some in the playground (or through the API)."));
      return;
    }
    grid.replaceChildren(
      ...page.data.map((e) => {
        const remove = h(
          "button",
          { type: "button", class: "danger", "aria-label": `Delete image ${e.image_index + 1} of request ${e.request_id}` },
          "Delete",
        );
        const figure = h(
          "figure",
          { class: "card" },
          h("img", { src: e.url, alt: e.prompt || `Image from ${e.model_group}`, loading: "lazy" }),
          h(
            "figcaption",
            {},
            h("p", { class: "prompt" }, e.prompt || "(no prompt)"),
            h("p", { class: "muted" }, `${e.model_group || "–"} · ${e.key_alias || "–"} · ${money(e.cost)} · ${when(e.time)}`),
            remove,
          ),
        );
        remove.addEventListener("click", async () => {
          try {
            await del(`/gallery/${encodeURIComponent(e.id)}`);
            figure.remove();
            toast("Image deleted.");
          } catch (err) {
            toast(err.message, "error");
          }
        });
        return figure;
      }),
    );
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  await load();
}
