/* tls: native HTTPS (PUSHGATE_TLS_CERT / PUSHGATE_TLS_KEY, api.md 9 and 10, docs/operations.md).
 *
 * One struct tls holds the server's current OpenSSL context: TLS 1.2 and 1.3 only, ECDHE
 * with AEAD ciphers for 1.2 (1.3's suites are all AEAD), ALPN http/1.1, session tickets.
 * Each accepted connection gets an SSL object of the context current at that moment
 * (tls_bufferevent, installed through connguard's bufferevent hook). A reload (SIGHUP)
 * builds a NEW context from the same two files on a worker thread (io/offload.h: file
 * reads never stall the loop) and, only when the certificate chain and key load and
 * match, swaps it in for new connections; open connections keep the old one through
 * their SSL's reference (OpenSSL frees it with the last one). On any failure the old
 * context stays and the reason is logged: the file name and OpenSSL's reason, never key
 * material. An encrypted key is refused (no passphrase prompt can block the server).
 *
 * Single-threaded apart from the reload's loading step, which touches only its job. */
#ifndef PUSHGATE_TLS_H
#define PUSHGATE_TLS_H

#include <stddef.h>

struct bufferevent;
struct event_base;
struct tls;

/* Loads cert_file (PEM, the leaf first, then its intermediates) and key_file (PEM) into
 * a new context and logs the certificate (subject, expiry, SHA-256 fingerprint).
 * Blocking: for the start, before the loop runs. NULL with the reason in err. */
struct tls *tls_new(const char *cert_file, const char *key_file, char *err, size_t errlen);

/* evhttp's bufferevent for one accepted socket (the descriptor is set later by evhttp):
 * the server side of a handshake with the current context. arg is the struct tls.
 * NULL when OpenSSL cannot make the connection's SSL object (out of memory). */
struct bufferevent *tls_bufferevent(struct event_base *base, void *arg);

/* Starts a reload (SIGHUP) from the files tls_new was given; the outcome is logged
 * ("tls: certificate reloaded" or, warn, "tls: reload failed; keeping the current
 * certificate"). A reload asked for while one runs is done once that one ends. */
void tls_reload(struct tls *t, struct event_base *base);

/* After the loop has ended. A reload still loading on its worker is left to finish
 * (its result is dropped with the process). NULL is a no-op. */
void tls_free(struct tls *t);

#endif
