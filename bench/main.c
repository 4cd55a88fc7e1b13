/* herald-bench: parse the flags, raise the open-file limit, run, report.
 * Exit status: 0 when the run completed (loss is reported, not an error),
 * 1 when it could not run, 2 for bad flags. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "core/err.h"
#include "core/flags.h"
#include "opts.h"
#include "run.h"

extern char **environ;

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void report(const bench_summary *s)
{
    bench_report_text(stdout, s);
    bench_report_json(stdout, s);
    if (s->o->json_path[0] == '\0')
        return;
    FILE *f = fopen(s->o->json_path, "a");
    if (f == NULL) {
        fprintf(stderr, "herald-bench: cannot append to %s\n", s->o->json_path);
        return;
    }
    bench_report_json(f, s);
    fclose(f);
}

int main(int argc, char **argv)
{
    static bench_opts o;
    static bench_summary s;
    char err[512];
    const int rc = bench_opts_parse(&o, argc, argv, environ, err, sizeof err);
    if (rc == HR_FLAGS_HELP) {
        bench_opts_write_help(stdout);
        return 0;
    }
    if (rc == HR_FLAGS_VERSION) {
        printf("herald-bench %s\n", HERALD_VERSION);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "%s\n", rc == HR_ENOMEM ? "herald-bench: out of memory" : err);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    if (bench_run(&o, &s) != 0)
        return 1;
    report(&s);
    return 0;
}
