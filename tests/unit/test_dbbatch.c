/* dbbatch: the array literals a batch statement receives, and how its rows are
 * handed back to each item. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dbbatch.h"

#include <stdlib.h>
#include <string.h>

static void array_quotes_every_value_and_keeps_nulls(void **state)
{
    (void)state;
    const char *vals[] = {"a", NULL, "say \"hi\"", "back\\slash", "", "NULL", "{x,y}"};
    char *lit = dbbatch_array(vals, 7);
    assert_string_equal(lit, "{\"a\",NULL,\"say \\\"hi\\\"\",\"back\\\\slash\",\"\",\"NULL\","
                             "\"{x,y}\"}");
    free(lit);
    char *empty = dbbatch_array(NULL, 0);
    assert_string_equal(empty, "{}");
    free(empty);
}

/* A result shaped like a batch's: (outcome, payload, i). */
static PGresult *batch_result(void)
{
    PGresAttDesc cols[3];
    memset(cols, 0, sizeof cols);
    cols[0].name = "outcome";
    cols[1].name = "payload";
    cols[2].name = "i";
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(res);
    assert_int_equal(PQsetResultAttrs(res, 3, cols), 1);
    const char *rows[][3] = {{"ok", "two", "2"},
                             {"ok", "one-a", "1"},
                             {"ok", NULL, "1"},
                             {"rate_limited", "three", "3"}};
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++)
            assert_int_equal(PQsetvalue(res, r, c, (char *)rows[r][c],
                                        rows[r][c] ? (int)strlen(rows[r][c]) : -1),
                             1);
    return res;
}

static void rows_go_to_their_item_in_order(void **state)
{
    (void)state;
    PGresult *res = batch_result();
    PGresult *one = dbbatch_rows(res, 1);
    assert_int_equal(PQresultStatus(one), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(one), 2);
    assert_int_equal(PQnfields(one), 3);
    assert_string_equal(PQgetvalue(one, 0, 1), "one-a");
    assert_true(PQgetisnull(one, 1, 1)); /* NULL stays NULL, not "" */
    assert_string_equal(PQfname(one, 1), "payload");
    PGresult *three = dbbatch_rows(res, 3);
    assert_int_equal(PQntuples(three), 1);
    assert_string_equal(PQgetvalue(three, 0, 0), "rate_limited");
    PGresult *none = dbbatch_rows(res, 4); /* an item without rows gets 0 rows */
    assert_int_equal(PQntuples(none), 0);
    PQclear(one);
    PQclear(three);
    PQclear(none);
    PQclear(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(array_quotes_every_value_and_keeps_nulls),
        cmocka_unit_test(rows_go_to_their_item_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
