/* Loading a gateway config from text in the unit tests (test_gw_route.c,
 * test_gw_edge.c). Include after <cmocka.h>. */
#ifndef GW_CONFIG_LOAD_H
#define GW_CONFIG_LOAD_H

#include <string.h>

#include "gateway/config.h"

/* The parsed config of a YAML text; a refusal fails the test with the
 * parser's message. The caller frees it with gw_config_free(). */
static inline gw_config *load_gw_config(const char *text)
{
    gw_config *cfg = NULL;
    gw_diag d;
    if (gw_config_parse(text, strlen(text), "t.yaml", &cfg, &d) != 0)
        fail_msg("%s", d.msg);
    return cfg;
}

#endif
