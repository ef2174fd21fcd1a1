/* sim: the pushgate-sim commands and their options (docs/simulator.md).
 *
 * main.c parses the command line into struct sim_opts and calls one sim_cmd_* function;
 * each returns the process exit status (sim_util.h: SIM_OK, SIM_FAIL, SIM_USAGE) after
 * reporting any error on stderr. */
#ifndef PUSHGATE_SIM_H
#define PUSHGATE_SIM_H

#define SIM_DEFAULT_STATE "pushgate-sim.json"
#define SIM_LOAD_STATE_NAME "pushgate-sim-load.json"

enum sim_decision { SIM_NONE, SIM_APPROVE, SIM_DENY, SIM_NOT_ME, SIM_ASK };

struct sim_opts {
    const char *link;  /* enroll LINK */
    const char *name;  /* --name: device name */
    const char *state; /* --state FILE */
    const char *mail_dir, *email;
    long mail_wait; /* --mail-wait SEC: how long to wait for the mail to appear */
    int force;      /* --force: replace an existing state file */
    enum sim_decision decision;
    const char *code; /* --code NNN */
    int once;
    long delay; /* --delay SEC */
    long wait;  /* --wait N for the long-poll */
    /* load */
    long devices, duration, concurrency;
    int enroll;
    const char *server, *app_id, *app_secret, *prefix, *state_dir;
    const char *cacert; /* --cacert FILE, else $PUSHGATE_SIM_CACERT: CAs for https:// */
};

int sim_cmd_enroll(const struct sim_opts *o);
int sim_cmd_run(const struct sim_opts *o);
int sim_cmd_status(const struct sim_opts *o);
int sim_cmd_revoke(const struct sim_opts *o);
int sim_cmd_load(const struct sim_opts *o);

/* load --enroll: registers and enrolls the missing devices of the load state file. */
int sim_load_enroll(const struct sim_opts *o, const char *state_path);

#endif
