/* pushgate-sim: a simulated authenticator device for pushgate (docs/simulator.md). */
#include "sim.h"
#include "sim_http.h"
#include "sim_util.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char usage[] =
    "usage:\n"
    "  pushgate-sim enroll LINK [--name NAME] [--state FILE] [--force]\n"
    "  pushgate-sim enroll --mail-dir DIR --email ADDRESS [--mail-wait SEC] [--name NAME]\n"
    "                      [--state FILE] [--force]\n"
    "  pushgate-sim run [--state FILE] (--approve | --deny | --not-me | --ask) [--code NNN]\n"
    "                   [--once] [--delay SEC] [--wait N]\n"
    "  pushgate-sim status [--state FILE]\n"
    "  pushgate-sim revoke [--state FILE]\n"
    "  pushgate-sim load --state-dir DIR --devices N [--duration SEC] [--wait N]\n"
    "  pushgate-sim load --enroll --server URL --app-id ID --app-secret SECRET\n"
    "                    --mail-dir DIR --devices N --prefix NAME --state-dir DIR\n"
    "Every command takes --cacert FILE (or $PUSHGATE_SIM_CACERT): the CA certificates an\n"
    "https:// server is checked against (default: the system's).\n"
    "The state file defaults to ./" SIM_DEFAULT_STATE ". See docs/simulator.md.\n";

enum { C_ENROLL = 1, C_RUN = 2, C_STATUS = 4, C_REVOKE = 8, C_LOAD = 16 };

/* Every long option, and the commands that accept it. */
static const struct {
    struct option opt;
    int cmds;
} table[] = {
    {{"name", required_argument, 0, 'n'}, C_ENROLL},
    {{"state", required_argument, 0, 's'}, C_ENROLL | C_RUN | C_STATUS | C_REVOKE},
    {{"mail-dir", required_argument, 0, 'm'}, C_ENROLL | C_LOAD},
    {{"email", required_argument, 0, 'e'}, C_ENROLL},
    {{"mail-wait", required_argument, 0, 'W'}, C_ENROLL | C_LOAD},
    {{"force", no_argument, 0, 'f'}, C_ENROLL},
    {{"approve", no_argument, 0, 'A'}, C_RUN},
    {{"deny", no_argument, 0, 'D'}, C_RUN},
    {{"not-me", no_argument, 0, 'N'}, C_RUN},
    {{"ask", no_argument, 0, 'K'}, C_RUN},
    {{"code", required_argument, 0, 'c'}, C_RUN},
    {{"once", no_argument, 0, 'o'}, C_RUN},
    {{"delay", required_argument, 0, 'd'}, C_RUN},
    {{"wait", required_argument, 0, 'w'}, C_RUN | C_LOAD},
    {{"devices", required_argument, 0, 'v'}, C_LOAD},
    {{"duration", required_argument, 0, 'u'}, C_LOAD},
    {{"concurrency", required_argument, 0, 'C'}, C_LOAD},
    {{"enroll", no_argument, 0, 'E'}, C_LOAD},
    {{"server", required_argument, 0, 'S'}, C_LOAD},
    {{"app-id", required_argument, 0, 'i'}, C_LOAD},
    {{"app-secret", required_argument, 0, 'a'}, C_LOAD},
    {{"prefix", required_argument, 0, 'p'}, C_LOAD},
    {{"state-dir", required_argument, 0, 'T'}, C_LOAD},
    {{"cacert", required_argument, 0, 'R'}, C_ENROLL | C_RUN | C_STATUS | C_REVOKE | C_LOAD},
};
#define NOPTS (sizeof table / sizeof *table)

static int set_decision(struct sim_opts *o, enum sim_decision d)
{
    if (o->decision != SIM_NONE && o->decision != d) {
        sim_err("choose one of --approve, --deny, --not-me, --ask");
        return -1;
    }
    o->decision = d;
    return 0;
}

static int number(const char *opt, const char *arg, long min, long max, long *out)
{
    if (sim_parse_long(arg, min, max, out) == 0)
        return 0;
    sim_err("--%s wants an integer from %ld to %ld, not '%s'", opt, min, max, arg);
    return -1;
}

/* Stores one parsed option; -1 after reporting a bad value. */
static int apply(struct sim_opts *o, int c, const char *name, const char *arg)
{
    switch (c) {
    case 'n':
        o->name = arg;
        return 0;
    case 's':
        o->state = arg;
        return 0;
    case 'm':
        o->mail_dir = arg;
        return 0;
    case 'e':
        o->email = arg;
        return 0;
    case 'W':
        return number(name, arg, 0, 3600, &o->mail_wait);
    case 'f':
        o->force = 1;
        return 0;
    case 'A':
        return set_decision(o, SIM_APPROVE);
    case 'D':
        return set_decision(o, SIM_DENY);
    case 'N':
        return set_decision(o, SIM_NOT_ME);
    case 'K':
        return set_decision(o, SIM_ASK);
    case 'c':
        o->code = arg;
        return 0;
    case 'o':
        o->once = 1;
        return 0;
    case 'd':
        return number(name, arg, 0, 3600, &o->delay);
    case 'w':
        return number(name, arg, 0, 60, &o->wait);
    case 'v':
        return number(name, arg, 1, 100000, &o->devices);
    case 'u':
        return number(name, arg, 1, 86400 * 7, &o->duration);
    case 'C':
        return number(name, arg, 1, 1000, &o->concurrency);
    case 'E':
        o->enroll = 1;
        return 0;
    case 'S':
        o->server = arg;
        return 0;
    case 'i':
        o->app_id = arg;
        return 0;
    case 'a':
        o->app_secret = arg;
        return 0;
    case 'p':
        o->prefix = arg;
        return 0;
    case 'T':
        o->state_dir = arg;
        return 0;
    case 'R':
        o->cacert = arg;
        return 0;
    default:
        return -1;
    }
}

static int parse(int argc, char **argv, int cmd, struct sim_opts *o)
{
    struct option longopts[NOPTS + 1];
    for (size_t i = 0; i < NOPTS; i++)
        longopts[i] = table[i].opt;
    memset(&longopts[NOPTS], 0, sizeof longopts[NOPTS]);
    int c, idx;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
        if (c == '?' || c == ':') {
            sim_err("unknown option or missing value: %s", argv[optind - 1]);
            return -1;
        }
        if (!(table[idx].cmds & cmd)) {
            sim_err("--%s does not apply to %s", table[idx].opt.name, argv[0]);
            return -1;
        }
        if (apply(o, c, table[idx].opt.name, optarg) < 0)
            return -1;
    }
    if (cmd == C_ENROLL && optind < argc)
        o->link = argv[optind++];
    if (optind < argc) {
        sim_err("unexpected argument: %s", argv[optind]);
        return -1;
    }
    return 0;
}

/* --cacert, else $PUSHGATE_SIM_CACERT: loaded once, for every https:// connection. */
static int with_cacert(struct sim_opts *o)
{
    char err[300];
    if (!o->cacert && getenv("PUSHGATE_SIM_CACERT") && *getenv("PUSHGATE_SIM_CACERT"))
        o->cacert = getenv("PUSHGATE_SIM_CACERT");
    if (sim_http_set_cacert(o->cacert, err, sizeof err) == 0)
        return 0;
    sim_err("--cacert: %s", err);
    return -1;
}

/* The load mode keeps one socket per device: take every file descriptor we may. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int bit;
        int (*fn)(const struct sim_opts *);
    } cmds[] = {{"enroll", C_ENROLL, sim_cmd_enroll},
                {"run", C_RUN, sim_cmd_run},
                {"status", C_STATUS, sim_cmd_status},
                {"revoke", C_REVOKE, sim_cmd_revoke},
                {"load", C_LOAD, sim_cmd_load}};
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? SIM_USAGE : SIM_OK;
    }
    raise_nofile();
    setvbuf(stdout, NULL, _IOLBF, 0); /* tests and scripts read it through pipes, line by line */
    signal(SIGPIPE, SIG_IGN); /* a server that hangs up is an error to report, not a death */
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        if (strcmp(argv[1], cmds[i].name) != 0)
            continue;
        struct sim_opts o = {.state = SIM_DEFAULT_STATE, .mail_wait = 10, .wait = 30};
        if (parse(argc - 1, argv + 1, cmds[i].bit, &o) < 0) {
            fputs(usage, stderr);
            return SIM_USAGE;
        }
        return with_cacert(&o) < 0 ? SIM_FAIL : cmds[i].fn(&o);
    }
    sim_err("unknown command '%s'", argv[1]);
    fputs(usage, stderr);
    return SIM_USAGE;
}
