// The requests waiting for this person: one long-poll per account (api.md 6.2), each
// challenge verified before it is shown, and the answers (6.3).
import { HttpError, deviceCall } from './api.js';
import { el, $, dl } from './dom.js';
import { nowSeconds, responseJws, verifyChallenge } from './proto.js';

const POLL_WAIT = 25; // seconds the server may hold a poll
// deviceId/requestId -> {account, challenge, node, answered, sending}: two accounts of one
// user are two devices, each with its own challenge of one request
const shown = new Map();
const keyOf = (account, requestId) => `${account.deviceId}/${requestId}`;
const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

// --- reachability: one banner for all accounts
const failing = new Set();
function reachable(deviceId, ok) {
  if (ok) failing.delete(deviceId);
  else failing.add(deviceId);
  const banner = $('offline');
  banner.hidden = failing.size === 0;
}

const TYPES = { authentication: 'Sign-in request', authorization: 'Approval request' };

function timeLeft(entry) {
  const left = entry.challenge.payload.exp - nowSeconds();
  return left > 0 ? `${left} s left` : 'expired';
}

function renderChallenge(entry) {
  const p = entry.challenge.payload;
  const code = p.verification === 'code'
    ? el('input', { class: 'code', id: `code-${p.requestId}`, inputmode: 'numeric', autocomplete: 'off',
      maxlength: 3, pattern: '[0-9]{3}', required: true })
    : null;
  const approve = el('button', { class: 'approve', type: 'button', disabled: !!code }, 'Approve');
  const deny = el('button', { class: 'deny', type: 'button' }, 'Deny');
  const notMe = el('button', { class: 'notme', type: 'button' }, 'Not me');
  code?.addEventListener('input', () => { approve.disabled = !/^[0-9]{3}$/.test(code.value); });
  approve.addEventListener('click', () => answer(entry, 'approve', null, code?.value));
  deny.addEventListener('click', () => answer(entry, 'deny'));
  notMe.addEventListener('click', () => answer(entry, 'deny', 'not_me'));
  entry.code = code;
  entry.buttons = [approve, deny, notMe, code].filter(Boolean);
  entry.left = el('p', { class: 'time-left' }, timeLeft(entry));
  entry.result = el('p', { class: 'result', role: 'status' });
  return el('li', { class: 'challenge', 'data-request-id': p.requestId, 'aria-labelledby': `h-${p.requestId}` },
    el('h3', { id: `h-${p.requestId}` }, el('span', { class: 'app' }, p.application?.name ?? ''),
      ': ', el('span', { class: 'kind' }, TYPES[p.type] ?? 'Request')),
    el('p', {}, 'Account: ', el('strong', { class: 'user' }, p.username ?? '')),
    p.message ? el('p', { class: 'message' }, p.message) : null,
    p.context ? [el('h4', {}, 'Where it comes from'), dl(p.context, 'context')] : null,
    p.transaction ? [el('h4', {}, 'Transaction'), dl(p.transaction, 'transaction')] : null,
    entry.left,
    code ? el('p', {}, el('label', { for: code.id }, 'Code shown by the application (3 digits) '), code) : null,
    el('div', { class: 'buttons' }, approve, deny, notMe),
    entry.result);
}

function refreshEmpty() {
  $('no-challenges').hidden = shown.size > 0;
  // a tab in the background shows in its title that something waits
  const waiting = [...shown.values()].filter((e) => !e.answered).length;
  document.title = waiting ? `(${waiting}) pushgate authenticator` : 'pushgate authenticator';
}

function drop(key) {
  shown.get(key)?.node.remove();
  shown.delete(key);
  refreshEmpty();
}

function finish(entry, text, cls) {
  entry.answered = true;
  refreshEmpty();
  for (const b of entry.buttons) b.disabled = true;
  entry.result.textContent = text;
  entry.result.classList.add(cls);
  setTimeout(() => drop(keyOf(entry.account, entry.challenge.payload.requestId)), 8000);
}

const OUTCOME = { already_decided: 'Already decided elsewhere', expired: 'This request expired' };

async function answer(entry, decision, reason, code) {
  if (entry.answered || entry.sending) return;
  entry.sending = true; // a poll that no longer lists it (just decided) must not drop it
  for (const b of entry.buttons) b.disabled = true;
  const id = entry.challenge.payload.requestId;
  try {
    const response = await responseJws(entry.account, entry.challenge, decision, reason, code);
    const { body } = await deviceCall(entry.account, 'POST', `device/challenges/${encodeURIComponent(id)}`,
      null, { response });
    const done = body.status === 'accepted' ? 'Approved' : reason ? 'Denied and reported' : 'Denied';
    finish(entry, done, body.status);
  } catch (e) {
    if (e instanceof HttpError && OUTCOME[e.code]) return finish(entry, OUTCOME[e.code], 'gone');
    entry.result.textContent = `Could not send the answer (${e.message}); try again.`;
    for (const b of entry.buttons) b.disabled = false;
    if (entry.code) entry.buttons[0].disabled = !/^[0-9]{3}$/.test(entry.code.value);
  } finally {
    entry.sending = false;
  }
}

// One poll's list: verify and show the new ones; forget unanswered ones no longer listed
// (decided on another device, cancelled, or withdrawn).
async function ingest(account, list) {
  const listed = new Set();
  for (const item of list) {
    const key = keyOf(account, item.requestId);
    listed.add(key);
    if (shown.has(key)) continue;
    let challenge;
    try {
      challenge = await verifyChallenge(account, item.requestId, item.challenge);
    } catch (e) {
      // never shown, never answered: an unverifiable challenge may say anything
      console.warn(`pushgate: ignored a challenge for ${account.username}: ${e.message}`);
      $('rejected').hidden = false;
      continue;
    }
    const entry = { account, challenge, answered: false };
    entry.node = renderChallenge(entry);
    shown.set(key, entry);
    $('challenge-list').append(entry.node);
  }
  for (const [key, entry] of shown)
    if (entry.account.deviceId === account.deviceId && !entry.answered && !entry.sending && !listed.has(key))
      drop(key);
  refreshEmpty();
}

// Polls for one account until stopped. A pending challenge is returned at once by every
// poll, so while one is listed the next poll waits a little instead of spinning.
export function startPolling(account, onRevoked) {
  const ctl = new AbortController();
  (async () => {
    let backoff = 1000;
    while (!ctl.signal.aborted) {
      try {
        const { body } = await deviceCall(account, 'GET', 'device/challenges', `wait=${POLL_WAIT}`, null, ctl.signal);
        reachable(account.deviceId, true);
        backoff = 1000;
        await ingest(account, body.challenges || []);
        if ((body.challenges || []).length) await sleep(3000, ctl.signal);
      } catch (e) {
        if (ctl.signal.aborted) break;
        if (e instanceof HttpError && e.status === 401) {
          reachable(account.deviceId, true);
          onRevoked(account);
          await sleep(30000, ctl.signal);
          continue;
        }
        reachable(account.deviceId, false);
        await sleep(backoff, ctl.signal);
        backoff = Math.min(backoff * 2, 30000);
      }
    }
  })();
  return () => {
    ctl.abort();
    reachable(account.deviceId, true);
    for (const [id, entry] of shown) if (entry.account.deviceId === account.deviceId) drop(id);
  };
}

// the clocks on the shown challenges; an expired one cannot be answered
setInterval(() => {
  for (const entry of shown.values()) {
    if (entry.answered) continue;
    entry.left.textContent = timeLeft(entry);
    if (entry.challenge.payload.exp <= nowSeconds()) finish(entry, 'This request expired', 'gone');
  }
}, 1000);
