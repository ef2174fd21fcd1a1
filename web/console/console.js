// The admin console (api.md 14). Every value from the API is inserted as text (text nodes,
// textContent), never as markup; every action asks first and shows the problem's detail.
// The admin token lives in sessionStorage only: gone when the tab closes or on sign out.
const KEY = 'pushgate.console.token';
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const text = (v) => (v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

function table(cols, rows) {
  return el('table', {},
    el('thead', {}, el('tr', {}, cols.map((c) => el('th', {}, c[0])))),
    el('tbody', {}, rows.map((row) => el('tr', {}, cols.map((c) => el('td', {}, c[1](row)))))));
}

function showError(msg) {
  $('error').textContent = msg || '';
  $('error').hidden = !msg;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// The view being drawn: a newer show() aborts the reads of the one before, so an answer
// that comes late never draws over the view asked for after it. Actions (not GETs) are
// never aborted: their outcome must be seen.
let viewAbort = null;

async function api(method, path, query = {}, body = undefined, token = sessionStorage.getItem(KEY)) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const url = '../' + path.replace(/^\//, '') + (q.toString() ? '?' + q : '');
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const signal = method === 'GET' && viewAbort ? viewAbort.signal : undefined;
  const res = await fetch(url, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// An action: asked first, its problem detail shown on failure, then the view redrawn.
async function act(question, fn, after) {
  if (!window.confirm(question)) return;
  try {
    showError('');
    await fn();
    await after();
  } catch (e) {
    showError(e.message);
  }
}

let timer = null;
// A view's node may carry refresh(): called every 5 s while that view is shown.
async function show(render) {
  stopView();
  const mine = (viewAbort = new AbortController());
  try {
    showError('');
    const node = await render();
    if (mine !== viewAbort) return;
    $('view').replaceChildren(node);
    if (node.refresh) timer = setInterval(node.refresh, 5000);
  } catch (e) {
    if (mine !== viewAbort) return;
    if (e instanceof ApiError && e.status === 401) return signOut('The admin token was refused.');
    showError(e.message);
  }
}

function stopView() {
  clearInterval(timer);
  timer = null;
  if (viewAbort) viewAbort.abort();
  viewAbort = null;
}

// -- views

async function applicationsView() {
  const page = await api('GET', '/applications', { limit: 200 });
  return el('div', { id: 'apps-view' }, el('h2', {}, 'Applications'),
    table([
      ['Name', (a) => el('button', { type: 'button', class: 'link', onclick: () => show(() => usersView(a)) }, a.name)],
      ['Id', (a) => a.applicationId],
      ['Status', (a) => a.status],
      ['Webhook URL', (a) => text(a.webhookUrl)],
      ['Created', (a) => a.createdAt],
    ], page.items));
}

async function usersView(app, q = '', cursor = null, back = []) {
  const page = await api('GET', '/users', { applicationId: app.applicationId, q, cursor, limit: 50 });
  const input = el('input', { id: 'user-q', value: q, placeholder: 'username prefix', autocomplete: 'off' });
  const search = () => show(() => usersView(app, input.value));
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') search(); });
  return el('div', { id: 'users-view', 'data-q': q },
    el('h2', {}, 'Users of ', app.name),
    el('div', { class: 'row' },
      el('label', { for: 'user-q' }, 'Search'), input,
      el('button', { id: 'user-search', type: 'button', onclick: search }, 'Search'),
      el('button', { id: 'new-reg', type: 'button', onclick: () => show(() => createView(app)) }, 'Create a registration'),
      el('button', { id: 'recent-auth', type: 'button', onclick: () => show(() => recentView(app)) }, 'Recent auth requests')),
    table([
      ['Username', (u) => el('button', { type: 'button', class: 'link user-link', onclick: () => show(() => userView(app, u.username)) }, u.username)],
      ['Email', (u) => text(u.email)],
      ['Devices', (u) => text(u.pushDevices)],
      ['MFA', (u) => (u.mfaEnabled ? text(u.channel) : 'off')],
      ['Locked', (u) => (u.locked ? 'locked' : '')],
    ], page.items),
    el('div', { class: 'row' },
      back.length ? el('button', { id: 'prev-page', type: 'button', onclick: () => show(() => usersView(app, q, back[back.length - 1], back.slice(0, -1))) }, 'Previous page') : null,
      page.nextCursor ? el('button', { id: 'next-page', type: 'button', onclick: () => show(() => usersView(app, q, page.nextCursor, [...back, cursor])) }, 'Next page') : null));
}

// The message and transaction the device was shown: the signed challenge's payload.
function challengeOf(a) {
  try {
    const b64 = a.challenge.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) || {};
  } catch {
    return {};
  }
}

function authTable(items) {
  return table([
    ['Request', (a) => a.requestId],
    ['User', (a) => text(a.username)],
    ['Status', (a) => a.status],
    ['Reason', (a) => text(a.reason)],
    ['Device', (a) => text(a.deviceId)],
    ['Created', (a) => text(a.createdAt)],
    ['Decided', (a) => text(a.decidedAt)],
    ['Message', (a) => el('span', { class: 'message' }, text(challengeOf(a).message))],
    ['Transaction', (a) => el('span', { class: 'pre transaction' }, text(challengeOf(a).transaction))],
  ], items);
}

async function userView(app, username) {
  const appId = app.applicationId;
  const enc = encodeURIComponent(username);
  const [status, devices, regs, auths] = await Promise.all([
    api('GET', `/users/${enc}/mfa/status`, { applicationId: appId }),
    api('GET', `/users/${enc}/devices`, { applicationId: appId }),
    api('GET', '/registrations', { applicationId: appId, username, limit: 20 }),
    api('GET', '/auth', { applicationId: appId, username, limit: 20 }),
  ]);
  const again = () => show(() => userView(app, username));
  return el('div', { id: 'user-view' },
    el('h2', {}, 'User ', el('span', { id: 'user-name' }, username), ' of ', app.name),
    el('h3', {}, 'MFA status'),
    el('p', { id: 'mfa-status' },
      status.locked ? el('strong', { id: 'locked' }, `locked until ${text(status.lockedUntil)}`) : el('span', { id: 'unlocked' }, 'not locked'),
      `; MFA ${status.mfaEnabled ? 'on (' + text(status.channel) + ')' : 'off'}; push devices ${text(status.pushDevices)}; requirements ${text(status.requirements)}`),
    status.locked ? el('button', { id: 'unlock', type: 'button', onclick: () => act(`Unlock ${username}?`,
      () => api('POST', `/users/${enc}/unlock`, { applicationId: appId }), again) }, 'Unlock') : null,
    el('h3', {}, 'Devices'),
    table([
      ['Device', (d) => d.deviceId],
      ['Name', (d) => text(d.name)],
      ['Status', (d) => d.status],
      ['Created', (d) => text(d.createdAt)],
      ['Last seen', (d) => text(d.lastSeenAt)],
      ['', (d) => (d.status === 'active' ? el('button', { type: 'button', class: 'revoke', onclick: () => act(`Revoke device ${d.deviceId}?`,
        () => api('DELETE', `/users/${enc}/devices/${encodeURIComponent(d.deviceId)}`, { applicationId: appId }), again) }, 'Revoke') : '')],
    ], devices.devices),
    el('h3', {}, 'Registrations'),
    table([
      ['Registration', (g) => g.registrationId],
      ['State', (g) => el('span', { class: 'reg-status' }, g.status)],
      ['Delivery', (g) => text(g.delivery)],
      ['Device', (g) => el('span', { class: 'reg-device' }, text(g.deviceId))],
      ['Created', (g) => text(g.createdAt)],
      ['Expires', (g) => text(g.expiresAt)],
      ['', (g) => (g.status === 'pending' ? el('button', { type: 'button', class: 'cancel', onclick: () => act(`Cancel registration ${g.registrationId}?`,
        () => api('DELETE', `/registration/${encodeURIComponent(g.registrationId)}`, { applicationId: appId }), again) }, 'Cancel') : '')],
    ], regs.items),
    el('h3', {}, 'Recent auth requests'),
    authTable(auths.items),
    el('button', { id: 'refresh-user', type: 'button', onclick: again }, 'Refresh'));
}

async function recentView(app) {
  const page = await api('GET', '/auth', { applicationId: app.applicationId, limit: 50 });
  const node = el('div', { id: 'recent-view' }, el('h2', {}, 'Recent auth requests of ', app.name),
    el('p', {}, 'Refreshed every 5 seconds.'), authTable(page.items));
  node.refresh = async () => {
    try {
      const p = await api('GET', '/auth', { applicationId: app.applicationId, limit: 50 });
      node.querySelector('table').replaceWith(authTable(p.items));
    } catch (e) {
      if (e.name !== 'AbortError') showError(e.message);
    }
  };
  return node;
}

async function createView(app) {
  const user = el('input', { id: 'reg-username', autocomplete: 'off' });
  const email = el('input', { id: 'reg-email', type: 'email', autocomplete: 'off' });
  const none = el('input', { id: 'reg-none', type: 'checkbox' });
  const out = el('div', { id: 'reg-result' });
  const go = () => act(`Create a registration for ${user.value}?`, async () => {
    const body = { username: user.value };
    if (none.checked) body.delivery = 'none';
    else body.email = email.value;
    const r = await api('POST', '/registration', { applicationId: app.applicationId }, body);
    const parts = [el('p', {}, 'Created ', r.registrationId, ' (', r.status, ').')];
    if (r.qrCodeSvg) {
      // the SVG as an image from a data: URL: it is never parsed into this page
      const src = 'data:image/svg+xml;base64,' + btoa(unescape(encodeURIComponent(r.qrCodeSvg)));
      parts.push(el('img', { id: 'reg-qr', class: 'qr', alt: 'QR code of the link', src }));
      parts.push(el('p', {}, 'Link: ', el('span', { id: 'reg-link' }, r.link)));
    }
    out.replaceChildren(...parts);
  }, async () => {});
  return el('div', { id: 'create-view' }, el('h2', {}, 'Create a registration for ', app.name),
    el('div', { class: 'row' }, el('label', { for: 'reg-username' }, 'Username'), user),
    el('div', { class: 'row' }, el('label', { for: 'reg-email' }, 'Email'), email),
    el('div', { class: 'row' }, none, el('label', { for: 'reg-none' }, 'No mail: show the QR code here (delivery: none)')),
    el('button', { id: 'reg-go', type: 'button', onclick: go }, 'Create'), out);
}

async function auditView(filters = {}) {
  const page = await api('GET', '/audit', { ...filters, limit: 100 });
  const f = (id, label, key) => {
    const input = el('input', { id, value: filters[key] || '', autocomplete: 'off' });
    return [el('label', { for: id }, label), input];
  };
  const node = el('div', { id: 'audit-view' }, el('h2', {}, 'Audit log'),
    el('div', { class: 'row' }, f('audit-type', 'Type', 'type'), f('audit-user', 'Username', 'username'),
      f('audit-app', 'Application id', 'applicationId'), f('audit-since', 'Since (RFC 3339)', 'since'),
      el('button', { id: 'audit-go', type: 'button', onclick: () => show(() => auditView({
        type: $('audit-type').value, username: $('audit-user').value,
        applicationId: $('audit-app').value, since: $('audit-since').value,
      })) }, 'Filter')),
    el('p', {}, 'To verify the audit chain, run `pushgated audit verify` on the server.'),
    table([
      ['At', (a) => a.at], ['Type', (a) => a.type], ['Application', (a) => text(a.applicationId)],
      ['User', (a) => text(a.username)], ['Detail', (a) => el('span', { class: 'pre' }, text(a.detail))],
    ], page.items));
  return node;
}

// -- sign in and out

function signedIn(on) {
  $('signin').hidden = on;
  $('nav').hidden = !on;
  $('view').hidden = !on;
}

function signOut(msg) {
  stopView();
  sessionStorage.removeItem(KEY);
  $('view').replaceChildren();
  $('token').value = '';
  signedIn(false);
  showError(msg || '');
}

async function signIn() {
  const token = $('token').value.trim();
  try {
    await api('GET', '/applications', { limit: 1 }, undefined, token);
  } catch (e) {
    return showError(e instanceof ApiError && e.status === 401 ? 'Wrong admin token: refused.' : e.message);
  }
  sessionStorage.setItem(KEY, token);
  $('token').value = '';
  signedIn(true);
  show(applicationsView);
}

function main() {
  $('signin-go').addEventListener('click', signIn);
  $('token').addEventListener('keydown', (e) => { if (e.key === 'Enter') signIn(); });
  $('nav-apps').addEventListener('click', () => show(applicationsView));
  $('nav-audit').addEventListener('click', () => show(() => auditView()));
  $('sign-out').addEventListener('click', () => signOut());
  if (sessionStorage.getItem(KEY)) {
    signedIn(true);
    show(applicationsView);
  }
}

main();
