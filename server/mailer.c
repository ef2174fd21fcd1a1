/* Placeholder until the real mailer lands (see mailer.h). */
#include "mailer.h"

#include <stdlib.h>

struct mailer {
    struct server *srv;
};

struct mailer *mailer_new(struct server *srv)
{
    struct mailer *m = calloc(1, sizeof *m);
    m->srv = srv;
    return m;
}

void mailer_free(struct mailer *m)
{
    free(m);
}

void mailer_kick(struct mailer *m)
{
    (void)m;
}
