/* herald-bench's command line: the flag table (hr_flags, so every flag also
 * reads HERALD_<NAME>) and its translation into a validated bench_opts. */
#ifndef BENCH_OPTS_H
#define BENCH_OPTS_H

#include <stdio.h>

#include "bench.h"

/* Parses argv/envp into *o. Returns HR_FLAGS_RUN, HR_FLAGS_HELP or
 * HR_FLAGS_VERSION, or HR_EINVAL with one line in err (exit code 2). */
int bench_opts_parse(bench_opts *o, int argc, char **argv, char **envp, char *err, size_t cap);

/* Prints --help. */
void bench_opts_write_help(FILE *out);

#endif
