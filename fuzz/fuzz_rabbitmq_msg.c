/* Fuzz target for what RabbitMQ hands the notifier: a delivered message's
 * headers, as the AMQP field table on the wire (decoded by librabbitmq's
 * amqp_decode_table, as for a real delivery), read by
 * hr_rabbitmq_read_headers and mapped with the body by hr_rabbitmq_map_msg.
 * Input layout: a 4-byte big-endian table length and the table (the wire
 * form), then the body. An event that maps must carry id offset + 1,
 * 1..HR_ENTRY_MAX_CHANNELS valid names and NUL-terminated compact data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/rabbitmq.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hr_entry entry;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size > 0 ? size : 1); /* exact size, so ASan sees over-reads */
    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);
    amqp_pool_t pool;
    init_amqp_pool(&pool, 4096);
    amqp_table_t headers = {0, NULL};
    size_t off = 0;
    const amqp_bytes_t wire = {size, copy};
    const bool have = size >= 4 && amqp_decode_table(wire, &pool, &headers, &off) == 0;
    hr_rabbitmq_meta m;
    hr_rabbitmq_read_headers(have ? &headers : NULL, &m);
    const size_t start = have ? off : 0;
    if (start > size)
        abort();
    const size_t blen = size - start;
    char *body = malloc(blen + 1);
    if (body != NULL) {
        memcpy(body, copy + start, blen);
        body[blen] = '\0';
        const int rc = hr_rabbitmq_map_msg(&m, body, blen, &entry);
        if (rc != 0 && rc != HR_EINVAL && rc != HR_EPROTO && rc != HR_ENOMEM)
            abort();
        if (rc == HR_EPROTO && m.has_offset)
            abort();
        if (rc == 0) {
            if (!m.has_offset || m.channel == NULL || entry.ev.id.seq != m.offset + 1 ||
                entry.ev.n_channels == 0 || entry.ev.n_channels > HR_ENTRY_MAX_CHANNELS ||
                entry.ev.data[entry.ev.data_len] != '\0')
                abort();
            for (size_t i = 0; i < entry.ev.n_channels; i++)
                if (!hr_channel_is_valid(entry.ev.channels[i], strlen(entry.ev.channels[i])))
                    abort();
        }
        hr_entry_deinit(&entry);
        free(body);
    }
    empty_amqp_pool(&pool);
    free(copy);
    return 0;
}
