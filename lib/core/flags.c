/* Long-flag and environment parser (see flags.h).
 *
 * The command line is applied first and marks each flag it sets; the
 * environment then fills only flags the command line left alone (so the
 * command line wins, and a repeatable flag given on the command line ignores
 * its environment list); defaults fill the rest. Each value is converted by
 * one function per kind, and every conversion error becomes one line that
 * names the program, the source (--flag or HERALD_FLAG) and the problem. */
#include "flags.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "err.h"

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t cap, const char *fmt, ...)
{
    if (cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return HR_EINVAL;
}

void hr_flags_env_name(const char *name, char *out, size_t cap)
{
    if (cap == 0)
        return;
    size_t o = 0;
    for (const char *p = "HERALD_"; *p != '\0' && o + 1 < cap; p++)
        out[o++] = *p;
    for (const char *p = name; *p != '\0' && o + 1 < cap; p++)
        out[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[o] = '\0';
}

static void free_items(hr_flag_value *v)
{
    for (size_t i = 0; i < v->n_items; i++)
        free(v->items[i]);
    free(v->items);
    v->items = NULL;
    v->n_items = 0;
}

/* Appends the non-empty entries of text split at commas (and, from the
 * environment, whitespace) to v->items. */
static int append_items(hr_flag_value *v, const char *text, const char *seps)
{
    const char *p = text;
    while (*p != '\0') {
        const size_t len = strcspn(p, seps);
        if (len > 0) {
            char **grown = realloc(v->items, (v->n_items + 1) * sizeof *grown);
            if (grown == NULL)
                return HR_ENOMEM;
            v->items = grown;
            char *item = strndup(p, len);
            if (item == NULL)
                return HR_ENOMEM;
            v->items[v->n_items++] = item;
        }
        p += len;
        if (*p != '\0')
            p++;
    }
    return 0;
}

static bool parse_i64(const char *text, int64_t *out)
{
    if (*text == '\0' || isspace((unsigned char)*text))
        return false;
    errno = 0;
    char *end = NULL;
    const long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool parse_size(const char *text, int64_t *out)
{
    if (!isdigit((unsigned char)*text))
        return false;
    errno = 0;
    char *end = NULL;
    const unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || v > INT64_MAX)
        return false;
    int shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    default:
        return false;
    }
    if (shift > 0) {
        end++;
        if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0)
            end += strlen(end);
        if (*end != '\0' || v > ((unsigned long long)INT64_MAX >> shift))
            return false;
    }
    *out = (int64_t)(v << shift);
    return true;
}

static bool parse_bool(const char *text, int64_t *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < HR_ARRAY_LEN(yes); i++) {
        if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0) {
            *out = strcasecmp(text, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

static int check_range(const hr_flag_spec *s, const char *src, int64_t v, const char *prog,
                       char *err, size_t cap)
{
    if (s->min == 0 && s->max == 0)
        return 0;
    if (v < s->min || v > s->max)
        return fail(err, cap, "%s: %s: must be between %" PRId64 " and %" PRId64 ", got %" PRId64,
                    prog, src, s->min, s->max, v);
    return 0;
}

/* Converts text into v according to s->kind. src names the source in errors. */
static int apply(const hr_flag_spec *s, hr_flag_value *v, const char *text, const char *src,
                 bool from_env, const char *prog, char *err, size_t cap)
{
    switch (s->kind) {
    case HR_FLAG_STRING:
        break;
    case HR_FLAG_INT:
        if (!parse_i64(text, &v->num))
            return fail(err, cap, "%s: %s: expected a number, got '%s'", prog, src, text);
        if (check_range(s, src, v->num, prog, err, cap) != 0)
            return HR_EINVAL;
        break;
    case HR_FLAG_SIZE:
        if (!parse_size(text, &v->num))
            return fail(err, cap, "%s: %s: expected a size in bytes (like 1048576 or 1M), got '%s'",
                        prog, src, text);
        if (check_range(s, src, v->num, prog, err, cap) != 0)
            return HR_EINVAL;
        break;
    case HR_FLAG_BOOL:
        if (!parse_bool(text, &v->num))
            return fail(err, cap, "%s: %s: expected true or false, got '%s'", prog, src, text);
        break;
    case HR_FLAG_LIST:
        free_items(v);
        if (append_items(v, text, from_env ? ", \t" : ",") != 0)
            return HR_ENOMEM;
        break;
    case HR_FLAG_REPEATABLE:
        if (append_items(v, text, from_env ? ", \t" : ",") != 0)
            return HR_ENOMEM;
        break;
    }
    v->str = text;
    return 0;
}

static ssize_t find_flag(const hr_flag_spec *spec, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(spec[i].name) == len && strncmp(spec[i].name, name, len) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* Handles argv[*i]; may consume argv[*i + 1] as the value. Returns 0, a
 * HR_FLAGS_* result, or an error. */
static int parse_arg(hr_flags *f, int argc, char *const *argv, int *i, char *err, size_t cap)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
        return HR_FLAGS_HELP;
    if (strcmp(arg, "--version") == 0)
        return HR_FLAGS_VERSION;
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
        return fail(err, cap, "%s: unexpected argument '%s' (see --help)", f->prog, arg);
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    const size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    const ssize_t k = find_flag(f->spec, f->n, name, name_len);
    if (k < 0)
        return fail(err, cap, "%s: unknown flag '--%.*s' (see --help)", f->prog, (int)name_len,
                    name);
    const hr_flag_spec *s = &f->spec[k];
    const char *text = eq != NULL ? eq + 1 : NULL;
    if (text == NULL && s->kind == HR_FLAG_BOOL) {
        /* "--deflate off" reads like SPEC's "--deflate on/off": a following
         * boolean word is the value; anything else is left for the next flag. */
        int64_t ignored;
        if (*i + 1 < argc && parse_bool(argv[*i + 1], &ignored))
            text = argv[++*i];
        else
            text = "true";
    }
    if (text == NULL) {
        if (*i + 1 >= argc)
            return fail(err, cap, "%s: --%s: missing value", f->prog, s->name);
        text = argv[++*i];
    }
    char src[160];
    snprintf(src, sizeof src, "--%s", s->name);
    f->vals[k].is_set = true;
    return apply(s, &f->vals[k], text, src, false, f->prog, err, cap);
}

static const char *env_lookup(char *const *envp, const char *key)
{
    const size_t klen = strlen(key);
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        if (strncmp(envp[i], key, klen) == 0 && envp[i][klen] == '=')
            return envp[i] + klen + 1;
    }
    return NULL;
}

static int apply_env_and_defaults(hr_flags *f, char *const *envp, char *err, size_t cap)
{
    for (size_t k = 0; k < f->n; k++) {
        const hr_flag_spec *s = &f->spec[k];
        hr_flag_value *v = &f->vals[k];
        if (v->is_set)
            continue;
        char key[160];
        hr_flags_env_name(s->name, key, sizeof key);
        const char *text = env_lookup(envp, key);
        if (text != NULL) {
            v->is_set = true;
            const int rc = apply(s, v, text, key, true, f->prog, err, cap);
            if (rc != 0)
                return rc;
        } else if (s->def != NULL) {
            const int rc = apply(s, v, s->def, "default", false, f->prog, err, cap);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

int hr_flags_parse(hr_flags *f, const char *prog, const hr_flag_spec *spec, size_t n, int argc,
                   char *const *argv, char *const *envp, char *err, size_t errcap)
{
    memset(f, 0, sizeof *f);
    if (errcap > 0)
        err[0] = '\0';
    f->prog = prog;
    f->spec = spec;
    f->n = n;
    f->vals = calloc(n > 0 ? n : 1, sizeof *f->vals);
    if (f->vals == NULL)
        return HR_ENOMEM;
    for (int i = 1; i < argc; i++) {
        const int rc = parse_arg(f, argc, argv, &i, err, errcap);
        if (rc != 0)
            return rc;
    }
    return apply_env_and_defaults(f, envp, err, errcap);
}

void hr_flags_deinit(hr_flags *f)
{
    if (f->vals != NULL) {
        for (size_t k = 0; k < f->n; k++)
            free_items(&f->vals[k]);
    }
    free(f->vals);
    f->vals = NULL;
    f->n = 0;
}

const hr_flag_value *hr_flags_get(const hr_flags *f, const char *name)
{
    const ssize_t k = find_flag(f->spec, f->n, name, strlen(name));
    HR_ASSERT(k >= 0);
    return &f->vals[k];
}

const char *hr_flags_str(const hr_flags *f, const char *name)
{
    return hr_flags_get(f, name)->str;
}

int64_t hr_flags_num(const hr_flags *f, const char *name)
{
    return hr_flags_get(f, name)->num;
}

bool hr_flags_bool(const hr_flags *f, const char *name)
{
    return hr_flags_get(f, name)->num != 0;
}

char *const *hr_flags_list(const hr_flags *f, const char *name, size_t *n)
{
    const hr_flag_value *v = hr_flags_get(f, name);
    *n = v->n_items;
    return v->items;
}

void hr_flags_write_help(FILE *out, const char *prog, const char *summary, const hr_flag_spec *spec,
                         size_t n)
{
    fprintf(out, "Usage: %s [FLAGS]\n", prog);
    if (summary != NULL)
        fprintf(out, "%s\n", summary);
    fprintf(out, "\nFlags (each also read from the environment variable shown; the command "
                 "line wins):\n");
    for (size_t k = 0; k < n; k++) {
        const hr_flag_spec *s = &spec[k];
        char env[160];
        hr_flags_env_name(s->name, env, sizeof env);
        const char *meta = s->kind == HR_FLAG_BOOL ? "[=true|false]" : s->metavar;
        fprintf(out, "  --%s%s%s%s\n", s->name, meta != NULL && s->kind != HR_FLAG_BOOL ? " " : "",
                meta != NULL ? meta : "", s->kind == HR_FLAG_REPEATABLE ? "  (repeatable)" : "");
        fprintf(out, "      %s", s->help != NULL ? s->help : "");
        if (s->def != NULL && s->def[0] != '\0')
            fprintf(out, " [default: %s]", s->def);
        fprintf(out, " (env %s)\n", env);
    }
    fprintf(out, "  --help\n      Print this text and exit.\n");
    fprintf(out, "  --version\n      Print the version and exit.\n");
}
