// The accounts, in IndexedDB: one record per device, keyed by deviceId. The private key
// is stored as the CryptoKey object itself (structured clone), which keeps it
// non-extractable: the database holds it, no script can read its bytes.
const DB = 'pushgate-authenticator';
const STORE = 'accounts';

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'deviceId' });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export const listAccounts = () => run('readonly', (s) => s.getAll());
export const putAccount = (account) => run('readwrite', (s) => s.put(account));
export const deleteAccount = (deviceId) => run('readwrite', (s) => s.delete(deviceId));
