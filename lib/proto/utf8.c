/* UTF-8 validation as a deterministic automaton over byte classes, in the
 * style of Bjoern Hoehrmann's decoder but with our own (smaller) tables: each
 * byte maps to one of 12 classes, and a 9-state table says what may follow.
 * The states remember exactly what the next byte must be, so overlongs,
 * surrogates and code points above U+10FFFF are rejected at the first byte
 * that makes them so:
 *
 *   ACCEPT --C2..DF--> NEED1 --80..BF--> ACCEPT
 *   ACCEPT --E1..EC,EE,EF--> NEED2 --80..BF--> NEED1
 *   ACCEPT --E0--> E0 --A0..BF--> NEED1          (no overlong 3-byte forms)
 *   ACCEPT --ED--> ED --80..9F--> NEED1          (no surrogates D800..DFFF)
 *   ACCEPT --F1..F3--> NEED3 --80..BF--> NEED2
 *   ACCEPT --F0--> F0 --90..BF--> NEED2          (no overlong 4-byte forms)
 *   ACCEPT --F4--> F4 --80..8F--> NEED2          (nothing above U+10FFFF)
 *   anything else --> REJECT (sticky)
 *
 * Runs of ASCII are skipped 8 bytes at a time between characters. */
#include "utf8.h"

#include <string.h>

enum { ACCEPT, REJECT, NEED1, NEED2, NEED3, S_E0, S_ED, S_F0, S_F4, N_STATES };

enum {
    C_ASCII,
    C_80_8F,
    C_90_9F,
    C_A0_BF,
    C_BAD,
    C_LEAD2,
    C_E0,
    C_LEAD3,
    C_ED,
    C_F0,
    C_LEAD4,
    C_F4
};

#define N_CLASSES 12

/* Class of every byte (values of the C_* enum). */
static const uint8_t byte_class[256] = {
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 00 */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 20 */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 30 */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 40 */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 50 */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 60 */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 70 */
    1, 1,  1,  1,  1,  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 80 */
    2, 2,  2,  2,  2,  2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 90 */
    3, 3,  3,  3,  3,  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* A0 */
    3, 3,  3,  3,  3,  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* B0 */
    4, 4,  5,  5,  5,  5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* C0 */
    5, 5,  5,  5,  5,  5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* D0 */
    6, 7,  7,  7,  7,  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7, /* E0 */
    9, 10, 10, 10, 11, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* F0 */
};

/* next[state][class]; R = REJECT. */
#define R REJECT
static const uint8_t next_state[N_STATES][N_CLASSES] = {
    /*          ASCII   80-8F  90-9F  A0-BF  bad lead2  E0    lead3  ED    F0    lead4  F4 */
    [ACCEPT] = {ACCEPT, R, R, R, R, NEED1, S_E0, NEED2, S_ED, S_F0, NEED3, S_F4},
    [REJECT] = {R, R, R, R, R, R, R, R, R, R, R, R},
    [NEED1] = {R, ACCEPT, ACCEPT, ACCEPT, R, R, R, R, R, R, R, R},
    [NEED2] = {R, NEED1, NEED1, NEED1, R, R, R, R, R, R, R, R},
    [NEED3] = {R, NEED2, NEED2, NEED2, R, R, R, R, R, R, R, R},
    [S_E0] = {R, R, R, NEED1, R, R, R, R, R, R, R, R},
    [S_ED] = {R, NEED1, NEED1, R, R, R, R, R, R, R, R, R},
    [S_F0] = {R, R, NEED2, NEED2, R, R, R, R, R, R, R, R},
    [S_F4] = {R, NEED2, R, R, R, R, R, R, R, R, R, R},
};
#undef R

void hr_utf8_init(hr_utf8 *u)
{
    u->state = ACCEPT;
}

/* Length of the ASCII run at p[0..n), counted 8 bytes at a time. */
static size_t ascii_prefix(const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & UINT64_C(0x8080808080808080))
            break;
    }
    while (i < n && p[i] < 0x80)
        i++;
    return i;
}

bool hr_utf8_feed(hr_utf8 *u, const uint8_t *p, size_t n)
{
    uint32_t s = u->state;
    size_t i = 0;
    while (i < n && s != REJECT) {
        if (s == ACCEPT && p[i] < 0x80) {
            i += ascii_prefix(p + i, n - i);
            continue;
        }
        s = next_state[s][byte_class[p[i]]];
        i++;
    }
    u->state = s;
    return s != REJECT;
}

bool hr_utf8_is_complete(const hr_utf8 *u)
{
    return u->state == ACCEPT;
}

bool hr_utf8_valid(const uint8_t *p, size_t n)
{
    hr_utf8 u;
    hr_utf8_init(&u);
    return hr_utf8_feed(&u, p, n) && hr_utf8_is_complete(&u);
}
