/* otp: one-time codes. HOTP (RFC 4226) and TOTP (RFC 6238) with HMAC-SHA-1, random
 * numeric codes for email/SMS and number matching, backup codes and their slow hashes,
 * and the masking of delivery destinations shown back to applications.
 *
 * Nothing here touches state: replay protection ("each time step at most once"), expiry
 * and attempt counting belong to the caller's atomic SQL statements. */
#ifndef PUSHGATE_OTP_H
#define PUSHGATE_OTP_H

#include <stddef.h>
#include <stdint.h>

#define OTP_TOTP_STEP 30       /* seconds, RFC 6238 default and the API's */
#define OTP_DIGITS 6           /* API codes */
#define OTP_BACKUP_CODE_LEN 11 /* "xxxxx-xxxxx" without NUL */
#define OTP_BACKUP_NORM_LEN 10 /* normalized form: 10 symbols, no hyphen */
#define OTP_BACKUP_ALPHABET "0123456789abcdefghjkmnpqrstvwxyz"
#define OTP_BACKUP_SALT_LEN 16
#define OTP_BACKUP_HASH_LEN 32
/* scrypt cost for backup codes: N=4096, r=8, p=1 (4 MiB, ~10 ms on the 2-core test
 * machine; N=16384 costs ~37 ms). A backup code carries 50 bits of entropy, so even
 * this cost puts an offline search of one stolen hash at ~10^5 core-years, while ten
 * hashes per MFA enable stay affordable for a 50-way parallel test. */
#define OTP_SCRYPT_N 4096
#define OTP_SCRYPT_R 8
#define OTP_SCRYPT_P 1

/* HOTP value for counter: digits must be 6..8; out needs digits + 1 bytes and receives
 * the zero-padded decimal code. Returns 0, or -1 on bad arguments or HMAC failure
 * (out is then ""). key may be any length (RFC 4226 recommends >= 160 bits). */
int otp_hotp(const unsigned char *key, size_t keylen, uint64_t counter, int digits, char *out);

/* TOTP at unix_time with T0 = 0: HOTP(key, floor(unix_time / step)). unix_time must be
 * >= 0 and step > 0. For the API: step OTP_TOTP_STEP, digits OTP_DIGITS. The caller that
 * accepts step +-1 compares each candidate with token_ct_equal and records the step. */
int otp_totp_at(const unsigned char *key, size_t keylen, int64_t unix_time, int step, int digits,
                char *out);

/* Fills out with `digits` uniformly random decimal digits and a NUL (out needs digits + 1
 * bytes): rejection sampling over RAND_bytes bytes < 250, so no digit is favoured.
 * digits must be 1..64. Returns 0, or -1 (out "") on bad arguments or RAND failure. */
int otp_random_digits(char *out, int digits);

/* A new backup code "xxxxx-xxxxx" (11 chars + NUL) over OTP_BACKUP_ALPHABET: 32 symbols
 * (Crockford's base32 set in lowercase: no i, l, o, u), 10 symbols = 50 bits. Look-alikes
 * cannot be mistyped into another valid code: i/l and o are not in the alphabet and
 * otp_backup_code_normalize maps them to 1 and 0. Returns 0, or -1 on RAND failure. */
int otp_backup_code_new(char out[12]);

/* Normalizes user input into the 10-symbol form that is hashed: ASCII letters are
 * lowercased, spaces are removed anywhere, at most one '-' is removed, 'i'/'l' -> '1' and
 * 'o' -> '0'; the result must be exactly 10 symbols of OTP_BACKUP_ALPHABET.
 * Returns 0 with out = 10 chars + NUL, or -1 (out "") when the input is not a code. */
int otp_backup_code_normalize(const char *in, char out[11]);

/* scrypt(normalized, salt, N=OTP_SCRYPT_N, r, p) -> 32 bytes via OpenSSL EVP_KDF "SCRYPT".
 * Compare stored and computed hashes with token_ct_equal. One salt per generated batch
 * lets a verification hash the input once and compare it with every unused code of the
 * user. Returns 0, or -1 on failure. CPU-heavy (~10 ms): keep it off the event loop
 * when that matters. */
int otp_backup_hash(const char *normalized, const unsigned char salt[16], unsigned char out[32]);

/* Masks an email for display: "alice@example.com" -> "a***e@example.com".
 * The local part keeps its first and last character when it has >= 3 characters, only
 * its first when it has 2 ("ab@x" -> "a***@x"), and nothing when it has 1 ("a@x" ->
 * "***@x"); a non-ASCII first/last byte is never shown (it could be half a UTF-8
 * sequence), it is masked instead. The domain is kept as is. Splits at the LAST '@'.
 * Returns a malloc'd string (caller frees), or NULL when there is no '@' with characters
 * on both sides, or on OOM. */
char *otp_mask_email(const char *email);

/* Masks an E.164 number: '+', the first digit, always exactly 7 '*' (the mask does not
 * reveal the number's length), the last 4 digits: "+15551234567" -> "+1*******4567" (the
 * API's example), "+4930123456" -> "+4*******3456". Returns a malloc'd string, or NULL when the
 * input is not E.164 (see otp_is_e164) or on OOM. */
char *otp_mask_phone(const char *e164);

/* 1 when s matches ^\+[1-9][0-9]{7,14}$ (8 to 15 digits in all), else 0. */
int otp_is_e164(const char *s);

#endif
