#include "qrsvg.h"

#include "alloc.h"

#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUIET 4
#define SCALE 8 /* pixels per module in the default rendering size */

char *qrsvg_render(const char *text)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!qr)
        return NULL;
    int w = qr->width, dim = w + 2 * QUIET;
    /* worst case: every module a "M x y h1v1h-1z" of ~24 bytes */
    size_t cap = (size_t)w * (size_t)w * 24 + 512;
    char *out = xmalloc(cap);
    size_t len =
        (size_t)snprintf(out, cap,
                         "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                         "height=\"%d\" viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\">"
                         "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
                         dim * SCALE, dim * SCALE, dim, dim, dim, dim);
    for (int y = 0; y < w; y++)
        for (int x = 0; x < w; x++)
            if (qr->data[y * w + x] & 1) /* bit 0: dark module */
                len +=
                    (size_t)snprintf(out + len, cap - len, "M%d %dh1v1h-1z", x + QUIET, y + QUIET);
    snprintf(out + len, cap - len, "\"/></svg>");
    QRcode_free(qr);
    return out;
}
