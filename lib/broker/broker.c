/* Broker construction by URL scheme and the thin dispatch over the ops table
 * (see broker.h). Adding an adapter is one line in the scheme table. */
#include "broker/broker.h"

#include <stdio.h>
#include <string.h>

#include "broker/memory.h"
#include "broker/nats.h"
#include "broker/rabbitmq.h"
#include "broker/redis.h"
#include "core/err.h"

static hr_broker *new_memory(uv_loop_t *loop, const char *url, const hr_broker_callbacks *cb,
                             void *app, char *err, size_t errcap)
{
    if (strcmp(url, "memory") != 0 && strcmp(url, "memory://") != 0) {
        snprintf(err, errcap, "--broker: the memory broker takes no address, got '%s'", url);
        return NULL;
    }
    uv_timeval64_t tv;
    uint64_t ms = 1;
    if (uv_gettimeofday(&tv) == 0 && tv.tv_sec > 0)
        ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
    hr_broker *b = hr_memory_new(loop, ms, cb, app);
    if (b == NULL)
        snprintf(err, errcap, "--broker: out of memory");
    return b;
}

static hr_broker *new_redis(uv_loop_t *loop, const char *url, const hr_broker_callbacks *cb,
                            void *app, char *err, size_t errcap)
{
    hr_redis_config cfg;
    if (hr_redis_config_parse(url, &cfg, err, errcap) != 0)
        return NULL;
    hr_broker *b = hr_redis_new(loop, &cfg, cb, app);
    if (b == NULL)
        snprintf(err, errcap, "--broker: out of memory");
    return b;
}

static hr_broker *new_nats(uv_loop_t *loop, const char *url, const hr_broker_callbacks *cb,
                           void *app, char *err, size_t errcap)
{
    hr_nats_config cfg;
    if (hr_nats_config_parse(url, &cfg, err, errcap) != 0)
        return NULL;
    hr_broker *b = hr_nats_new(loop, &cfg, cb, app);
    if (b == NULL)
        snprintf(err, errcap, "--broker: out of memory");
    return b;
}

static hr_broker *new_rabbitmq(uv_loop_t *loop, const char *url, const hr_broker_callbacks *cb,
                               void *app, char *err, size_t errcap)
{
    hr_rabbitmq_config cfg;
    if (hr_rabbitmq_config_parse(url, &cfg, err, errcap) != 0)
        return NULL;
    hr_broker *b = hr_rabbitmq_new(loop, &cfg, cb, app);
    if (b == NULL)
        snprintf(err, errcap, "--broker: out of memory");
    return b;
}

typedef hr_broker *(*broker_ctor)(uv_loop_t *loop, const char *url, const hr_broker_callbacks *cb,
                                  void *app, char *err, size_t errcap);

static const struct {
    const char *prefix;
    broker_ctor ctor;
} schemes[] = {
    {"memory", new_memory},
    {"redis", new_redis}, /* redis:// and rediss:// */
    {"nats", new_nats},
    {"amqp", new_rabbitmq}, /* amqp:// and amqps:// */
};

hr_broker *hr_broker_new(uv_loop_t *loop, const char *url, const hr_broker_callbacks *cb, void *app,
                         char *err, size_t errcap)
{
    if (errcap > 0)
        err[0] = '\0';
    for (size_t i = 0; i < HR_ARRAY_LEN(schemes); i++) {
        if (strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
            return schemes[i].ctor(loop, url, cb, app, err, errcap);
    }
    snprintf(err, errcap,
             "--broker: unsupported broker '%s' (expected memory, redis://, nats://, amqp://)",
             url);
    return NULL;
}

int hr_broker_start(hr_broker *b)
{
    return b->ops->start(b);
}

int hr_broker_publish(hr_broker *b, const hr_pub_item *items, size_t n, hr_broker_publish_cb cb,
                      void *arg)
{
    if (n == 0)
        return HR_EINVAL;
    if (!b->ready)
        return HR_EBROKER;
    return b->ops->publish(b, items, n, cb, arg);
}

const hr_broker_stats *hr_broker_stats_view(const hr_broker *b)
{
    return &b->stats;
}

bool hr_broker_is_ready(const hr_broker *b)
{
    return b->ready;
}

const char *hr_broker_name(const hr_broker *b)
{
    return b->ops->name;
}

void hr_broker_free(hr_broker *b)
{
    if (b != NULL)
        b->ops->free(b);
}
