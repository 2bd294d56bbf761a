// The playground's edit mode: images to upload and a mask painted over the first one
// (painted = the area to change; sent as a PNG whose painted pixels are transparent, the
// OpenAI convention the proxy converts for each provider).
import { field, h } from "../dom.js";

export function editControls() {
  const files = h("input", { type: "file", name: "image", accept: "image/png,image/jpeg,image/webp", multiple: true });
  const brush = h("input", { type: "range", name: "brush", min: 4, max: 128, value: 32 });
  const preview = h("img", { alt: "The first image to edit", class: "edit-source" });
  const canvas = h("canvas", {
    class: "mask",
    "aria-label": "Mask: paint with the pointer over the area to change",
    role: "img",
  });
  const stage = h("div", { class: "stage", hidden: true }, preview, canvas);
  let painted = false;
  const clear = h("button", { type: "button", class: "ghost" }, "Clear mask");
  const whole = h("button", { type: "button", class: "ghost" }, "Mask whole image");

  files.addEventListener("change", () => {
    const first = files.files[0];
    if (!first) {
      stage.hidden = true;
      return;
    }
    const url = URL.createObjectURL(first);
    preview.onload = () => {
      canvas.width = preview.naturalWidth;
      canvas.height = preview.naturalHeight;
      painted = false;
      stage.hidden = false;
    };
    preview.src = url;
  });

  const ctx = () => canvas.getContext("2d");
  const paintAt = (event) => {
    const box = canvas.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * canvas.width;
    const y = ((event.clientY - box.top) / box.height) * canvas.height;
    const c = ctx();
    c.fillStyle = "rgba(230, 40, 90, 0.55)";
    c.beginPath();
    c.arc(x, y, (Number(brush.value) / box.width) * canvas.width, 0, Math.PI * 2);
    c.fill();
    painted = true;
  };
  let down = false;
  canvas.addEventListener("pointerdown", (e) => {
    down = true;
    canvas.setPointerCapture(e.pointerId);
    paintAt(e);
  });
  canvas.addEventListener("pointermove", (e) => down && paintAt(e));
  canvas.addEventListener("pointerup", () => {
    down = false;
  });
  clear.addEventListener("click", () => {
    ctx().clearRect(0, 0, canvas.width, canvas.height);
    painted = false;
  });
  whole.addEventListener("click", () => {
    const c = ctx();
    c.fillStyle = "rgba(230, 40, 90, 0.55)";
    c.fillRect(0, 0, canvas.width, canvas.height);
    painted = true;
  });

  function maskBlob() {
    const out = document.createElement("canvas");
    out.width = canvas.width;
    out.height = canvas.height;
    const c = out.getContext("2d");
    c.fillStyle = "#000";
    c.fillRect(0, 0, out.width, out.height);
    c.globalCompositeOperation = "destination-out";
    c.drawImage(canvas, 0, 0);
    return new Promise((resolve) => out.toBlob(resolve, "image/png"));
  }

  async function formData(request) {
    const form = new FormData();
    for (const [name, value] of Object.entries(request)) {
      if (name === "response_format" || name === "stream" || name === "partial_images") continue;
      form.append(name, typeof value === "object" ? JSON.stringify(value) : String(value));
    }
    form.append("response_format", "b64_json");
    const chosen = [...files.files];
    for (const file of chosen) form.append(chosen.length > 1 ? "image[]" : "image", file);
    if (painted) form.append("mask", await maskBlob(), "mask.png");
    return form;
  }

  const element = h(
    "fieldset",
    { class: "edit" },
    h("legend", {}, "Images to edit"),
    field("Images", files, "PNG, JPEG or WebP; the mask is painted over the first"),
    stage,
    h("div", { class: "row" }, field("Brush width", brush), clear, whole),
  );
  return { element, formData, hasImages: () => files.files.length > 0 };
}
