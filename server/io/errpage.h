/* errpage: libevent's own error pages, answered as application/problem+json.
 *
 * evhttp (libevent 2.1) refuses some requests before any callback of ours runs, with
 * evhttp_send_error's fixed text/html page; 2.1 has no evhttp_set_errorcb (2.2 has):
 *  - a request line or header line it cannot parse, a Content-Length it cannot read
 *    (400), and a request head over its max_headers_size (also 400);
 *  - a declared body over its max_body_size, a chunked one that grows past it, and a
 *    malformed chunked body (413: libevent reports them alike);
 *  - an Expect other than 100-continue (417).
 * api.md 1: every error is application/problem+json. So each connection's output buffer
 * carries an evbuffer callback that recognises such a page while evhttp writes it (a status
 * line, the headers evhttp_send_page_ sets -- Content-Type: text/html first -- then the
 * "<HTML><HEAD>" body), and replaces it, before a byte of it is sent, with a problem of the
 * right status: 431 request_header_fields_too_large for a head over HTTPCHECK_MAX_HEAD (evhttp
 * says 400), else evhttp's status with our code. Connection: close stays (evhttp closes the
 * connection after such an answer). Nothing else is touched: our own answers never start
 * with that header and body.
 *
 * To tell an oversized head from a malformed one, a callback on the input buffer counts
 * each request's head as it arrives (httpcheck_head_scan): from the connection's first
 * byte, and from the input's start whenever an answer is written (evhttp reads the next
 * request of a connection only then; pipelined bytes wait in the buffer).
 *
 * Works on whatever bufferevent evhttp was given (a socket's, or OpenSSL's): it only adds
 * evbuffer callbacks to bufferevent_get_input/output, which run as data is added, and both
 * write to the network later, from the loop. Single-threaded. */
#ifndef PUSHGATE_ERRPAGE_H
#define PUSHGATE_ERRPAGE_H

struct bufferevent;
struct errpage;

/* Watches bev (an evhttp connection's, before its first request is read). Never NULL. */
struct errpage *errpage_attach(struct bufferevent *bev);
/* An answer on the connection is written: the next request starts at the input's start. */
void errpage_next_request(struct errpage *e);
/* Removes the callbacks (bev must still exist) and frees e. NULL is a no-op. */
void errpage_detach(struct errpage *e);
/* Frees e without touching its bufferevent (already freed by evhttp). NULL is a no-op. */
void errpage_drop(struct errpage *e);

#endif
