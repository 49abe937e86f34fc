/**
 * The dashboard's only way to the server: the public API of API.md, same origin, with the owner's
 * session JWT from sessionStorage (it ends with the tab, and is never put in a URL or a cookie).
 */
const TOKEN_KEY = 'gonka-gateway.session';

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
  /** The account the token is for (its `sub`), read without checking it; null when there is none. */
  get account() {
    try {
      const payload = this.token.split('.')[1].replaceAll('-', '+').replaceAll('_', '/');
      return JSON.parse(atob(payload)).sub ?? null;
    } catch {
      return null;
    }
  },
};

/** An API error envelope `{error: {type, message, param?, code?, …}}` with its HTTP status. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `Request failed (HTTP ${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.type = error?.type ?? 'http_error';
    this.param = error?.param ?? null;
    this.code = error?.code ?? null;
    this.details = error ?? {};
  }
}

/** Fired when the server no longer accepts the session, so the shell can send the user to log in. */
export const SESSION_ENDED = 'gonka:session-ended';

export async function request(method, path, body) {
  const headers = { accept: 'application/json' };
  const token = session.token;
  if (token) headers.authorization = `Bearer ${token}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw unreachable();
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) throw refused(res.status, data, token);
  return data;
}

/** The ApiError of a request that never reached the server. */
function unreachable() {
  return new ApiError(0, {
    type: 'network_error',
    message: 'Cannot reach the server. Check your connection.',
  });
}

/** The ApiError of a refused request; a session the server no longer accepts ends here too. */
function refused(status, data, token) {
  const err = new ApiError(status, data?.error);
  if (status === 401 && token && err.type === 'authentication_error') {
    session.clear();
    window.dispatchEvent(new CustomEvent(SESSION_ENDED));
  }
  return err;
}

/**
 * Tell the server a session ended (POST /api/auth/logout), so a copy of its token stops working too.
 * The tab has already forgotten the token: whatever the answer, nothing more to do (`keepalive` lets
 * it finish if the tab closes).
 */
export function endSession(token) {
  return fetch('/api/auth/logout', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    keepalive: true,
  }).catch(() => {});
}

/**
 * Save one of the owner's files: fetched with the session (a token never goes in a URL), then
 * handed to the browser as a download under its own name.
 */
export async function downloadFile(id, filename) {
  const token = session.token;
  let res;
  try {
    res = await fetch(`/api/files/${encodeURIComponent(id)}/content`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  } catch {
    throw unreachable();
  }
  if (!res.ok) throw refused(res.status, await res.json().catch(() => null), token);
  const url = URL.createObjectURL(await res.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its own copy once it started; the blob is only kept a little while for it.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

const enc = encodeURIComponent;

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {}))
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** One function per API.md route the dashboard uses. */
export const api = {
  register: (body) => request('POST', '/api/auth/register', body),
  login: (body) => request('POST', '/api/auth/login', body),

  account: () => request('GET', '/api/account'),
  updateAccount: (body) => request('PATCH', '/api/account', body),
  ledger: (params) => request('GET', `/api/account/ledger${query(params)}`),
  ledgerEntry: (id) => request('GET', `/api/account/ledger/${enc(id)}`),
  usage: (params) => request('GET', `/api/account/usage${query(params)}`),
  managementKeyUsage: (id, params) => request('GET', `/api/management/keys/${enc(id)}/usage${query(params)}`),

  managementKeys: () => request('GET', '/api/management/keys'),
  managementKey: (id) => request('GET', `/api/management/keys/${enc(id)}`),
  createManagementKey: (body) => request('POST', '/api/management/keys', body),
  updateManagementKey: (id, body) => request('PATCH', `/api/management/keys/${enc(id)}`, body),
  revokeManagementKey: (id) => request('DELETE', `/api/management/keys/${enc(id)}`),
  rotateManagementKey: (id, body) => request('POST', `/api/management/keys/${enc(id)}/rotate`, body),

  childKeys: (mkId, params) => request('GET', `/api/management/keys/${enc(mkId)}/children${query(params)}`),
  createChildKey: (mkId, body) => request('POST', `/api/management/keys/${enc(mkId)}/children`, body),
  updateChildKey: (mkId, id, body) =>
    request('PATCH', `/api/management/keys/${enc(mkId)}/children/${enc(id)}`, body),
  deleteChildKey: (mkId, id) => request('DELETE', `/api/management/keys/${enc(mkId)}/children/${enc(id)}`),
  rotateChildKey: (mkId, id, body) =>
    request('POST', `/api/management/keys/${enc(mkId)}/children/${enc(id)}/rotate`, body),

  jobs: (params) => request('GET', `/api/jobs${query(params)}`),
  job: (id) => request('GET', `/api/jobs/${enc(id)}`),
  cancelJob: (id) => request('POST', `/api/jobs/${enc(id)}/cancel`),
  batches: (params) => request('GET', `/api/batches${query(params)}`),
  batch: (id) => request('GET', `/api/batches/${enc(id)}`),
  cancelBatch: (id) => request('POST', `/api/batches/${enc(id)}/cancel`),
  files: (params) => request('GET', `/api/files${query(params)}`),
  deleteFile: (id) => request('DELETE', `/api/files/${enc(id)}`),

  webhooks: () => request('GET', '/api/webhooks'),
  createWebhook: (body) => request('POST', '/api/webhooks', body),
  deleteWebhook: (id) => request('DELETE', `/api/webhooks/${enc(id)}`),
  updateWebhook: (id, body) => request('PATCH', `/api/webhooks/${enc(id)}`, body),
  rotateWebhookSecret: (id, body) => request('POST', `/api/webhooks/${enc(id)}/rotate-secret`, body),
  rotateDefaultWebhookSecret: (body) => request('POST', '/api/webhooks/default-secret/rotate', body),
  webhookDeliveries: (id, params) => request('GET', `/api/webhooks/${enc(id)}/deliveries${query(params)}`),
  jobWebhookDeliveries: (params) => request('GET', `/api/webhooks/job-deliveries${query(params)}`),
  defaultWebhookSecret: () => request('GET', '/api/webhooks/default-secret'),
};

/**
 * One page of a listing paged with `after` (`{data, has_more, last_id}`), as `{data, hasMore,
 * lastId}`. A listing that is not served (yet) reads as an empty last page, so its page shows its
 * empty state.
 */
export async function pageOrEmpty(promise) {
  try {
    const page = await promise;
    const data = Array.isArray(page?.data) ? page.data : [];
    const lastId = page?.last_id ?? data.at(-1)?.id ?? null;
    // Without a cursor there is no next page to ask for, whatever `has_more` says.
    return { data, hasMore: page?.has_more === true && lastId !== null, lastId };
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return { data: [], hasMore: false, lastId: null };
    throw err;
  }
}

/** A listing that is not served (yet) reads as empty, so its page shows its empty state. */
export async function listOrEmpty(promise) {
  return (await pageOrEmpty(promise)).data;
}
