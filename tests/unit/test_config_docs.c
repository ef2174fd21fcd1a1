/* config_docs: docs/operations.md's variable table against config_vars[].
 *
 * The table in config.c is the source of truth; this fails when a variable is
 * in one and not the other, when a documented default differs, or when an
 * integer's documented range (as "min-max" in its meaning) is missing.
 * OPERATIONS_MD (the file's path) comes from tests/unit/CMakeLists.txt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 64

struct doc_row {
    char name[64];
    char def[96];
    char meaning[1024];
};

/* Copies the cell [from, to) without backticks and surrounding blanks. */
static void cell(const char *from, const char *to, char *out, size_t outlen)
{
    size_t n = 0;
    while (from < to && *from == ' ')
        from++;
    while (to > from && to[-1] == ' ')
        to--;
    for (; from < to && n + 1 < outlen; from++)
        if (*from != '`')
            out[n++] = *from;
    out[n] = '\0';
}

/* "| `NAME` | default | meaning |" */
static int parse_row(const char *line, struct doc_row *r)
{
    const char *a = strchr(line, '|'), *b = a ? strchr(a + 1, '|') : NULL;
    const char *c = b ? strchr(b + 1, '|') : NULL, *end = strrchr(line, '|');
    if (!c || end <= c)
        return -1;
    cell(a + 1, b, r->name, sizeof r->name);
    cell(b + 1, c, r->def, sizeof r->def);
    cell(c + 1, end, r->meaning, sizeof r->meaning);
    return 0;
}

/* The rows of the table under "## Configuration" that name a PUSHGATE_ variable. */
static size_t read_doc_rows(struct doc_row *rows, size_t max)
{
    FILE *f = fopen(OPERATIONS_MD, "r");
    if (!f)
        fail_msg("cannot open %s", OPERATIONS_MD);
    char line[2048];
    size_t n = 0;
    int in_section = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "## ", 3))
            in_section = !strncmp(line, "## Configuration", 16);
        else if (in_section && !strncmp(line, "| `PUSHGATE_", 12)) {
            assert_true(n < max);
            if (parse_row(line, &rows[n]) < 0)
                fail_msg("%s: malformed row: %s", OPERATIONS_MD, line);
            n++;
        }
    }
    fclose(f);
    return n;
}

static const struct config_var *find_var(const char *name)
{
    for (size_t i = 0; i < config_nvars; i++)
        if (!strcmp(config_vars[i].name, name))
            return &config_vars[i];
    return NULL;
}

static const struct doc_row *find_row(const struct doc_row *rows, size_t n, const char *name)
{
    const struct doc_row *found = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].name, name))
            continue;
        if (found)
            fail_msg("%s is documented twice in %s", name, OPERATIONS_MD);
        found = &rows[i];
    }
    return found;
}

static void every_documented_variable_exists(void **state)
{
    (void)state;
    struct doc_row rows[MAX_ROWS];
    size_t n = read_doc_rows(rows, MAX_ROWS);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++)
        if (!find_var(rows[i].name))
            fail_msg("%s is in %s but not in config_vars[] (server/base/config.c)", rows[i].name,
                     OPERATIONS_MD);
}

static void every_variable_documented(void **state)
{
    (void)state;
    struct doc_row rows[MAX_ROWS];
    size_t n = read_doc_rows(rows, MAX_ROWS);
    char range[32];
    for (size_t i = 0; i < config_nvars; i++) {
        const struct config_var *v = &config_vars[i];
        const struct doc_row *r = find_row(rows, n, v->name);
        if (!r)
            fail_msg("%s is in config_vars[] but not in %s", v->name, OPERATIONS_MD);
        if (strcmp(r->def, config_var_default(v)))
            fail_msg("%s: %s says default \"%s\", config_vars[] \"%s\"", v->name, OPERATIONS_MD,
                     r->def, config_var_default(v));
        snprintf(range, sizeof range, "%d-%d", v->min, v->max);
        if (v->type == CONFIG_INT && !strstr(r->meaning, range))
            fail_msg("%s: %s does not give its range %s", v->name, OPERATIONS_MD, range);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_documented_variable_exists),
        cmocka_unit_test(every_variable_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
