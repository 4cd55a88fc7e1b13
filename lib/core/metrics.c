/* Prometheus text writer (see metrics.h). Lines are formatted into a small
 * stack buffer with snprintf and appended to the caller's hr_buf, so the only
 * allocation is the buffer's own growth, bounded by its max. */
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static int append_line(hr_buf *out, const char *line, int n)
{
    if (n < 0)
        return HR_EINTERNAL;
    return hr_buf_append(out, line, (size_t)n);
}

int hr_metrics_write_header(hr_buf *out, const char *name, hr_metric_type type, const char *help)
{
    char line[512];
    int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                     type == HR_METRIC_COUNTER ? "counter" : "gauge");
    if (n >= (int)sizeof line)
        return HR_ETOOBIG;
    return append_line(out, line, n);
}

int hr_metrics_write_sample(hr_buf *out, const char *name, const char *labels, uint64_t value)
{
    char line[512];
    int n;
    if (labels != NULL && labels[0] != '\0')
        n = snprintf(line, sizeof line, "%s{%s} %" PRIu64 "\n", name, labels, value);
    else
        n = snprintf(line, sizeof line, "%s %" PRIu64 "\n", name, value);
    if (n >= (int)sizeof line)
        return HR_ETOOBIG;
    return append_line(out, line, n);
}

int hr_metrics_write_one(hr_buf *out, const char *name, hr_metric_type type, const char *help,
                         uint64_t value)
{
    const int rc = hr_metrics_write_header(out, name, type, help);
    return rc != 0 ? rc : hr_metrics_write_sample(out, name, NULL, value);
}

uint64_t hr_metrics_sum(const void *const *blocks, size_t nblocks, size_t offset)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < nblocks; i++) {
        uint64_t v;
        memcpy(&v, (const char *)blocks[i] + offset, sizeof v);
        sum += v;
    }
    return sum;
}

int hr_metrics_write_table(hr_buf *out, const hr_metric_desc *desc, size_t n,
                           const void *const *blocks, size_t nblocks)
{
    for (size_t i = 0; i < n; i++) {
        const uint64_t v = hr_metrics_sum(blocks, nblocks, desc[i].offset);
        const int rc = hr_metrics_write_one(out, desc[i].name, desc[i].type, desc[i].help, v);
        if (rc != 0)
            return rc;
    }
    return 0;
}
