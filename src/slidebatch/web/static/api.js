// The HTTP client for slidebatch's /api: JSON in and out, the API key attached.
//
// fetch() sends the key as the X-API-Key header. EventSource and plain download links
// cannot send headers, so URLs meant for those carry the key as ?api_key= instead
// (the server accepts both; the query form is only used where a header is impossible).

const KEY_STORAGE = "slidebatch.apiKey";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

export class Api {
  constructor(storage = window.localStorage) {
    this.storage = storage;
  }

  get key() {
    try {
      return this.storage.getItem(KEY_STORAGE) || "";
    } catch {
      return "";
    }
  }

  set key(value) {
    try {
      if (value) this.storage.setItem(KEY_STORAGE, value);
      else this.storage.removeItem(KEY_STORAGE);
    } catch {
      // Private mode without storage: the key lives only for this page view.
    }
  }

  /** Call an endpoint; resolve with parsed JSON (null for 204), reject with ApiError. */
  async request(method, path, body, extraHeaders = {}) {
    const headers = { Accept: "application/json", ...extraHeaders };
    if (this.key) headers["X-API-Key"] = this.key;
    const init = { method, headers };
    if (body instanceof FormData) {
      init.body = body; // multipart: the browser sets the boundary in Content-Type
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, `The server is unreachable (${err.message}).`);
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      throw new ApiError(response.status, describeDetail(data, response));
    }
    return data;
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body = {}, headers = {}) {
    return this.request("POST", path, body, headers);
  }

  /** A same-origin URL for EventSource, <img> or a download link, with the key if any. */
  url(path, params = {}) {
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    if (this.key) url.searchParams.set("api_key", this.key);
    return url.pathname + url.search;
  }
}

function describeDetail(data, response) {
  const detail = data && data.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // FastAPI validation errors: [{loc: [...], msg: "..."}]
    return detail
      .map((item) => {
        const where = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
        return where ? `${where}: ${item.msg}` : String(item.msg ?? JSON.stringify(item));
      })
      .join("; ");
  }
  if (detail) return JSON.stringify(detail);
  return `${response.status} ${response.statusText}`.trim();
}
