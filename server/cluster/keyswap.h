/* keyswap: a running instance picks up a rotated signing key without a restart.
 *
 * `pushgated key rotate` (signer_rotate) NOTIFYs "k:" in its transaction; every
 * instance's LISTEN connection (notify.c) then calls keyswap_check, which reads
 * the current key through the pool and, when its kid differs from the one this
 * instance signs with, opens it (the master key is in memory) and signs every
 * later challenge with it. A LISTEN reconnect checks too, since the
 * notification may have been missed. The retired key stays in the JWKS for its
 * publish period, so challenges signed before the swap still verify.
 * A failed read or a key that does not open leaves the loaded key in place
 * (logged): signing never stops. */
#ifndef PUSHGATE_KEYSWAP_H
#define PUSHGATE_KEYSWAP_H

struct server;

void keyswap_check(struct server *srv);

#endif
