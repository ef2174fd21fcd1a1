/* Unit tests of server/mail/mailmsg.c: the composed message is what SMTP relays and
 * mail clients expect (CRLF, headers, RFC 2047 subject, quoted-printable), and
 * the registration link survives on a line of its own after decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailmsg.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FROM "pushgate@example.org"
#define TO "alice@example.com"
#define TOKEN "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE" /* 43 base64url chars */

/* The header block (up to, without, the empty line); malloc'd. */
static char *headers_of(const char *msg)
{
    const char *end = strstr(msg, "\r\n\r\n");
    assert_non_null(end);
    return strndup(msg, (size_t)(end - msg) + 2);
}

/* The value of header `name` (first occurrence, unfolded lines only); malloc'd or NULL. */
static char *header(const char *msg, const char *name)
{
    char *h = headers_of(msg), *out = NULL;
    size_t n = strlen(name);
    for (char *line = h; *line; line = strstr(line, "\r\n") + 2) {
        if (strncmp(line, name, n) == 0 && line[n] == ':' && line[n + 1] == ' ') {
            out = strndup(line + n + 2, (size_t)(strstr(line, "\r\n") - line - (long)n - 2));
            break;
        }
    }
    free(h);
    return out;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Quoted-printable decoding (RFC 2045): soft breaks removed, CRLF -> "\n". */
static char *qp_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=' && i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
            i += 2;
        } else if (s[i] == '=') {
            assert_true(i + 2 < n);
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            assert_true(hi >= 0 && lo >= 0);
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
            *o++ = '\n';
            i++;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* The encoded body of the part with this content type, or NULL; malloc'd. */
static char *part_body(const char *msg, const char *ctype)
{
    char *ct = header(msg, "Content-Type"), delim[128];
    char *b = strstr(ct, "boundary=\"");
    assert_non_null(b);
    b += strlen("boundary=\"");
    snprintf(delim, sizeof delim, "\r\n--%.*s", (int)(strchr(b, '"') - b), b);
    free(ct);
    char want[128];
    snprintf(want, sizeof want, "Content-Type: %s; charset=utf-8\r\n", ctype);
    const char *p = strstr(msg, want);
    if (!p)
        return NULL;
    assert_non_null(strstr(p, "Content-Transfer-Encoding: quoted-printable\r\n"));
    const char *start = strstr(p, "\r\n\r\n") + 4;
    const char *end = strstr(start - 2, delim); /* the CRLF before the delimiter is its own */
    assert_non_null(end);
    return strndup(start, (size_t)(end - start));
}

static char *decoded_text(const char *msg)
{
    char *enc = part_body(msg, "text/plain");
    assert_non_null(enc);
    char *dec = qp_decode(enc, strlen(enc));
    free(enc);
    return dec;
}

/* True if `line` is exactly one of the lines of text. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static void assert_crlf_only(const char *msg)
{
    for (const char *p = msg; *p; p++) {
        if (*p == '\r')
            assert_int_equal(p[1], '\n');
        if (*p == '\n')
            assert_true(p > msg && p[-1] == '\r');
    }
}

static void test_headers(void **state)
{
    (void)state;
    char *msg = mailmsg_compose(FROM, TO, "Hello", "Hi there.\n", NULL);
    assert_non_null(msg);
    assert_crlf_only(msg);
    assert_int_equal(strncmp(msg, "From: " FROM "\r\n", strlen("From: " FROM "\r\n")), 0);
    char *to = header(msg, "To"), *subj = header(msg, "Subject"),
         *mime = header(msg, "MIME-Version");
    char *date = header(msg, "Date"), *mid = header(msg, "Message-ID");
    char *ct = header(msg, "Content-Type");
    assert_string_equal(to, TO);
    assert_string_equal(subj, "Hello");
    assert_string_equal(mime, "1.0");
    assert_non_null(date);
    assert_non_null(strstr(date, " +0000"));
    assert_non_null(mid);
    assert_true(mid[0] == '<' && mid[strlen(mid) - 1] == '>');
    assert_non_null(strstr(mid, "@example.org>"));
    assert_non_null(strstr(ct, "multipart/alternative; boundary=\""));
    assert_null(part_body(msg, "text/html"));
    /* the closing delimiter ends the message */
    char *b = strstr(ct, "boundary=\"") + strlen("boundary=\""), close[128];
    snprintf(close, sizeof close, "\r\n--%.*s--\r\n", (int)(strchr(b, '"') - b), b);
    assert_string_equal(msg + strlen(msg) - strlen(close), close);
    free(to), free(subj), free(mime), free(date), free(mid), free(ct), free(msg);
}

static void test_message_ids_differ(void **state)
{
    (void)state;
    char *a = mailmsg_compose(FROM, TO, "x", "y", NULL),
         *b = mailmsg_compose(FROM, TO, "x", "y", NULL);
    char *ida = header(a, "Message-ID"), *idb = header(b, "Message-ID");
    assert_string_not_equal(ida, idb);
    free(ida), free(idb), free(a), free(b);
}

/* A CR or LF in a header value cannot start a header of its own. */
static void test_header_injection(void **state)
{
    (void)state;
    char *msg = mailmsg_compose(FROM, "alice@example.com\r\nBcc: eve@example.net",
                                "Hi\nBcc: eve@example.net", "text", NULL);
    char *h = headers_of(msg);
    assert_null(strstr(h, "\r\nBcc:"));
    char *to = header(msg, "To"), *subj = header(msg, "Subject");
    assert_string_equal(to, "alice@example.comBcc: eve@example.net");
    assert_string_equal(subj, "HiBcc: eve@example.net");
    free(h), free(to), free(subj), free(msg);
}

static void test_subject_rfc2047(void **state)
{
    (void)state;
    const char *subject = "Link your authenticator to Caf\xc3\xa9 Z\xc3\xbcrich";
    char *msg = mailmsg_compose(FROM, TO, subject, "text", NULL);
    char *subj = header(msg, "Subject");
    const char *pre = "=?UTF-8?B?";
    assert_int_equal(strncmp(subj, pre, strlen(pre)), 0);
    size_t n = strlen(subj);
    assert_true(n <= 75); /* RFC 2047: an encoded-word is at most 75 characters */
    assert_string_equal(subj + n - 2, "?=");
    unsigned char dec[256];
    int len =
        EVP_DecodeBlock(dec, (const unsigned char *)subj + strlen(pre), (int)(n - strlen(pre) - 2));
    assert_true(len >= (int)strlen(subject));
    assert_memory_equal(dec, subject, strlen(subject)); /* EVP_DecodeBlock keeps pad zeros */
    free(subj), free(msg);
}

static void test_quoted_printable(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text, "a=b and caf\xc3\xa9\ntrailing space \ntab\there\n%s\nend",
             "0123456789012345678901234567890123456789012345678901234567890123456789"
             "0123456789012345678901234567890123456789");
    char *msg = mailmsg_compose(FROM, TO, "s", text, NULL);
    char *enc = part_body(msg, "text/plain");
    for (char *line = enc; *line;) {
        char *eol = strstr(line, "\r\n");
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        assert_true(n <= 76);
        if (n > 0)
            assert_true(line[n - 1] != ' ' && line[n - 1] != '\t'); /* no trailing blanks */
        for (size_t i = 0; i < n; i++)
            assert_true(line[i] >= 32 && line[i] < 127);
        line = eol ? eol + 2 : line + n;
    }
    assert_non_null(strstr(enc, "a=3Db"));
    assert_non_null(strstr(enc, "caf=C3=A9"));
    char *dec = qp_decode(enc, strlen(enc));
    assert_string_equal(dec, text); /* the CRLF before a delimiter belongs to it */
    free(dec), free(enc), free(msg);
}

static void check_link_line(const char *public_url)
{
    char link[512], text[1024];
    snprintf(link, sizeof link, "%s/r/%s", public_url, TOKEN);
    snprintf(text, sizeof text,
             "Acme Bank asks you to link an authenticator.\n\nOpen this link:\n\n%s\n\nBye.\n",
             link);
    char *msg = mailmsg_compose(FROM, TO, "Link", text, "<p>html</p>");
    char *dec = decoded_text(msg);
    assert_true(has_line(dec, link));
    free(dec), free(msg);
}

static void test_link_on_its_own_line(void **state)
{
    (void)state;
    check_link_line("http://127.0.0.1:8080");
    /* long enough that quoted-printable must break the line softly */
    check_link_line("https://authentication-gateway.departement-informatique.example.org/pushgate");
}

static void test_html_part(void **state)
{
    (void)state;
    char *msg = mailmsg_compose(FROM, TO, "s", "plain", "<p>caf\xc3\xa9 <b>x</b></p>");
    char *text = decoded_text(msg), *html = part_body(msg, "text/html");
    assert_non_null(html);
    char *dec = qp_decode(html, strlen(html));
    assert_string_equal(text, "plain");
    assert_string_equal(dec, "<p>caf\xc3\xa9 <b>x</b></p>");
    /* text/plain comes first: multipart/alternative lists the preferred part last */
    assert_true(strstr(msg, "text/plain") < strstr(msg, "text/html"));
    free(text), free(html), free(dec), free(msg);
}

static void test_html_escape(void **state)
{
    (void)state;
    char *e = mailmsg_html_escape("<a href=\"x\">Tom & Jerry's</a>");
    assert_string_equal(e, "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
    free(e);
    e = mailmsg_html_escape("");
    assert_string_equal(e, "");
    free(e);
}

static void test_address_ok(void **state)
{
    (void)state;
    assert_true(mailmsg_address_ok("alice@example.com"));
    assert_true(mailmsg_address_ok("a+tag@b.c"));
    assert_false(mailmsg_address_ok("alice"));
    assert_false(mailmsg_address_ok("@example.com"));
    assert_false(mailmsg_address_ok("alice@"));
    assert_false(mailmsg_address_ok("a@b@c"));
    assert_false(mailmsg_address_ok("alice @example.com"));
    assert_false(mailmsg_address_ok("alice@example.com\r\nBcc: x@y"));
    assert_false(mailmsg_address_ok("<alice@example.com>"));
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[10] = '@';
    assert_false(mailmsg_address_ok(big));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers),          cmocka_unit_test(test_message_ids_differ),
        cmocka_unit_test(test_header_injection), cmocka_unit_test(test_subject_rfc2047),
        cmocka_unit_test(test_quoted_printable), cmocka_unit_test(test_link_on_its_own_line),
        cmocka_unit_test(test_html_part),        cmocka_unit_test(test_html_escape),
        cmocka_unit_test(test_address_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
