/* appsecret: an application's secret (x-application-secret) and the digest
 * that is stored for it. The command line makes them (cli_app.c); the caller
 * layer compares a presented secret by its digest (caller.c). */
#ifndef PUSHGATE_APPSECRET_H
#define PUSHGATE_APPSECRET_H

/* Generates a new secret (base64url of 32 random bytes, NUL-terminated) into
 * out and its digest into hash. -1 when the random source fails. */
int appsecret_new(char out[64], char hash[65]);

/* The stored digest of a secret: lowercase hex SHA-256 (64 chars + NUL). */
void appsecret_digest(const char *secret, char hash[65]);

#endif
