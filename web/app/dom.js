// Building the page with text only: every value from the server or a link becomes a
// text node (textContent), never markup, so a message such as "<img onerror=...>" is
// shown as those characters.
export function el(tag, attrs = {}, ...children) {
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

export const $ = (id) => document.getElementById(id);

export function setText(id, text) {
  $(id).textContent = text || '';
}

// A key/value list of an object (context, transaction); nested values as JSON text.
export function dl(obj, cls) {
  if (!obj || typeof obj !== 'object' || Object.keys(obj).length === 0) return null;
  return el(
    'dl',
    { class: cls },
    Object.entries(obj).map(([k, v]) => [
      el('dt', {}, k),
      el('dd', {}, typeof v === 'string' ? v : JSON.stringify(v)),
    ]),
  );
}
