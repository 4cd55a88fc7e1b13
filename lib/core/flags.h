/* hr_flags: the table-driven long-flag parser shared by every Herald program.
 *
 * A program describes its flags in a const hr_flag_spec table. Values come
 * from, in increasing precedence: the table's default, the environment
 * (HERALD_ + the name upper-cased with '_' for '-': --api-key <->
 * HERALD_API_KEY), the command line (--name=value or --name value; a bool is
 * --name alone or --name=true|false). --help and --version are built in.
 *
 * The parser is pure over argv/envp arrays: it never prints and never exits.
 * On a bad flag it returns HR_EINVAL and writes one line such as
 *   herald-notifier: --history: expected a number, got 'x'
 * into the caller's err buffer; the program prints it and exits with code 2. */
#ifndef HR_FLAGS_H
#define HR_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum hr_flag_kind {
    HR_FLAG_STRING,     /* any text */
    HR_FLAG_INT,        /* decimal integer within [min, max] */
    HR_FLAG_SIZE,       /* byte count: digits with optional k/K, m/M, g/G (x1024) suffix */
    HR_FLAG_BOOL,       /* --x, --x=true|false|1|0|yes|no|on|off */
    HR_FLAG_LIST,       /* one comma-separated value; the last occurrence wins */
    HR_FLAG_REPEATABLE, /* may be given many times (each may hold a comma list) */
} hr_flag_kind;

typedef struct hr_flag_spec {
    const char *name; /* without the leading "--" */
    hr_flag_kind kind;
    const char *def;     /* default as text, or NULL for none */
    const char *metavar; /* shown in --help ("ADDR:PORT"), or NULL */
    const char *help;    /* one line */
    int64_t min, max;    /* INT and SIZE: inclusive range; both 0 means no limit */
} hr_flag_spec;

/* One parsed value. str is the last text given (or the default), num the
 * parsed number (INT, SIZE, BOOL as 0/1), items the list entries (LIST and
 * REPEATABLE; empty entries are dropped). All memory belongs to the hr_flags. */
typedef struct hr_flag_value {
    const char *str;
    int64_t num;
    char **items;
    size_t n_items;
    bool is_set; /* given on the command line or in the environment */
} hr_flag_value;

typedef struct hr_flags {
    const char *prog;
    const hr_flag_spec *spec;
    size_t n;
    hr_flag_value *vals; /* n entries, parallel to spec */
} hr_flags;

enum {
    HR_FLAGS_RUN = 0,     /* parsed: go on */
    HR_FLAGS_HELP = 1,    /* --help was given: print hr_flags_write_help, exit 0 */
    HR_FLAGS_VERSION = 2, /* --version was given: print the version, exit 0 */
};

/* Parses argv[1..argc) and envp (NULL-terminated "K=V" strings, may be NULL)
 * against spec[0..n). prog names the program in messages. Returns
 * HR_FLAGS_RUN, HR_FLAGS_HELP or HR_FLAGS_VERSION, or HR_EINVAL with one line
 * (no newline) in err[0..errcap), or HR_ENOMEM. The spec table and the
 * argv/envp strings must outlive f (str may point into them). Call
 * hr_flags_deinit(f) afterwards whatever the result. */
int hr_flags_parse(hr_flags *f, const char *prog, const hr_flag_spec *spec, size_t n, int argc,
                   char *const *argv, char *const *envp, char *err, size_t errcap);

/* Frees everything the parse allocated. Safe on a zeroed or failed hr_flags. */
void hr_flags_deinit(hr_flags *f);

/* Looks up a flag by name. Asserts that the name is in the spec (a typo in
 * the program is a bug, not input). */
const hr_flag_value *hr_flags_get(const hr_flags *f, const char *name);

/* Shorthands over hr_flags_get: the text (NULL when unset with no default),
 * the number, the bool, and the list items (count in *n). */
const char *hr_flags_str(const hr_flags *f, const char *name);
int64_t hr_flags_num(const hr_flags *f, const char *name);
bool hr_flags_bool(const hr_flags *f, const char *name);
char *const *hr_flags_list(const hr_flags *f, const char *name, size_t *n);

/* Writes the generated --help text: usage line, summary, then one entry per
 * flag with its metavar, help, default and environment variable. */
void hr_flags_write_help(FILE *out, const char *prog, const char *summary, const hr_flag_spec *spec,
                         size_t n);

/* Writes the environment variable name of flag name into out (capacity cap,
 * NUL-terminated, truncated if needed): "api-key" -> "HERALD_API_KEY". */
void hr_flags_env_name(const char *name, char *out, size_t cap);

#endif
