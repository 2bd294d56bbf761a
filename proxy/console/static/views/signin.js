// Sign-in: the key is sent once; the proxy keeps it and answers with a session cookie.
import { call, errorOf } from "../api.js";
import { field, h } from "../dom.js";

export function render(main, { onSignedIn }) {
  const input = h("input", {
    type: "password",
    name: "key",
    autocomplete: "current-password",
    required: true,
    spellcheck: "false",
  });
  const message = h("p", { class: "error", role: "alert", id: "signin-error" });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card narrow", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h(
      "p",
      { class: "muted" },
      "The master key opens everything; a virtual key opens its own playground, spend and key.",
    ),
    field("API key", input, "Kept by the proxy for this session; never stored in the browser."),
    message,
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    button.disabled = true;
    try {
      const response = await call("POST", "/console/session", { key: input.value });
      if (!response.ok) {
        const err = await errorOf(response);
        message.textContent =
          response.status === 401 ? "That key is not valid. Check it and try again." : err.message;
        input.focus();
        return;
      }
      input.value = "";
      onSignedIn(await response.json());
    } finally {
      button.disabled = false;
    }
  });
  main.replaceChildren(form);
  input.focus();
}
