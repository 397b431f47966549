// The hub's REST API from a console: the signed-in user's token, JSON in and out, errors that name the
// field. `storageKey` keeps the two consoles' sign-ins apart in one browser.

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.fields = error.fields || [];
  }
  /** The message with the fields that were wrong, for a toast. */
  describe() {
    const fields = this.fields.map((f) => `${f.field}: ${f.message}`).join("; ");
    return fields ? `${this.message} (${fields})` : this.message;
  }
}

export class Api {
  constructor(storageKey) {
    this.storageKey = storageKey;
    const saved = JSON.parse(sessionStorage.getItem(storageKey) || "null");
    this.session = saved; // {token, username, role, area}
  }

  get signedIn() { return Boolean(this.session && this.session.token); }
  get token() { return this.session ? this.session.token : null; }

  async login(username, password) {
    const body = await this.request("POST", "/api/v1/auth/login", { username, password }, { auth: false });
    this.session = { token: body.token, username, role: body.role, area: body.area };
    sessionStorage.setItem(this.storageKey, JSON.stringify(this.session));
    return this.session;
  }

  logout() {
    this.session = null;
    sessionStorage.removeItem(this.storageKey);
  }

  /** End the session on the hub too: the token stops working everywhere at once. Best effort — offline, or
   *  with the session already ended, forgetting the token here (logout) is all there is left to do. */
  async revoke() {
    if (!this.token) return;
    try {
      await this.request("POST", "/api/v1/auth/logout", null, { timeoutMs: 5000 });
    } catch {
      // see above
    }
  }

  async request(method, path, json, { auth = true, form = null, timeoutMs = 20000 } = {}) {
    const headers = {};
    if (auth && this.token) headers.Authorization = `Bearer ${this.token}`;
    let body;
    if (form) body = form; // multipart: the browser sets the boundary
    else if (json !== undefined && json !== null) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let resp;
    try {
      resp = await fetch(path, { method, headers, body, signal: controller.signal });
    } catch (err) {
      const code = err && err.name === "AbortError" ? "timeout" : "network";
      throw new ApiError(0, { error: { code, message: navigator.onLine ? String(err) : "offline" } });
    } finally {
      clearTimeout(timer);
    }
    const text = await resp.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      // Not our JSON: a proxy's error page, say. Report the status, not a parse error.
      data = { error: { code: "bad_gateway", message: `HTTP ${resp.status}` } };
      if (resp.ok) throw new ApiError(502, data);
    }
    if (!resp.ok) {
      if (resp.status === 401 && auth) this.logout();
      throw new ApiError(resp.status, data);
    }
    return data;
  }

  get(path, params) {
    const query = params ? "?" + new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "")) : "";
    return this.request("GET", path + query);
  }

  post(path, json) { return this.request("POST", path, json); }

  /** After a refused websocket handshake: does the sign-in still hold? Only a 401 says it does not. */
  async stillSignedIn() {
    try { await this.get("/api/v1/console/config"); return true; } catch (err) { return err.status !== 401; }
  }

  /** A case's photo as an object URL (an <img> cannot send the bearer header). Revoke it when done. */
  photoUrl(caseId, photoId, options = {}) {
    return this.fileUrl(`/api/v1/cases/${encodeURIComponent(caseId)}/photos/${encodeURIComponent(photoId)}`, options);
  }

  /** Any photo the hub serves to a signed-in user (a case's, a directive's) or any file it serves (an incident's review workbook) as an object URL. Revoke it when done. */
  async fileUrl(path, { timeoutMs = 30000 } = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const resp = await fetch(path, { headers: { Authorization: `Bearer ${this.token}` }, signal: controller.signal });
      if (!resp.ok) {
        if (resp.status === 401) this.logout();
        throw new ApiError(resp.status, null);
      }
      return URL.createObjectURL(await resp.blob());
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(0, { error: { code: err && err.name === "AbortError" ? "timeout" : "network", message: String(err) } });
    } finally {
      clearTimeout(timer);
    }
  }
  /** A file the hub writes (an export): its bytes and the name its Content-Disposition gives. */
  async download(path, params, { timeoutMs = 60000 } = {}) {
    const query = params ? "?" + new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "")) : "";
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const resp = await fetch(path + query, { headers: { Authorization: `Bearer ${this.token}` }, signal: controller.signal });
      if (!resp.ok) {
        if (resp.status === 401) this.logout();
        let body = null;
        try { body = await resp.json(); } catch { /* not our JSON */ }
        throw new ApiError(resp.status, body);
      }
      const named = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "");
      return { blob: await resp.blob(), filename: named ? named[1] : path.split("/").pop() };
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(0, { error: { code: err && err.name === "AbortError" ? "timeout" : "network", message: String(err) } });
    } finally {
      clearTimeout(timer);
    }
  }

  upload(path, formData) { return this.request("POST", path, null, { form: formData, timeoutMs: 120000 }); }

  /** An action on a case. A 409 (someone changed it) comes back as ApiError status 409: reload and retry. */
  act(caseId, action, expectedVersion, fields = {}) {
    return this.post(`/api/v1/cases/${caseId}/actions`, { action, expected_version: expectedVersion, ...fields });
  }
}
