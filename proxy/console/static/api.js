// Every call the console makes: same origin, the session cookie, and the CSRF token on each
// request that changes state. Errors come back as the API's own message.
let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function call(method, path, body, extraHeaders = {}) {
  const headers = { ...extraHeaders };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["x-csrf-token"] = csrfToken;
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return fetch(path, init);
}

export async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  let code = null;
  try {
    const data = await response.json();
    if (data && data.error) {
      message = data.error.message || message;
      code = data.error.code || null;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message, code);
}

export async function json(method, path, body) {
  const response = await call(method, path, body);
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

export const get = (path) => json("GET", path);
export const post = (path, body) => json("POST", path, body);
export const del = (path, body) => json("DELETE", path, body);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}
