// Playground: one model or up to four side by side; images appear as they arrive (partial
// images where the model streams), each with its latency and cost; download; re-run.
import { call, errorOf, get } from "../api.js";
import { field, h } from "../dom.js";
import { money } from "../format.js";
import { blobUrl, sseEvents } from "../images.js";
import { editControls } from "./edit_mode.js";

const MAX_MODELS = 4;
const SIZES = ["256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "auto"];

function capabilityMap(deployments) {
  // a model group streams (or edits) only when every deployment of it does
  const caps = new Map();
  for (const d of deployments ? deployments.deployments : []) {
    const prev = caps.get(d.model_group) || { stream: true, edit: true };
    caps.set(d.model_group, {
      stream: prev.stream && d.supports.stream,
      edit: prev.edit && d.supports.edit,
    });
  }
  return caps;
}

function readOptions(text) {
  if (!text.trim()) return {};
  const value = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error("Provider options must be a JSON object.");
  }
  return value;
}

export async function render(main, { identity }) {
  const [models, deployments] = await Promise.all([
    get("/v1/models"),
    identity.is_master ? get("/router/deployments") : Promise.resolve(null),
  ]);
  const caps = capabilityMap(deployments);
  const names = models.data.map((m) => m.id);

  const boxes = names.map((name, i) =>
    h("input", { type: "checkbox", name: "model", value: name, checked: i === 0 }),
  );
  const modelPicker = h(
    "fieldset",
    { class: "models" },
    h("legend", {}, `Models (up to ${MAX_MODELS}, side by side)`),
    boxes.map((box) =>
      h("label", { class: "check" }, box, ` ${box.value}`, caps.get(box.value)?.stream ? " ⚡" : ""),
    ),
  );
  const limitBoxes = () => {
    const chosen = boxes.filter((b) => b.checked).length;
    for (const b of boxes) b.disabled = !b.checked && chosen >= MAX_MODELS;
  };
  modelPicker.addEventListener("change", limitBoxes);
  limitBoxes();

  const mode = h(
    "fieldset",
    { class: "mode" },
    h("legend", {}, "Mode"),
    h("label", { class: "check" }, h("input", { type: "radio", name: "mode", value: "generate", checked: true }), " Generate"),
    h("label", { class: "check" }, h("input", { type: "radio", name: "mode", value: "edit" }), " Edit"),
  );
  const prompt = h("textarea", { name: "prompt", rows: 3, required: true });
  const size = h("input", { name: "size", value: "1024x1024", list: "sizes", pattern: "auto|\\d+x\\d+" });
  const sizes = h("datalist", { id: "sizes" }, SIZES.map((s) => h("option", { value: s })));
  const n = h("input", { name: "n", type: "number", min: 1, max: 10, value: 1 });
  const quality = h(
    "select",
    { name: "quality" },
    ["", "auto", "low", "medium", "high", "standard", "hd"].map((q) =>
      h("option", { value: q }, q || "(model default)"),
    ),
  );
  const seed = h("input", { name: "seed", type: "number", min: 0, step: 1, inputmode: "numeric" });
  const stream = h("input", { type: "checkbox", name: "stream" });
  const partials = h("input", { name: "partial_images", type: "number", min: 0, max: 3, value: 2 });
  const options = h("textarea", { name: "options", rows: 2, spellcheck: "false", placeholder: '{"background": "transparent"}' });
  const edit = editControls();
  edit.element.hidden = true;
  const run = h("button", { type: "submit" }, "Generate");
  const message = h("p", { class: "error", role: "alert" });

  const form = h(
    "form",
    { class: "card playground-form", "aria-label": "Image request" },
    modelPicker,
    mode,
    field("Prompt", prompt),
    edit.element,
    h(
      "div",
      { class: "row" },
      field("Size", size, "WIDTHxHEIGHT or auto"),
      sizes,
      field("Images (n)", n),
      field("Quality", quality),
      field("Seed", seed, "Same seed, same picture, where the provider has seeds"),
    ),
    h(
      "div",
      { class: "row" },
      h("label", { class: "check" }, stream, " Stream partial images (⚡ models)"),
      field("Partial images", partials),
    ),
    field("Provider options (JSON)", options, "Extra parameters the model honours, sent as they are"),
    message,
    run,
  );
  mode.addEventListener("change", () => {
    const editing = form.elements.mode.value === "edit";
    edit.element.hidden = !editing;
    run.textContent = editing ? "Edit" : "Generate";
  });
  const results = h("section", { class: "results", "aria-label": "Results", "aria-live": "polite" });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    message.textContent = "";
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    if (!chosen.length) {
      message.textContent = "Pick at least one model.";
      return;
    }
    let body;
    try {
      body = { prompt: prompt.value, n: Number(n.value) || 1, ...readOptions(options.value) };
    } catch (err) {
      message.textContent = err.message;
      return;
    }
    if (size.value) body.size = size.value;
    if (quality.value) body.quality = quality.value;
    if (seed.value !== "") body.seed = Number(seed.value);
    const editing = form.elements.mode.value === "edit";
    if (editing && !edit.hasImages()) {
      message.textContent = "Choose at least one image to edit.";
      return;
    }
    results.replaceChildren();
    for (const model of chosen) {
      const column = h("article", { class: "result card", "aria-label": `Result of ${model}` });
      results.append(column);
      const streaming = stream.checked && Boolean(caps.get(model)?.stream) && !editing;
      const request = { ...body, model };
      if (streaming) {
        request.stream = true;
        request.partial_images = Number(partials.value) || 0;
      } else {
        request.response_format = "b64_json";
      }
      const send = editing ? () => sendEdit(column, request, edit) : () => sendGeneration(column, request);
      send();
    }
  });

  main.append(form, results);
}

function header(column, request, again) {
  const status = h("p", { class: "status", role: "status" }, "Waiting for the model…");
  const rerun = h(
    "button",
    { type: "button", class: "ghost", onclick: again, "aria-label": `Re-run ${request.model} with the same settings and seed` },
    "Re-run",
  );
  const gallery = h("div", { class: "images" });
  column.replaceChildren(h("h2", {}, request.model), status, gallery, rerun);
  return { status, gallery };
}

function showImage(gallery, index, b64, format, caption) {
  const url = blobUrl(b64, format);
  let figure = gallery.querySelector(`figure[data-index="${index}"]`);
  if (!figure) {
    figure = h("figure", { dataset: { index: String(index) } });
    gallery.append(figure);
  }
  const img = h("img", { src: url, alt: `${caption}, image ${index + 1}` });
  const link = h("a", { href: url, download: `image-${index + 1}.${format}` }, "Download");
  figure.replaceChildren(img, h("figcaption", {}, link));
  return img;
}

// The cost: the x-response-cost header, or for a stream (whose headers go out before the
// price is known) the request's spend record, written by the time the stream has ended.
async function costOf(response) {
  const header = response.headers.get("x-response-cost");
  if (header !== null) return Number(header);
  const id = response.headers.get("x-request-id");
  if (!id) return null;
  try {
    return (await get(`/spend/logs/${encodeURIComponent(id)}`)).cost;
  } catch {
    return null;
  }
}

async function summary(started, response, count) {
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  const cost = await costOf(response);
  const costText = cost === null || cost === undefined ? "cost unknown" : money(cost);
  return `${count} image${count === 1 ? "" : "s"} in ${seconds} s · ${costText}`;
}

async function sendGeneration(column, request) {
  const { status, gallery } = header(column, request, () => sendGeneration(column, request));
  const started = performance.now();
  try {
    const response = await call("POST", "/v1/images/generations", request);
    if (!response.ok) throw await errorOf(response);
    const format = request.output_format || "png";
    if (request.stream) {
      let count = 0;
      for await (const event of sseEvents(response)) {
        if (event.type && event.type.endsWith("partial_image")) {
          showImage(gallery, event.image_index || 0, event.b64_json, format, "partial image");
          status.textContent = `Partial image ${(event.partial_image_index ?? 0) + 1}…`;
        } else if (event.type && event.type.endsWith("completed")) {
          showImage(gallery, event.image_index ?? count, event.b64_json, event.output_format || format, request.prompt);
          count += 1;
        } else if (event.error) {
          throw new Error(event.error.message || "The stream failed.");
        }
      }
      status.textContent = await summary(started, response, count);
      return;
    }
    const data = await response.json();
    const fmt = data.output_format || format;
    data.data.forEach((item, i) => showImage(gallery, i, item.b64_json, fmt, request.prompt));
    status.textContent = await summary(started, response, data.data.length);
  } catch (err) {
    status.textContent = "";
    status.append(h("span", { class: "error", role: "alert" }, err.message));
  }
}

async function sendEdit(column, request, edit) {
  const { status, gallery } = header(column, request, () => sendEdit(column, request, edit));
  const started = performance.now();
  try {
    const form = await edit.formData(request);
    const response = await call("POST", "/v1/images/edits", form);
    if (!response.ok) throw await errorOf(response);
    const data = await response.json();
    const fmt = data.output_format || "png";
    data.data.forEach((item, i) => showImage(gallery, i, item.b64_json, fmt, request.prompt));
    status.textContent = await summary(started, response, data.data.length);
  } catch (err) {
    status.textContent = "";
    status.append(h("span", { class: "error", role: "alert" }, err.message));
  }
}
