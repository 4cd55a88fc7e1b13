/* Unit tests for lib/core/flags: precedence, kinds, errors, help text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/flags.h"

static const hr_flag_spec spec[] = {
    {"listen", HR_FLAG_STRING, "127.0.0.1:7070", "ADDR:PORT", "Listen address.", 0, 0},
    {"api-key", HR_FLAG_STRING, NULL, "KEY", "Publish key.", 0, 0},
    {"history", HR_FLAG_INT, "1000", "N", "Events kept per channel.", 0, 1000000},
    {"send-queue-limit", HR_FLAG_SIZE, "1048576", "BYTES", "Send queue bound.", 1024,
     INT64_C(1) << 40},
    {"deflate", HR_FLAG_BOOL, "true", NULL, "Compression.", 0, 0},
    {"channels", HR_FLAG_LIST, NULL, "A,B", "Channels.", 0, 0},
    {"trusted-proxy", HR_FLAG_REPEATABLE, NULL, "CIDR", "Trusted proxies.", 0, 0},
};

static int parse(hr_flags *f, char **argv, char **envp, char *err)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    return hr_flags_parse(f, "herald-test", spec, HR_ARRAY_LEN(spec), argc, argv, envp, err, 200);
}

static void test_flags_defaults(void **state)
{
    (void)state;
    char *argv[] = {"prog", NULL};
    hr_flags f;
    char err[200];
    assert_int_equal(parse(&f, argv, NULL, err), HR_FLAGS_RUN);
    assert_string_equal(hr_flags_str(&f, "listen"), "127.0.0.1:7070");
    assert_null(hr_flags_str(&f, "api-key"));
    assert_int_equal(hr_flags_num(&f, "history"), 1000);
    assert_int_equal(hr_flags_num(&f, "send-queue-limit"), 1048576);
    assert_true(hr_flags_bool(&f, "deflate"));
    assert_false(hr_flags_get(&f, "history")->is_set);
    size_t n = 99;
    hr_flags_list(&f, "trusted-proxy", &n);
    assert_int_equal(n, 0);
    hr_flags_deinit(&f);
}

static void test_flags_forms_and_precedence(void **state)
{
    (void)state;
    char *argv[] = {"prog",
                    "--history=5",
                    "--api-key",
                    "k1",
                    "--deflate=off",
                    "--send-queue-limit",
                    "2M",
                    "--channels=a,,b",
                    "--channels",
                    "c,d",
                    NULL};
    char *envp[] = {"HERALD_HISTORY=7", "HERALD_LISTEN=0.0.0.0:1", "PATH=/bin", NULL};
    hr_flags f;
    char err[200];
    assert_int_equal(parse(&f, argv, envp, err), HR_FLAGS_RUN);
    assert_int_equal(hr_flags_num(&f, "history"), 5);
    assert_string_equal(hr_flags_str(&f, "listen"), "0.0.0.0:1");
    assert_true(hr_flags_get(&f, "listen")->is_set);
    assert_string_equal(hr_flags_str(&f, "api-key"), "k1");
    assert_false(hr_flags_bool(&f, "deflate"));
    assert_int_equal(hr_flags_num(&f, "send-queue-limit"), 2 << 20);
    size_t n = 0;
    char *const *items = hr_flags_list(&f, "channels", &n);
    assert_int_equal(n, 2);
    assert_string_equal(items[0], "c");
    assert_string_equal(items[1], "d");
    hr_flags_deinit(&f);
}

/* "--deflate off" (SPEC's on/off form) takes the next word when it is a
 * boolean; a bare "--deflate" followed by another flag means true. */
static void test_flags_bool_separate_word(void **state)
{
    (void)state;
    char err[200];
    hr_flags f;
    char *off[] = {"prog", "--deflate", "off", "--history", "3", NULL};
    assert_int_equal(parse(&f, off, NULL, err), HR_FLAGS_RUN);
    assert_false(hr_flags_bool(&f, "deflate"));
    assert_int_equal(hr_flags_num(&f, "history"), 3);
    hr_flags_deinit(&f);
    char *bare[] = {"prog", "--deflate", "--history", "4", NULL};
    assert_int_equal(parse(&f, bare, NULL, err), HR_FLAGS_RUN);
    assert_true(hr_flags_bool(&f, "deflate"));
    assert_int_equal(hr_flags_num(&f, "history"), 4);
    hr_flags_deinit(&f);
    char *stray[] = {"prog", "--deflate", "maybe", NULL};
    assert_true(parse(&f, stray, NULL, err) < 0);
    assert_non_null(strstr(err, "maybe"));
    hr_flags_deinit(&f);
}

static void test_flags_repeatable(void **state)
{
    (void)state;
    char *argv[] = {"prog", "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy=::1/128", NULL};
    char *envp[] = {"HERALD_TRUSTED_PROXY=1.2.3.4/32", NULL};
    hr_flags f;
    char err[200];
    assert_int_equal(parse(&f, argv, envp, err), HR_FLAGS_RUN);
    size_t n = 0;
    char *const *items = hr_flags_list(&f, "trusted-proxy", &n);
    assert_int_equal(n, 2);
    assert_string_equal(items[0], "10.0.0.0/8");
    assert_string_equal(items[1], "::1/128");
    hr_flags_deinit(&f);

    char *argv2[] = {"prog", NULL};
    char *envp2[] = {"HERALD_TRUSTED_PROXY=1.2.3.4/32, 10.0.0.0/8", NULL};
    assert_int_equal(parse(&f, argv2, envp2, err), HR_FLAGS_RUN);
    items = hr_flags_list(&f, "trusted-proxy", &n);
    assert_int_equal(n, 2);
    assert_string_equal(items[1], "10.0.0.0/8");
    hr_flags_deinit(&f);
}

static void expect_error(char **argv, char **envp, const char *want)
{
    hr_flags f;
    char err[200];
    assert_int_equal(parse(&f, argv, envp, err), HR_EINVAL);
    assert_string_equal(err, want);
    hr_flags_deinit(&f);
}

static void test_flags_errors(void **state)
{
    (void)state;
    expect_error((char *[]){"p", "--history", "x", NULL}, NULL,
                 "herald-test: --history: expected a number, got 'x'");
    expect_error((char *[]){"p", "--history=12abc", NULL}, NULL,
                 "herald-test: --history: expected a number, got '12abc'");
    expect_error((char *[]){"p", "--history", NULL}, NULL, "herald-test: --history: missing value");
    expect_error((char *[]){"p", "--nope=1", NULL}, NULL,
                 "herald-test: unknown flag '--nope' (see --help)");
    expect_error((char *[]){"p", "stray", NULL}, NULL,
                 "herald-test: unexpected argument 'stray' (see --help)");
    expect_error((char *[]){"p", "--history=-1", NULL}, NULL,
                 "herald-test: --history: must be between 0 and 1000000, got -1");
    expect_error((char *[]){"p", "--send-queue-limit=1x", NULL}, NULL,
                 "herald-test: --send-queue-limit: expected a size in bytes (like 1048576 or 1M), "
                 "got '1x'");
    expect_error((char *[]){"p", "--deflate=maybe", NULL}, NULL,
                 "herald-test: --deflate: expected true or false, got 'maybe'");
    expect_error((char *[]){"p", NULL}, (char *[]){"HERALD_HISTORY=lots", NULL},
                 "herald-test: HERALD_HISTORY: expected a number, got 'lots'");
    expect_error((char *[]){"p", "--history=99999999999999999999", NULL}, NULL,
                 "herald-test: --history: expected a number, got '99999999999999999999'");
}

static void test_flags_help_version(void **state)
{
    (void)state;
    hr_flags f;
    char err[200];
    assert_int_equal(parse(&f, (char *[]){"p", "--help", "--bogus", NULL}, NULL, err),
                     HR_FLAGS_HELP);
    hr_flags_deinit(&f);
    assert_int_equal(parse(&f, (char *[]){"p", "--version", NULL}, NULL, err), HR_FLAGS_VERSION);
    hr_flags_deinit(&f);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    hr_flags_write_help(out, "herald-test", "Test program.", spec, HR_ARRAY_LEN(spec));
    fclose(out);
    assert_non_null(strstr(text, "--api-key KEY"));
    assert_non_null(strstr(text, "(env HERALD_SEND_QUEUE_LIMIT)"));
    assert_non_null(strstr(text, "[default: 127.0.0.1:7070]"));
    free(text);
}

static void test_flags_env_name(void **state)
{
    (void)state;
    char out[32];
    hr_flags_env_name("jwt-public-key", out, sizeof out);
    assert_string_equal(out, "HERALD_JWT_PUBLIC_KEY");
    hr_flags_env_name("jwt-public-key", out, 10);
    assert_string_equal(out, "HERALD_JW");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_defaults),
        cmocka_unit_test(test_flags_forms_and_precedence),
        cmocka_unit_test(test_flags_bool_separate_word),
        cmocka_unit_test(test_flags_repeatable),
        cmocka_unit_test(test_flags_errors),
        cmocka_unit_test(test_flags_help_version),
        cmocka_unit_test(test_flags_env_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
