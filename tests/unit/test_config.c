/* Unit tests for src/notifier/config: defaults, env, validation messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "notifier/config.h"

static int load(nf_config *cfg, char **argv, char **envp, char *err)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    return nf_config_load(cfg, argc, argv, envp, err, 300);
}

static void test_config_defaults(void **state)
{
    (void)state;
    nf_config cfg;
    char err[300];
    assert_int_equal(load(&cfg, (char *[]){"n", NULL}, NULL, err), HR_FLAGS_RUN);
    assert_string_equal(cfg.listen, "127.0.0.1:7070");
    assert_string_equal(cfg.broker, "memory");
    assert_null(cfg.api_key);
    assert_int_equal(cfg.history, 1000);
    assert_int_equal(cfg.history_ttl_s, 3600);
    assert_int_equal(cfg.send_queue_limit, 1048576);
    assert_int_equal(cfg.max_channels, 128);
    assert_int_equal(cfg.bad_commands, 100);
    assert_int_equal(cfg.log_level, HR_LOG_INFO);
    assert_true(cfg.deflate);
    assert_int_equal(cfg.n_trusted, 0);
    nf_config_deinit(&cfg);
}

static void test_config_env_and_flags(void **state)
{
    (void)state;
    nf_config cfg;
    char err[300];
    char *argv[] = {"n",           "--trusted-proxy", "10.0.0.0/8",  "--trusted-proxy=::1",
                    "--log-level", "debug",           "--api-key=k", NULL};
    char *envp[] = {"HERALD_API_KEY=envkey", "HERALD_HISTORY=5", "HERALD_MAX_CHANNELS=2", NULL};
    assert_int_equal(load(&cfg, argv, envp, err), HR_FLAGS_RUN);
    assert_string_equal(cfg.api_key, "k");
    assert_int_equal(cfg.history, 5);
    assert_int_equal(cfg.max_channels, 2);
    assert_int_equal(cfg.n_trusted, 2);
    assert_int_equal(cfg.log_level, HR_LOG_DEBUG);
    nf_config_deinit(&cfg);
}

static void expect_error(char **argv, const char *want)
{
    nf_config cfg;
    char err[300];
    assert_int_equal(load(&cfg, argv, NULL, err), HR_EINVAL);
    if (strstr(err, want) == NULL)
        fail_msg("got '%s', want '%s'", err, want);
    assert_null(strchr(err, '\n'));
    nf_config_deinit(&cfg);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error((char *[]){"n", "--history", "lots", NULL},
                 "herald-notifier: --history: expected a number, got 'lots'");
    expect_error((char *[]){"n", "--log-level=loud", NULL}, "--log-level: expected debug");
    expect_error((char *[]){"n", "--trusted-proxy", "10.0.0.0/99", NULL},
                 "--trusted-proxy: expected a CIDR");
    expect_error((char *[]){"n", "--jwt-public-key", "/nonexistent/key.pem", NULL},
                 "--jwt-public-key: cannot read '/nonexistent/key.pem'");
    expect_error((char *[]){"n", "--max-channels", "0", NULL}, "--max-channels: must be between");
    expect_error((char *[]){"n", "--jwt-secret=", NULL}, "--jwt-secret: must not be empty");
    expect_error((char *[]){"n", "--pusher-app-id", "1", "--pusher-key", "k", NULL},
                 "--pusher-secret: needed with the other Pusher settings");
    expect_error((char *[]){"n", "--pusher-app-id", "1", "--pusher-key", "k:x", "--pusher-secret",
                            "s", NULL},
                 "--pusher-key: use letters, digits");
}

/* The Pusher settings come from flags or HERALD_PUSHER_* like every flag. */
static void test_config_pusher(void **state)
{
    (void)state;
    nf_config cfg;
    char err[300];
    char *envp[] = {"HERALD_PUSHER_SECRET=s3", "HERALD_PUSHER_CLIENT_EVENTS=true", NULL};
    assert_int_equal(load(&cfg,
                          (char *[]){"n", "--pusher-app-id", "42", "--pusher-key", "key", NULL},
                          envp, err),
                     HR_FLAGS_RUN);
    assert_string_equal(cfg.pusher_app_id, "42");
    assert_string_equal(cfg.pusher_key, "key");
    assert_string_equal(cfg.pusher_secret, "s3");
    assert_true(cfg.pusher_client_events);
    assert_int_equal(cfg.pusher_activity_timeout_s, 120);
    nf_config_deinit(&cfg);
    assert_int_equal(load(&cfg, (char *[]){"n", NULL}, NULL, err), HR_FLAGS_RUN);
    assert_null(cfg.pusher_app_id);
    assert_false(cfg.pusher_client_events);
    nf_config_deinit(&cfg);
}

static void test_config_key_file(void **state)
{
    (void)state;
    char path[] = "/tmp/herald-test-key-XXXXXX";
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *pem = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n";
    assert_int_equal(write(fd, pem, strlen(pem)), (ssize_t)strlen(pem));
    close(fd);
    nf_config cfg;
    char err[300];
    assert_int_equal(load(&cfg, (char *[]){"n", "--jwt-public-key", path, NULL}, NULL, err),
                     HR_FLAGS_RUN);
    assert_int_equal(cfg.jwt_key_len, strlen(pem));
    nf_config_deinit(&cfg);
    FILE *f = fopen(path, "w");
    fputs("not a key", f);
    fclose(f);
    assert_int_equal(load(&cfg, (char *[]){"n", "--jwt-public-key", path, NULL}, NULL, err),
                     HR_EINVAL);
    assert_non_null(strstr(err, "holds no PEM PUBLIC KEY"));
    nf_config_deinit(&cfg);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults), cmocka_unit_test(test_config_env_and_flags),
        cmocka_unit_test(test_config_errors),   cmocka_unit_test(test_config_pusher),
        cmocka_unit_test(test_config_key_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
