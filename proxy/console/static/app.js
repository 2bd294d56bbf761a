// The console's shell: sign-in, navigation between views (#/name), light and dark.
import { ApiError, call, errorOf, setCsrf } from "./api.js";
import { h, toast } from "./dom.js";
import * as gallery from "./views/gallery.js";
import * as keys from "./views/keys.js";
import * as logs from "./views/logs.js";
import * as models from "./views/models.js";
import * as playground from "./views/playground.js";
import * as signin from "./views/signin.js";
import * as spend from "./views/spend.js";

const VIEWS = [
  { name: "playground", title: "Playground", view: playground, master: false },
  { name: "keys", title: "Keys", view: keys, master: false },
  { name: "spend", title: "Spend", view: spend, master: false },
  { name: "models", title: "Models", view: models, master: false },
  { name: "logs", title: "Logs", view: logs, master: true },
  { name: "gallery", title: "Gallery", view: gallery, master: false, feature: "gallery" },
];

const state = { identity: null, features: {} };

function visibleViews() {
  return VIEWS.filter(
    (v) =>
      (!v.master || (state.identity && state.identity.is_master)) &&
      (!v.feature || state.features[v.feature]),
  );
}

function currentName() {
  const name = location.hash.replace(/^#\/?/, "").split("?")[0];
  return visibleViews().some((v) => v.name === name) ? name : "playground";
}

function renderNav() {
  const nav = document.getElementById("nav");
  const active = currentName();
  nav.replaceChildren(
    h(
      "ul",
      {},
      visibleViews().map((v) =>
        h(
          "li",
          {},
          h(
            "a",
            { href: `#/${v.name}`, "aria-current": v.name === active ? "page" : null },
            v.title,
          ),
        ),
      ),
    ),
  );
  nav.hidden = false;
  const who = state.identity.is_master ? "master key" : state.identity.key_alias || "virtual key";
  document.getElementById("who").textContent = `Signed in: ${who}`;
  document.getElementById("signout").hidden = false;
}

async function show() {
  const main = document.getElementById("main");
  if (!state.identity) {
    document.getElementById("nav").hidden = true;
    document.getElementById("signout").hidden = true;
    document.getElementById("who").textContent = "";
    signin.render(main, { onSignedIn });
    return;
  }
  renderNav();
  const entry = visibleViews().find((v) => v.name === currentName());
  document.title = `${entry.title} · image-proxy console`;
  // each render fills its own container: one still loading when another starts fills a
  // container no longer on the page
  const view = h("div", { class: "view" });
  main.replaceChildren(h("h1", {}, entry.title), view);
  try {
    await entry.view.render(view, { identity: state.identity, features: state.features });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      state.identity = null;
      await show();
      return;
    }
    view.append(h("p", { class: "error", role: "alert" }, err.message));
  }
}

function onSignedIn(session) {
  setCsrf(session.csrf_token);
  state.identity = session.identity;
  state.features = session.features;
  if (!location.hash) location.hash = "#/playground"; // hashchange shows it
  else show();
}

async function signOut() {
  const response = await call("DELETE", "/console/session");
  if (!response.ok) {
    toast((await errorOf(response)).message, "error");
    return;
  }
  setCsrf(null);
  state.identity = null;
  show();
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const button = document.getElementById("theme");
  button.textContent = theme === "dark" ? "Light mode" : "Dark mode";
}

function initialTheme() {
  const saved = localStorage.getItem("console-theme");
  if (saved === "dark" || saved === "light") return saved;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

async function start() {
  applyTheme(initialTheme());
  document.getElementById("theme").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem("console-theme", next);
    applyTheme(next);
  });
  document.getElementById("signout").addEventListener("click", signOut);
  const main = document.getElementById("main");
  document.querySelector(".skip").addEventListener("click", (event) => {
    event.preventDefault(); // the view stays; only focus moves
    main.focus();
  });
  window.addEventListener("hashchange", () => {
    show();
    main.focus();
  });
  const response = await call("GET", "/console/session");
  const session = await response.json();
  state.features = session.features;
  if (session.signed_in) {
    setCsrf(session.csrf_token);
    state.identity = session.identity;
  }
  show();
}

start();
