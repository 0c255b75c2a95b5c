// The JSON API as the browser sees it: session cookie + CSRF header, the
// {success, message, data} envelope unwrapped, errors turned into plain words.

import { t } from "./i18n.js";

export class ApiError extends Error {
  constructor(message, { status = 0, errors = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.errors = errors;
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) return meta.content;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function headersFor(method, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined && !(body instanceof FormData)) headers["Content-Type"] = "application/json";
  return headers;
}

/** The plain-words message of a failed response (the envelope's `message`). */
export async function errorFromResponse(response) {
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (response.status === 401 || (response.status === 403 && payload && /credentials|CSRF/i.test(payload.message || ""))) {
    if (response.status === 401) redirectToLogin();
    return new ApiError(t("session_expired"), { status: response.status });
  }
  const message = (payload && (payload.message || payload.detail)) || `${t("unexpected_error")} (${t("http_status", { n: response.status })})`;
  return new ApiError(message, { status: response.status, errors: payload && payload.errors });
}

function redirectToLogin() {
  const next = encodeURIComponent(location.pathname + location.search);
  setTimeout(() => location.assign(`/login/?next=${next}`), 1200);
}

/**
 * Send a request and return the raw Response when it succeeded (for streams);
 * throws ApiError with the server's message otherwise.
 */
export async function request(path, { method = "GET", body, signal } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headersFor(method, body),
      body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(t("network_error"));
  }
  if (!response.ok) throw await errorFromResponse(response);
  return response;
}

/** Call an endpoint and return the envelope's `data`. */
export async function api(path, options = {}) {
  const response = await request(path, options);
  if (response.status === 204) return null;
  let payload;
  try {
    payload = await response.json();
  } catch {
    throw new ApiError(t("unexpected_error"), { status: response.status });
  }
  if (payload && payload.success === false) throw new ApiError(payload.message || t("unexpected_error"), { status: response.status });
  return payload && "data" in payload ? payload.data : payload;
}

export const get = (path, options) => api(path, { ...options, method: "GET" });
export const post = (path, body, options) => api(path, { ...options, method: "POST", body });
export const put = (path, body, options) => api(path, { ...options, method: "PUT", body });
export const del = (path, options) => api(path, { ...options, method: "DELETE" });

/** Upload a FormData with progress (fetch has no upload progress; XMLHttpRequest has). */
export function upload(path, formData, { onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("error", () => reject(new ApiError(t("network_error"))));
    xhr.addEventListener("load", () => {
      let payload = null;
      try {
        payload = JSON.parse(xhr.responseText);
      } catch {
        payload = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && payload && payload.success !== false) resolve(payload.data);
      else reject(new ApiError((payload && payload.message) || `${t("unexpected_error")} (${t("http_status", { n: xhr.status })})`, { status: xhr.status }));
    });
    xhr.send(formData);
  });
}
