/* sim_prompt: what the device answers to one challenge -- from the command line
 * (--approve, --deny, --not-me, --code) or asked on the terminal (--ask). */
#ifndef PUSHGATE_SIM_PROMPT_H
#define PUSHGATE_SIM_PROMPT_H

#include "sim.h"

#include <jansson.h>

struct sim_choice {
    const char *decision; /* "approve" or "deny" */
    const char *reason;   /* "not_me" or NULL */
    char code[8];         /* the typed code, "" when none is sent */
};

/* Decides for the (verified) challenge payload. A challenge with verification "code" that
 * is approved needs the code: from --code, or asked with --ask. --ask reads stdin
 * (a(pprove) / d(eny) / n(ot me), then the code) and asks again after a wrong entry.
 * 0, or -1 after reporting why (no code to send, end of input) -- then do not answer. */
int sim_prompt_choose(const struct sim_opts *o, const json_t *challenge, struct sim_choice *ch);

/* 0 when s is exactly three digits, else -1. */
int sim_prompt_code_ok(const char *s);

#endif
