/* Unit tests for hr_server_parse_addr (lib/net/server.c): the address forms
 * that --listen and --link-listen share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/err.h"
#include "net/server.h"

/* addr parses to family, ip (as inet_ntop writes it) and port. */
static void expect(const char *addr, int family, const char *ip, int port)
{
    struct sockaddr_storage ss;
    assert_int_equal(hr_server_parse_addr(addr, &ss), 0);
    assert_int_equal(ss.ss_family, family);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
    assert_int_equal(ntohs(family == AF_INET ? in->sin_port : in6->sin6_port), port);
    char got[INET6_ADDRSTRLEN];
    const void *a = family == AF_INET ? (const void *)&in->sin_addr : (const void *)&in6->sin6_addr;
    assert_non_null(inet_ntop(family, a, got, sizeof got));
    assert_string_equal(got, ip);
}

static void test_net_server_addr_forms(void **state)
{
    (void)state;
    expect("127.0.0.1:7070", AF_INET, "127.0.0.1", 7070);
    expect("localhost:7071", AF_INET, "127.0.0.1", 7071); /* the one name taken */
    expect("[10.1.2.3]:0", AF_INET, "10.1.2.3", 0);
    expect("0.0.0.0:65535", AF_INET, "0.0.0.0", 65535);
    expect("[::1]:7072", AF_INET6, "::1", 7072);
    expect("::1:7073", AF_INET6, "::1", 7073); /* the last colon separates the port */
    expect("[fe80::2]:1", AF_INET6, "fe80::2", 1);
}

static void test_net_server_addr_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "127.0.0.1",  "127.0.0.1:",    ":7070",       "[::1:7070",
        "[]:7070",    "example:80",    "localhost:x", "127.0.0.1:80x",
        "1.2.3.4:-1", "1.2.3.4:65536", "[localhost]", "256.0.0.1:80",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sockaddr_storage ss;
        if (hr_server_parse_addr(bad[i], &ss) != HR_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_server_addr_forms),
        cmocka_unit_test(test_net_server_addr_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
