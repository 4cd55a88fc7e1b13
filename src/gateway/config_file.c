/* The configuration as a file: read it (a missing file is named as such,
 * not as a line of it), make the relative paths inside it relative to its
 * folder, and check the files and folders it names exist. The schema itself
 * is config.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "transform.h"
#include "core/err.h"

int gw_config_fail(gw_diag *diag, const char *file, gw_cfg_at at, const char *path,
                   const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char col[32] = "";
    if (at.col > 0)
        snprintf(col, sizeof col, " (column %d)", at.col);
    snprintf(diag->msg, sizeof diag->msg, "%s:%d: %s: %s%s", file, at.line > 0 ? at.line : 1,
             path, what, col);
    return HR_EINVAL;
}

/* Makes *p relative to dir when it is a relative path (dir has no trailing
 * '/'). When nothing exists there but the path exists relative to the working
 * directory, the working-directory path is kept: a copy of the shipped config
 * elsewhere (`static: web/`) still finds the repository's files when run from
 * its root. Returns 0 or HR_ENOMEM. */
static int rebase(char **p, const char *dir)
{
    if (*p == NULL || (*p)[0] == '/' || dir[0] == '\0')
        return 0;
    const size_t n = strlen(dir) + strlen(*p) + 2;
    char *full = malloc(n);
    if (full == NULL)
        return HR_ENOMEM;
    snprintf(full, n, "%s/%s", dir, *p);
    struct stat st;
    if (stat(full, &st) != 0 && stat(*p, &st) == 0) {
        free(full);
        return 0;
    }
    free(*p);
    *p = full;
    return 0;
}

static int rebase_all(gw_config *c, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return 0; /* the file is in the working directory: nothing to do */
    char dir[1024];
    const size_t dl = (size_t)(slash - path);
    if (dl >= sizeof dir)
        return HR_ENOMEM;
    memcpy(dir, path, dl);
    dir[dl] = '\0';
    if (dl == 0)
        snprintf(dir, sizeof dir, "/");
    int rc = rebase(&c->jwt.public_key_file, dir);
    for (size_t i = 0; rc == 0 && i < c->n_listen; i++) {
        rc = rebase(&c->listen[i].tls_cert, dir);
        if (rc == 0)
            rc = rebase(&c->listen[i].tls_key, dir);
    }
    for (size_t i = 0; rc == 0 && i < c->n_routes; i++) {
        rc = rebase(&c->routes[i].static_dir, dir);
        if (rc == 0)
            rc = rebase(&c->routes[i].script, dir);
    }
    return rc;
}

int gw_config_load(const char *path, gw_config **out, gw_diag *diag)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(diag->msg, sizeof diag->msg, "%s: cannot read: %s", path, strerror(errno));
        return HR_EINVAL;
    }
    const size_t cap = (size_t)4 << 20;
    char *text = malloc(cap);
    if (text == NULL) {
        fclose(f);
        return HR_ENOMEM;
    }
    const size_t len = fread(text, 1, cap - 1, f);
    const bool bad = ferror(f) || !feof(f);
    fclose(f);
    if (bad) {
        free(text);
        snprintf(diag->msg, sizeof diag->msg, "%s: file unreadable or larger than 4 MiB", path);
        return HR_EINVAL;
    }
    int rc = gw_config_parse(text, len, path, out, diag);
    free(text);
    if (rc == 0 && rebase_all(*out, path) != 0) {
        gw_config_free(*out);
        *out = NULL;
        snprintf(diag->msg, sizeof diag->msg, "%s: out of memory", path);
        rc = HR_ENOMEM;
    }
    return rc;
}

static int check_readable(const gw_config *cfg, gw_cfg_at at, const char *what,
                          const char *path, bool want_dir, gw_diag *diag)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return gw_config_fail(diag, cfg->filename, at, what, "cannot read '%.200s': %s", path,
                              strerror(errno));
    if (want_dir != S_ISDIR(st.st_mode))
        return gw_config_fail(diag, cfg->filename, at, what, "'%.200s' is not a %s", path,
                              want_dir ? "directory" : "regular file");
    return 0;
}

int gw_config_check_files(const gw_config *cfg, gw_diag *diag)
{
    for (size_t i = 0; i < cfg->n_listen; i++) {
        const gw_listener_cfg *l = &cfg->listen[i];
        if (l->tls_cert == NULL)
            continue;
        int rc = check_readable(cfg, l->cert_at, "listen.tls.cert", l->tls_cert, false, diag);
        if (rc == 0)
            rc = check_readable(cfg, l->key_at, "listen.tls.key", l->tls_key, false, diag);
        if (rc != 0)
            return rc;
    }
    if (cfg->jwt.public_key_file != NULL) {
        int rc = check_readable(cfg, cfg->jwt.key_at, "auth.jwt.public_key_file",
                                cfg->jwt.public_key_file, false, diag);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const gw_route_cfg *r = &cfg->routes[i];
        char what[48];
        int rc = 0;
        if (r->static_dir != NULL) {
            snprintf(what, sizeof what, "routes[%zu].static", i);
            rc = check_readable(cfg, r->static_at, what, r->static_dir, true, diag);
        }
        if (rc == 0 && r->script != NULL) {
            snprintf(what, sizeof what, "routes[%zu].script", i);
            rc = check_readable(cfg, r->script_at, what, r->script, false, diag);
        }
        if (rc != 0)
            return rc;
    }
    return gw_transform_check(cfg, diag);
}
