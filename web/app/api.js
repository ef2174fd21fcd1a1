// HTTP to the server that served this app: paths are relative to it, so that it also
// works behind a proxy that serves pushgate under a prefix.
import { deviceProof, serverDate } from './proto.js';

const base = new URL('../', document.baseURI);

export class HttpError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.code = problem && problem.code;
  }
}

export const serverUrl = (path) => new URL(path, base);

async function send(path, init) {
  const res = await fetch(serverUrl(path), { cache: 'no-store', credentials: 'omit', ...init });
  serverDate(res.headers.get('Date'));
  const type = res.headers.get('Content-Type') || '';
  const body = /json/.test(type) ? await res.json().catch(() => null) : null;
  if (!res.ok) throw new HttpError(res.status, body);
  return { status: res.status, body };
}

const jsonInit = (method, body, headers = {}) => ({
  method,
  headers: { Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
  body: body ? JSON.stringify(body) : undefined,
});

// api.md 4: the registration document, and the binding.
export const getRegistration = (token) => send(`r/${encodeURIComponent(token)}`, jsonInit('GET'));
export const bindRegistration = (token, body) =>
  send(`r/${encodeURIComponent(token)}`, jsonInit('POST', body));

// A /device request with a fresh proof (api.md 6.1).
export async function deviceCall(account, method, path, query, body, signal) {
  const proof = await deviceProof(account, method, serverUrl(path).pathname);
  const init = jsonInit(method, body, { Authorization: `Device ${proof}` });
  return send(query ? `${path}?${query}` : path, { ...init, signal });
}

// The server's clock, before the first proof is made (proto.js: serverDate).
export async function syncClock() {
  try {
    const res = await fetch(serverUrl('app/'), { method: 'HEAD', cache: 'no-store', credentials: 'omit' });
    serverDate(res.headers.get('Date'));
  } catch {
    // unreachable: the polls say so, and retry
  }
}
