#include "sim_prompt.h"

#include "sim_util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int sim_prompt_code_ok(const char *s)
{
    return s && strlen(s) == 3 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
                   isdigit((unsigned char)s[2])
               ? 0
               : -1;
}

/* One line from stdin without its newline and surrounding blanks; -1 at end of input. */
static int read_line(const char *prompt, char *buf, size_t n)
{
    fputs(prompt, stdout);
    fflush(stdout);
    if (!fgets(buf, (int)n, stdin))
        return -1;
    char *s = buf, *e = buf + strlen(buf);
    while (*s && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    memmove(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    return 0;
}

static int ask_decision(struct sim_choice *ch)
{
    char line[64];
    for (;;) {
        if (read_line("approve, deny or not me? [a/d/n] ", line, sizeof line) < 0)
            return -1;
        if (!strcasecmp(line, "a") || !strcasecmp(line, "approve")) {
            ch->decision = "approve";
            return 0;
        }
        if (!strcasecmp(line, "d") || !strcasecmp(line, "deny")) {
            ch->decision = "deny";
            return 0;
        }
        if (!strcasecmp(line, "n") || !strcasecmp(line, "not me") || !strcasecmp(line, "not-me")) {
            ch->decision = "deny";
            ch->reason = "not_me";
            return 0;
        }
        puts("please type a, d or n");
    }
}

static int ask_code(struct sim_choice *ch)
{
    char line[64];
    for (;;) {
        if (read_line("code shown by the application: ", line, sizeof line) < 0)
            return -1;
        if (sim_prompt_code_ok(line) == 0) {
            memcpy(ch->code, line, 4); /* three digits and the NUL */
            return 0;
        }
        puts("the code is three digits");
    }
}

int sim_prompt_choose(const struct sim_opts *o, const json_t *challenge, struct sim_choice *ch)
{
    const char *v = json_string_value(json_object_get(challenge, "verification"));
    int wants_code = v && !strcmp(v, "code");
    memset(ch, 0, sizeof *ch);
    ch->decision = o->decision == SIM_APPROVE ? "approve" : "deny";
    if (o->decision == SIM_NOT_ME)
        ch->reason = "not_me";
    if (o->decision == SIM_ASK && ask_decision(ch) < 0) {
        sim_err("no answer on the terminal (end of input); not answered");
        return -1;
    }
    if (!wants_code || strcmp(ch->decision, "approve") != 0)
        return 0; /* a refusal needs no code */
    if (o->code) {
        memcpy(ch->code, o->code, 4); /* checked: three digits */
        return 0;
    }
    if (o->decision == SIM_ASK && ask_code(ch) == 0)
        return 0;
    sim_err("the challenge asks for the code the application shows: pass --code NNN or use "
            "--ask; not answered");
    return -1;
}
