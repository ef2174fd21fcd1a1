#include "httpdate.h"

#include <string.h>

static void two(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

char *httpdate_format(time_t t, char out[HTTPDATE_LEN + 1])
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct tm tm;
    time_t epoch = 0;
    if (!gmtime_r(&t, &tm)) /* a year beyond int: not a date any clock gives */
        gmtime_r(&epoch, &tm);
    int year = tm.tm_year + 1900;
    year = year < 0 ? 0 : year > 9999 ? 9999 : year;
    memcpy(out, days + 3 * tm.tm_wday, 3);
    memcpy(out + 3, ", ", 2);
    two(out + 5, tm.tm_mday);
    out[7] = ' ';
    memcpy(out + 8, months + 3 * tm.tm_mon, 3);
    out[11] = ' ';
    two(out + 12, year / 100);
    two(out + 14, year % 100);
    out[16] = ' ';
    two(out + 17, tm.tm_hour);
    out[19] = ':';
    two(out + 20, tm.tm_min);
    out[22] = ':';
    two(out + 23, tm.tm_sec);
    memcpy(out + 25, " GMT", 5);
    return out;
}

const char *httpdate_cached(time_t t)
{
    static char text[HTTPDATE_LEN + 1];
    static time_t at = (time_t)-1;
    if (t != at) {
        httpdate_format(t, text);
        at = t;
    }
    return text;
}
