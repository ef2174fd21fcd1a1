/* qrsvg: a QR code (libqrencode, error correction M) as a standalone SVG
 * document made of one path, with a 4-module quiet zone. Pure function. */
#ifndef PUSHGATE_QRSVG_H
#define PUSHGATE_QRSVG_H

/* malloc'd "<svg ...>...</svg>", or NULL when the text cannot be encoded. */
char *qrsvg_render(const char *text);

#endif
