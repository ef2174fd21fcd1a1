/* auditchain_hex: the MACs the audit chain stores and `pushgated audit verify` prints. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "auditchain.h"

static void test_hex_is_lowercase_two_digits_per_byte(void **state)
{
    (void)state;
    unsigned char mac[AUDITCHAIN_MAC_LEN];
    for (int i = 0; i < AUDITCHAIN_MAC_LEN; i++)
        mac[i] = (unsigned char)(i * 8 + 7); /* 0x07, 0x0f, ... 0xff: every nibble */
    char out[2 * AUDITCHAIN_MAC_LEN + 1], want[2 * AUDITCHAIN_MAC_LEN + 1];
    memset(out, 'x', sizeof out);
    for (int i = 0; i < AUDITCHAIN_MAC_LEN; i++)
        snprintf(want + 2 * i, 3, "%02x", mac[i]);
    auditchain_hex(mac, out);
    assert_string_equal(out, want);
    assert_int_equal(strlen(out), 2 * AUDITCHAIN_MAC_LEN);
    memset(mac, 0xa5, sizeof mac);
    auditchain_hex(mac, out);
    assert_int_equal(strspn(out, "a5"), 2 * AUDITCHAIN_MAC_LEN);
    assert_memory_equal(out, "a5a5", 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_is_lowercase_two_digits_per_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
