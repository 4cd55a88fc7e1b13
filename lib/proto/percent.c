/* Hex digits and percent-decoding (percent.h). */
#include "percent.h"

#include "core/err.h"

int hr_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hr_percent_decode(const char *s, size_t n, bool plus_is_space, char *out, size_t cap,
                      size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '+' && plus_is_space) {
            ch = ' ';
        } else if (ch == '%') {
            if (n - i < 3)
                return HR_EINVAL;
            const int hi = hr_hex_digit((unsigned char)s[i + 1]);
            const int lo = hr_hex_digit((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return HR_EINVAL;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (cap == 0 || o >= cap - 1)
            return HR_ETOOBIG;
        out[o++] = ch;
    }
    if (cap == 0)
        return HR_ETOOBIG;
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return 0;
}
