// The device protocol of api.md 4 and 6 with WebCrypto: base64url, ES256 compact JWS
// (WebCrypto's ECDSA signature is already the raw 64-byte r||s that JWS wants), the
// device key, the proofs, and the check of a server-signed challenge.
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });
const ECDSA = { name: 'ECDSA', hash: 'SHA-256' };

export function b64u(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function b64uDecode(text) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('not base64url');
  let s = text.replace(/-/g, '+').replace(/_/g, '/');
  while (s.length % 4) s += '=';
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

const b64uJson = (value) => b64u(enc.encode(JSON.stringify(value)));
// Proofs carry iat, which the server accepts within 60 s of its own clock (api.md 6.1):
// a device whose clock is off would be refused every proof. So the time is the server's,
// as far as its Date headers tell (whole seconds: an offset under 3 s is left alone).
let clockOffset = 0; // ms to add to Date.now()
export function serverDate(httpDate) {
  const t = Date.parse(httpDate || '');
  if (Number.isNaN(t)) return;
  const off = t - Date.now();
  if (Math.abs(off - clockOffset) > 3000) clockOffset = off;
}
export const nowSeconds = () => Math.floor((Date.now() + clockOffset) / 1000);

export function randomId(bytes = 18) {
  return b64u(crypto.getRandomValues(new Uint8Array(bytes)));
}

export async function signJws(privateKey, header, payload) {
  const input = `${b64uJson(header)}.${b64uJson(payload)}`;
  const sig = await crypto.subtle.sign(ECDSA, privateKey, enc.encode(input));
  return `${input}.${b64u(new Uint8Array(sig))}`;
}

// A new device key. The private half is NOT extractable: script (ours, or an injected
// one) can ask the browser to sign with it, never read it.
export async function newDeviceKey() {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
    'verify',
  ]);
  const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
  return { privateKey: pair.privateKey, publicJwk: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y } };
}

// api.md 4: the proof that binds the key to the registration.
export function registrationProof(privateKey, registrationId) {
  return signJws(
    privateKey,
    { alg: 'ES256', typ: 'pushgate-registration+jwt' },
    { registrationId, iat: nowSeconds() },
  );
}

// api.md 6.1: a fresh proof for every /device request (htu: the path, no query).
export function deviceProof(account, method, path) {
  return signJws(
    account.privateKey,
    { alg: 'ES256', typ: 'pushgate-device+jwt', kid: account.deviceId },
    { htm: method, htu: path, iat: nowSeconds(), jti: randomId() },
  );
}

// api.md 6.3's chal: SHA-256 of the exact ASCII bytes of the challenge JWS.
export async function chalOf(jws) {
  return b64u(new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(jws))));
}

// api.md 6.3: the signed answer; it covers, through chal, exactly what was shown.
export async function responseJws(account, challenge, decision, reason, code) {
  const payload = {
    requestId: challenge.payload.requestId,
    nonce: challenge.payload.nonce,
    chal: await chalOf(challenge.jws),
    decision,
    iat: nowSeconds(),
  };
  if (reason) payload.reason = reason;
  if (code) payload.code = code;
  return signJws(
    account.privateKey,
    { alg: 'ES256', typ: 'pushgate-response+jwt', kid: account.deviceId },
    payload,
  );
}

// The server keys of a registration document's JWKS that can sign a challenge.
export function usableServerKeys(jwks) {
  const keys = (jwks && Array.isArray(jwks.keys) ? jwks.keys : []).filter(
    (k) =>
      k && k.kty === 'EC' && k.crv === 'P-256' && typeof k.x === 'string' &&
      typeof k.y === 'string' && (k.alg === undefined || k.alg === 'ES256'),
  );
  return keys.map((k) => ({ kid: k.kid, x: k.x, y: k.y }));
}

function importServerKey(k) {
  return crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: k.x, y: k.y }, {
    name: 'ECDSA',
    namedCurve: 'P-256',
  }, false, ['verify']);
}

function parseJws(jws) {
  const parts = typeof jws === 'string' ? jws.split('.') : [];
  if (parts.length !== 3) throw new Error('not a compact JWS');
  const header = JSON.parse(dec.decode(b64uDecode(parts[0])));
  const payload = JSON.parse(dec.decode(b64uDecode(parts[1])));
  const sig = b64uDecode(parts[2]);
  if (!header || typeof header !== 'object' || !payload || typeof payload !== 'object')
    throw new Error('header or payload is not an object');
  return { header, payload, sig, input: enc.encode(`${parts[0]}.${parts[1]}`) };
}

// Checks a challenge (api.md 6.2) against the keys pinned at enrollment, the account and
// the requestId it was listed under. Returns {jws, payload}; throws with the reason.
export async function verifyChallenge(account, requestId, jws) {
  const { header, payload, sig, input } = parseJws(jws);
  if (header.alg !== 'ES256' || header.typ !== 'pushgate-challenge+jwt')
    throw new Error('not an ES256 challenge');
  if (sig.length !== 64) throw new Error('the signature is not 64 bytes');
  const candidates = account.serverKeys.filter((k) => !header.kid || !k.kid || k.kid === header.kid);
  let ok = false;
  for (const k of candidates) {
    if (await crypto.subtle.verify(ECDSA, await importServerKey(k), sig, input)) ok = true;
    if (ok) break;
  }
  if (!ok) throw new Error('its signature does not verify under the pinned server keys');
  if (payload.deviceId !== account.deviceId) throw new Error('it names another device');
  if (payload.requestId !== requestId) throw new Error('its requestId is not the listed one');
  if (!payload.application || payload.application.id !== account.application.id)
    throw new Error('it names another application');
  if (typeof payload.nonce !== 'string' || !Number.isInteger(payload.exp))
    throw new Error('it has no nonce or expiry');
  return { jws, payload };
}
