/* hr_metrics: Prometheus text exposition (format 0.0.4) for counters and
 * gauges kept as plain uint64_t fields of a per-loop struct.
 *
 * A program declares its metrics once in a const hr_metric_desc table that
 * points at fields by offset; at scrape time hr_metrics_write_table() sums
 * each field over every loop's struct (no locks on hot paths: each loop only
 * ever touches its own struct) and writes "# HELP", "# TYPE" and the sample.
 * Output goes into a caller-owned hr_buf whose max bounds the page size. */
#ifndef HR_METRICS_H
#define HR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum hr_metric_type {
    HR_METRIC_COUNTER,
    HR_METRIC_GAUGE,
} hr_metric_type;

typedef struct hr_metric_desc {
    const char *name; /* herald_<component>_<thing>_<unit>, "_total" on counters */
    hr_metric_type type;
    const char *help; /* one line, no newline or backslash */
    size_t offset;    /* offset of a uint64_t field in the per-loop struct */
} hr_metric_desc;

/* Table entry for field `field` of struct type `st`. */
#define HR_METRIC_FIELD(st, field, type, name, help)                                               \
    {                                                                                              \
        (name), (type), (help), offsetof(st, field)                                                \
    }

/* Writes the HELP and TYPE lines of one metric. Returns 0, HR_ETOOBIG (out
 * is at its max) or HR_ENOMEM. */
int hr_metrics_write_header(hr_buf *out, const char *name, hr_metric_type type, const char *help);

/* Writes one sample line "name{labels} value". labels is the text between the
 * braces (already escaped, e.g. `upstream="a"`) or NULL for none. Returns as
 * hr_metrics_write_header. */
int hr_metrics_write_sample(hr_buf *out, const char *name, const char *labels, uint64_t value);

/* Header plus one unlabelled sample. */
int hr_metrics_write_one(hr_buf *out, const char *name, hr_metric_type type, const char *help,
                         uint64_t value);

/* Writes every metric of desc[0..n), each the sum of its field over the
 * nblocks structs blocks[0..nblocks) (summing wraps modulo 2^64). Returns as
 * hr_metrics_write_header. */
int hr_metrics_write_table(hr_buf *out, const hr_metric_desc *desc, size_t n,
                           const void *const *blocks, size_t nblocks);

/* Sum of the field at offset over the blocks (exposed for tests and /readyz-like uses). */
uint64_t hr_metrics_sum(const void *const *blocks, size_t nblocks, size_t offset);

#endif
