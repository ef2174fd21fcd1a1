#include "workers.h"

#include "alloc.h"
#include "keys.h"
#include "log.h"
#include "serve.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct worker {
    pid_t pid;    /* 0: not running */
    time_t since; /* started, or (not running) died */
};

struct pool {
    const struct config *cfg; /* the workers' copy: the port resolved */
    struct worker *w;
    int n;
    int reserve_fd; /* port 0: the reserving socket, else -1 */
    sigset_t old_mask;
    pid_t supervisor;
    bool stopping;
    int rc;
};

static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* A bound, not listening, SO_REUSEPORT socket on a free port of the listening
 * host: the port every worker then binds. */
static int reserve_port(const char *host, int *port)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, "0", &hints, &ai) != 0)
        return -1;
    int one = 1, fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        if (fd >= 0)
            close(fd);
        fd = -1;
    } else {
        *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    }
    freeaddrinfo(ai);
    return fd;
}

static void start(struct pool *p, int i)
{
    pid_t pid = fork();
    if (pid == 0) {
        /* a supervisor killed by SIGKILL must not leave its workers serving */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != p->supervisor)
            exit(1);
        if (p->reserve_fd >= 0)
            close(p->reserve_fd);
        sigprocmask(SIG_SETMASK, &p->old_mask, NULL);
        exit(serve_main(p->cfg)); /* exit, not _exit: the sanitizers' checks run */
    }
    if (pid < 0) {
        log_kv(LOG_ERROR, "cannot start a worker", "error", strerror(errno), NULL);
        p->w[i].since = now_s(); /* tried again in a second */
        return;
    }
    char num[16];
    snprintf(num, sizeof num, "%d", i);
    log_kv(LOG_DEBUG, "worker started", "worker", num, NULL);
    p->w[i] = (struct worker){pid, now_s()};
}

static void signal_all(struct pool *p, int sig)
{
    for (int i = 0; i < p->n; i++)
        if (p->w[i].pid > 0)
            kill(p->w[i].pid, sig);
}

static void stop_all(struct pool *p, int rc)
{
    if (!p->stopping)
        signal_all(p, SIGTERM);
    p->stopping = true;
    if (rc)
        p->rc = rc;
}

/* A worker is gone: while serving, started again unless it failed at its start. */
static void reaped(struct pool *p, struct worker *w, int status)
{
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    time_t lived = now_s() - w->since;
    w->pid = 0;
    w->since = now_s();
    if (p->stopping) {
        if (!clean)
            p->rc = 1;
        return;
    }
    char how[32];
    snprintf(how, sizeof how, "%s %d", WIFSIGNALED(status) ? "signal" : "exit",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    if (WIFEXITED(status) && lived < WORKERS_START_GRACE_S) {
        log_kv(LOG_ERROR, "a worker failed at its start; stopping", "status", how, NULL);
        stop_all(p, 1);
    } else {
        log_kv(LOG_WARN, "a worker died; starting another", "status", how, NULL);
    }
}

static int reap(struct pool *p)
{
    int status, alive = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (int i = 0; i < p->n; i++)
            if (p->w[i].pid == pid)
                reaped(p, &p->w[i], status);
    for (int i = 0; i < p->n; i++) {
        if (p->w[i].pid == 0 && !p->stopping && now_s() - p->w[i].since >= 1)
            start(p, i);
        alive += p->w[i].pid > 0 || !p->stopping;
    }
    return alive;
}

/* The signals the supervisor takes itself (blocked, then waited for). */
static void handled(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGCHLD);
}

static void supervise(struct pool *p)
{
    sigset_t set;
    handled(&set);
    const struct timespec tick = {1, 0}; /* restarts are due a second after a death */
    while (reap(p) > 0) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT)
            stop_all(p, 0);
        else if (sig == SIGHUP)
            signal_all(p, SIGHUP);
    }
}

int workers_main(const struct config *cfg)
{
    struct config wc = *cfg; /* shallow: the strings stay the caller's */
    /* made here when missing: workers creating it at once would race */
    unsigned char key[KEYS_MASTER_LEN];
    char err[512];
    int loaded = keys_load_master(cfg->key_file, key, err, sizeof err);
    OPENSSL_cleanse(key, sizeof key);
    if (loaded < 0) {
        log_kv(LOG_ERROR, "cannot load the master key", "error", err, NULL);
        return 1;
    }
    struct pool p = {.cfg = &wc, .n = cfg->workers, .reserve_fd = -1, .supervisor = getpid()};
    if (wc.listen_port == 0 && (p.reserve_fd = reserve_port(wc.listen_host, &wc.listen_port)) < 0) {
        log_kv(LOG_ERROR, "cannot reserve a port for the workers", "error", strerror(errno), NULL);
        return 1;
    }
    sigset_t block;
    handled(&block);
    sigprocmask(SIG_BLOCK, &block, &p.old_mask);
    p.w = xcalloc((size_t)p.n, sizeof *p.w);
    char n[16];
    snprintf(n, sizeof n, "%d", p.n);
    log_kv(LOG_INFO, "starting workers", "workers", n, NULL);
    for (int i = 0; i < p.n; i++)
        start(&p, i);
    supervise(&p);
    free(p.w);
    if (p.reserve_fd >= 0)
        close(p.reserve_fd);
    sigprocmask(SIG_SETMASK, &p.old_mask, NULL);
    return p.rc;
}
