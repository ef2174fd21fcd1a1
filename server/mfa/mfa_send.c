/* Email and SMS codes: a fresh code, its stored HMAC, the sealed outbox message and
 * the SMS through the gateway (see mfa.h). The code itself is only ever in op->otp, the
 * sealed message and the SMS text, all cleansed after use. */
#include "alloc.h"
#include "outbox.h"
#include "mfa.h"
#include "mfa_util.h"

#include "protocol/aead.h"
#include "mailmsg.h"
#include "server.h"
#include "sms.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The message with the code, sealed for the outbox (aad "outbox", as the mailer opens it). */
static char *sealed_code_mail(struct mfa_op *op)
{
    struct req *r = op->r;
    char subject[300], text[1024], html[2048];
    char *app = mailmsg_html_escape(r->app_name);
    snprintf(subject, sizeof subject, "Your %s verification code", r->app_name);
    snprintf(text, sizeof text,
             "Your %s verification code is %s\n\nIt expires in 10 minutes and works once.\n"
             "If you did not ask for it, someone may know your password: change it.\n",
             r->app_name, op->otp);
    snprintf(html, sizeof html,
             "<p>Your %s verification code is</p><p style=\"font-size:2em\"><b>%s</b></p>"
             "<p>It expires in 10 minutes and works once. If you did not ask for it, someone "
             "may know your password: change it.</p>",
             app, op->otp);
    free(app);
    char *hex = outbox_seal(r->srv, op->send_to, subject, text, html);
    OPENSSL_cleanse(text, sizeof text);
    OPENSSL_cleanse(html, sizeof html);
    return hex;
}

int mfa_new_code(struct mfa_op *op, const char *purpose, const char *channel, char **mail)
{
    *mail = NULL;
    if (otp_random_digits(op->otp, OTP_DIGITS) < 0 ||
        mfa_code_mac(op->r->srv->master_key, purpose, op->r->app_id, op->r->params[0], op->otp,
                     op->mac) < 0)
        return -1;
    op->has_mac = true;
    if (strcmp(channel, "email") != 0)
        return 0;
    *mail = sealed_code_mail(op);
    return *mail ? 0 : -1;
}

struct sms_ctx {
    struct mfa_op *op;
    void (*done)(struct mfa_op *op, int ok);
};

static void on_sms(void *arg, int ok)
{
    struct sms_ctx *sc = arg;
    struct mfa_op *op = sc->op;
    void (*done)(struct mfa_op *, int) = sc->done;
    free(sc);
    done(op, ok);
}

int mfa_send_sms(struct mfa_op *op, void (*done)(struct mfa_op *op, int ok))
{
    struct sms_ctx *sc = xmalloc(sizeof *sc);
    *sc = (struct sms_ctx){op, done};
    char text[MFA_SMS_TEXT_MAX];
    /* a long application name is shortened, never the code (mfa_util.h) */
    int rc = mfa_sms_text(text, sizeof text, op->r->app_name, op->otp) < 0
                 ? -1
                 : sms_send(op->r->srv, op->send_to, text, on_sms, sc);
    OPENSSL_cleanse(text, sizeof text);
    if (rc < 0)
        free(sc);
    return rc;
}
