// The web authenticator (api.md 13): enrollment, the account list, and the polls.
import { HttpError, bindRegistration, deviceCall, getRegistration, syncClock } from './api.js';
import { startPolling } from './challenges.js';
import { $, el, setText } from './dom.js';
import { newDeviceKey, registrationProof, usableServerKeys } from './proto.js';
import { deleteAccount, listAccounts, putAccount } from './store.js';

const pollers = new Map(); // deviceId -> stop()

// --- accounts

function accountItem(account) {
  const remove = el('button', { class: 'remove', type: 'button' }, 'Remove');
  const confirm = el('button', { class: 'remove-confirm', type: 'button', hidden: true }, 'Remove this account');
  const keep = el('button', { class: 'remove-keep', type: 'button', hidden: true }, 'Keep');
  const msg = el('p', { class: 'account-msg', role: 'status' });
  const ask = (yes) => { remove.hidden = yes; confirm.hidden = keep.hidden = !yes; };
  remove.addEventListener('click', () => { ask(true); confirm.focus(); });
  keep.addEventListener('click', () => ask(false));
  confirm.addEventListener('click', () => removeAccount(account, msg, confirm));
  const enrolled = new Date(account.enrolledAt);
  return el('li', { class: 'account', 'data-device-id': account.deviceId },
    el('h3', {}, el('span', { class: 'app' }, account.application.name), ' · ',
      el('span', { class: 'user' }, account.username)),
    el('p', {}, 'This browser: ', el('span', { class: 'device-name' }, account.deviceName)),
    el('p', {}, 'Linked ', el('time', { datetime: account.enrolledAt }, enrolled.toLocaleString())),
    el('div', { class: 'buttons' }, remove, confirm, keep), msg);
}

async function renderAccounts() {
  const accounts = await listAccounts();
  accounts.sort((a, b) => a.enrolledAt.localeCompare(b.enrolledAt));
  $('account-list').replaceChildren(...accounts.map(accountItem));
  $('no-accounts').hidden = accounts.length > 0;
  for (const a of accounts) if (!pollers.has(a.deviceId)) pollers.set(a.deviceId, startPolling(a, revoked));
  for (const [id, stop] of pollers)
    if (!accounts.some((a) => a.deviceId === id)) { stop(); pollers.delete(id); }
}

function revoked(account) {
  const item = document.querySelector(`li.account[data-device-id="${CSS.escape(account.deviceId)}"] .account-msg`);
  if (item) item.textContent = 'The server no longer knows this browser for this account (revoked?). You can remove it.';
}

// DELETE /device, then forget the key. A 401 means the server already refuses this
// device (revoked elsewhere): forgetting it is then all that is left to do.
async function removeAccount(account, msg, button) {
  button.disabled = true;
  try {
    await deviceCall(account, 'DELETE', 'device');
  } catch (e) {
    if (!(e instanceof HttpError && e.status === 401)) {
      msg.textContent = `Could not remove it: ${e.message}. Try again when the server is reachable.`;
      button.disabled = false;
      return;
    }
  }
  await deleteAccount(account.deviceId);
  await renderAccounts();
}

// --- enrollment: the token arrives in the fragment (#enroll=...) or a pasted link

let pending = null; // {token, doc}

function tokenFromLink(text) {
  const t = text.trim();
  if (/^[A-Za-z0-9_-]{22,128}$/.test(t)) return t;
  let url;
  try { url = new URL(t); } catch { throw new Error('That is not a registration link.'); }
  const m = url.pathname.match(/\/r\/([A-Za-z0-9_-]{22,128})$/);
  if (!m) throw new Error('That is not a registration link.');
  if (url.origin !== location.origin)
    throw new Error(`That link belongs to another server: open it at ${url.origin}.`);
  return m[1];
}

async function beginEnroll(token) {
  pending = null;
  $('enroll').hidden = false;
  $('enroll-go').hidden = false;
  setText('enroll-cancel', 'Cancel');
  $('enroll-details').hidden = true;
  $('enroll-go').disabled = true;
  setText('enroll-msg', 'Reading the registration…');
  try {
    const { body: doc } = await getRegistration(token);
    if (usableServerKeys(doc.server?.jwks).length === 0) throw new Error('the server sent no usable signing key');
    pending = { token, doc };
    setText('enroll-app', doc.application.name);
    setText('enroll-user', doc.displayName ? `${doc.username} (${doc.displayName})` : doc.username);
    setText('enroll-expires', new Date(doc.expiresAt).toLocaleString());
    $('enroll-details').hidden = false;
    $('enroll-go').disabled = false;
    setText('enroll-msg', '');
    $('device-name').focus();
  } catch (e) {
    setText('enroll-msg', `This link cannot be used: ${e.message}.`);
  }
}

async function completeEnroll() {
  const { token, doc } = pending;
  const deviceName = $('device-name').value.trim().slice(0, 64) || 'Web browser';
  $('enroll-go').disabled = true;
  setText('enroll-msg', 'Linking…');
  try {
    const key = await newDeviceKey();
    const proof = await registrationProof(key.privateKey, doc.registrationId);
    const { body } = await bindRegistration(token, { publicKey: key.publicJwk, deviceName, proof });
    await putAccount({
      deviceId: body.deviceId, privateKey: key.privateKey, publicJwk: key.publicJwk,
      serverKeys: usableServerKeys(doc.server.jwks), serverUrl: doc.server.url,
      application: body.application, username: body.username, deviceName,
      enrolledAt: new Date().toISOString(),
    });
    pending = null;
    $('enroll-details').hidden = true;
    $('enroll-go').hidden = true;
    setText('enroll-cancel', 'Close');
    setText('enroll-msg', `Linked: ${body.application.name} · ${body.username}. Keep this page open to approve requests.`);
    await renderAccounts();
  } catch (e) {
    setText('enroll-msg', `Linking failed: ${e.message}.`);
    $('enroll-go').disabled = false;
  }
}

function enrollFromFragment() {
  const m = location.hash.match(/^#enroll=([A-Za-z0-9_-]+)$/);
  // drop the token from the address bar and the history at once
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  if (m) beginEnroll(m[1]);
}

function wire() {
  $('enroll-go').addEventListener('click', completeEnroll);
  $('enroll-cancel').addEventListener('click', () => { pending = null; $('enroll').hidden = true; });
  $('link-go').addEventListener('click', () => {
    try {
      const token = tokenFromLink($('link-input').value);
      $('link-input').value = '';
      setText('link-msg', '');
      beginEnroll(token);
    } catch (e) {
      setText('link-msg', e.message);
    }
  });
  $('device-name').value = `Web browser${navigator.platform ? ` (${navigator.platform})` : ''}`.slice(0, 64);
}

async function main() {
  if (!window.isSecureContext || !crypto.subtle || !window.indexedDB) {
    $('insecure').hidden = false;
    return;
  }
  wire();
  enrollFromFragment();
  await syncClock();
  window.addEventListener('hashchange', enrollFromFragment);
  await renderAccounts();
  document.body.dataset.ready = 'true';
  if ('serviceWorker' in navigator)
    navigator.serviceWorker.register('sw.js').catch((e) => console.info(`pushgate: no offline shell: ${e.message}`));
}

main();
