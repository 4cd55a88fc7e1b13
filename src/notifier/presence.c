/* The cluster-wide presence table (presence.h): channels, each with its
 * users, each with its connections; and the instances, each with the time
 * it was last heard from. Lists, searched linearly: a presence channel
 * holds tens to a few thousand users, and Pusher lists at most 100. */
#include "presence.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

typedef struct conn {
    struct conn *next;
    uint64_t inst;
    bool stale;
    char socket_id[HR_PUSHER_SOCKET_ID_MAX + 1];
} conn;

typedef struct user {
    struct user *next;
    conn *conns;
    char *id, *info;
} user;

typedef struct channel {
    struct channel *next;
    user *users;
    size_t n_users;
    char name[HR_PUSHER_CHANNEL_MAX + 1];
} channel;

typedef struct instance {
    struct instance *next;
    uint64_t id, last_ms;
    size_t entries;
} instance;

struct nf_presence {
    channel *channels;
    instance *instances;
    size_t entries, max_entries;
    nf_presence_change_cb on_change;
    void *arg;
};

nf_presence *nf_presence_new(size_t max_entries, nf_presence_change_cb on_change, void *arg)
{
    nf_presence *t = calloc(1, sizeof *t);
    if (t != NULL)
        *t = (nf_presence){.max_entries = max_entries, .on_change = on_change, .arg = arg};
    return t;
}

static void free_user(user *u)
{
    for (conn *c = u->conns, *n; c != NULL; c = n) {
        n = c->next;
        free(c);
    }
    free(u->id);
    free(u->info);
    free(u);
}

void nf_presence_free(nf_presence *t)
{
    if (t == NULL)
        return;
    for (channel *c = t->channels, *cn; c != NULL; c = cn) {
        cn = c->next;
        for (user *u = c->users, *un; u != NULL; u = un) {
            un = u->next;
            free_user(u);
        }
        free(c);
    }
    for (instance *i = t->instances, *in; i != NULL; i = in) {
        in = i->next;
        free(i);
    }
    free(t);
}

static channel *find_channel(const nf_presence *t, const char *name)
{
    for (channel *c = t->channels; c != NULL; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static user *find_user(const channel *c, const char *id)
{
    for (user *u = c != NULL ? c->users : NULL; u != NULL; u = u->next)
        if (strcmp(u->id, id) == 0)
            return u;
    return NULL;
}

static instance *find_instance(const nf_presence *t, uint64_t id)
{
    for (instance *i = t->instances; i != NULL; i = i->next)
        if (i->id == id)
            return i;
    return NULL;
}

static instance *get_instance(nf_presence *t, uint64_t id)
{
    instance *i = find_instance(t, id);
    if (i == NULL && (i = calloc(1, sizeof *i)) != NULL) {
        *i = (instance){.next = t->instances, .id = id};
        t->instances = i;
    }
    return i;
}

void nf_presence_seen(nf_presence *t, uint64_t inst, uint64_t now_ms)
{
    instance *i = get_instance(t, inst);
    if (i != NULL)
        i->last_ms = now_ms;
}

size_t nf_presence_entries_of(const nf_presence *t, uint64_t inst)
{
    const instance *i = find_instance(t, inst);
    return i != NULL ? i->entries : 0;
}

/* The connection socket_id of channel c, with its user, or NULL. */
static conn *find_conn(const channel *c, const char *socket_id, user **owner)
{
    for (user *u = c != NULL ? c->users : NULL; u != NULL; u = u->next)
        for (conn *k = u->conns; k != NULL; k = k->next)
            if (strcmp(k->socket_id, socket_id) == 0) {
                *owner = u;
                return k;
            }
    return NULL;
}

static channel *get_channel(nf_presence *t, const char *name)
{
    channel *c = find_channel(t, name);
    if (c == NULL && (c = calloc(1, sizeof *c)) != NULL) {
        memcpy(c->name, name, strlen(name) + 1);
        c->next = t->channels;
        t->channels = c;
    }
    return c;
}

static void drop_channel_if_empty(nf_presence *t, channel *c)
{
    if (c->users != NULL)
        return;
    for (channel **at = &t->channels; *at != NULL; at = &(*at)->next)
        if (*at == c) {
            *at = c->next;
            free(c);
            return;
        }
}

/* A new user u in c holding connection k (or NULL on failure). */
static user *new_user(channel *c, const hr_presence_entry *e)
{
    user *u = calloc(1, sizeof *u);
    if (u == NULL)
        return NULL;
    u->id = strdup(e->user_id);
    u->info = e->user_info != NULL ? strdup(e->user_info) : NULL;
    if (u->id == NULL || (e->user_info != NULL && u->info == NULL)) {
        free_user(u);
        return NULL;
    }
    u->next = c->users;
    c->users = u;
    c->n_users++;
    return u;
}

int nf_presence_add(nf_presence *t, uint64_t inst, const hr_presence_entry *e, uint64_t now_ms)
{
    if (strlen(e->socket_id) > HR_PUSHER_SOCKET_ID_MAX ||
        strlen(e->channel) > HR_PUSHER_CHANNEL_MAX)
        return HR_EINVAL;
    channel *c = get_channel(t, e->channel);
    instance *i = get_instance(t, inst);
    if (c == NULL || i == NULL)
        return HR_ENOMEM;
    i->last_ms = now_ms;
    user *owner = NULL;
    conn *k = find_conn(c, e->socket_id, &owner);
    if (k != NULL) {
        k->stale = false;
        return 0;
    }
    if (t->entries >= t->max_entries) {
        drop_channel_if_empty(t, c);
        return HR_ELIMIT;
    }
    if ((k = calloc(1, sizeof *k)) == NULL) {
        drop_channel_if_empty(t, c);
        return HR_ENOMEM;
    }
    k->inst = inst;
    memcpy(k->socket_id, e->socket_id, strlen(e->socket_id) + 1);
    user *u = find_user(c, e->user_id);
    const bool first = u == NULL;
    if (first && (u = new_user(c, e)) == NULL) {
        free(k);
        drop_channel_if_empty(t, c);
        return HR_ENOMEM;
    }
    k->next = u->conns;
    u->conns = k;
    t->entries++;
    i->entries++;
    if (first && t->on_change != NULL)
        t->on_change(t->arg, c->name, u->id, u->info, true, e->socket_id);
    return first ? 1 : 0;
}

/* Unlinks connection k of user u in channel c; drops u (announcing it)
 * and c when they are left empty. Returns 1 when u left. */
static int unlink_conn(nf_presence *t, channel *c, user *u, conn *k)
{
    for (conn **at = &u->conns; *at != NULL; at = &(*at)->next)
        if (*at == k) {
            *at = k->next;
            break;
        }
    instance *i = find_instance(t, k->inst);
    if (i != NULL && i->entries > 0)
        i->entries--;
    t->entries--;
    int gone = 0;
    if (u->conns == NULL) {
        for (user **at = &c->users; *at != NULL; at = &(*at)->next)
            if (*at == u) {
                *at = u->next;
                break;
            }
        c->n_users--;
        if (t->on_change != NULL)
            t->on_change(t->arg, c->name, u->id, u->info, false, k->socket_id);
        free_user(u);
        gone = 1;
    }
    free(k);
    drop_channel_if_empty(t, c);
    return gone;
}

int nf_presence_remove(nf_presence *t, const char *channel_name, const char *socket_id)
{
    channel *c = find_channel(t, channel_name);
    user *u = NULL;
    conn *k = c != NULL ? find_conn(c, socket_id, &u) : NULL;
    return k != NULL ? unlink_conn(t, c, u, k) : 0;
}

/* Removes the connections of inst that match (all, or only stale ones).
 * Returns how many users left a channel. */
static size_t remove_where(nf_presence *t, uint64_t inst, bool only_stale)
{
    size_t gone = 0;
    for (channel *c = t->channels, *cn; c != NULL; c = cn) {
        cn = c->next; /* c may go */
        for (user *u = c->users, *un; u != NULL; u = un) {
            un = u->next;
            for (conn *k = u->conns, *kn; k != NULL; k = kn) {
                kn = k->next;
                if (k->inst == inst && (!only_stale || k->stale) && unlink_conn(t, c, u, k) == 1) {
                    gone++;
                    break; /* u is gone */
                }
            }
        }
    }
    return gone;
}

void nf_presence_sync_begin(nf_presence *t, uint64_t inst)
{
    for (channel *c = t->channels; c != NULL; c = c->next)
        for (user *u = c->users; u != NULL; u = u->next)
            for (conn *k = u->conns; k != NULL; k = k->next)
                if (k->inst == inst)
                    k->stale = true;
}

void nf_presence_sync_end(nf_presence *t, uint64_t inst)
{
    (void)remove_where(t, inst, true);
}

size_t nf_presence_drop(nf_presence *t, uint64_t inst)
{
    const size_t gone = remove_where(t, inst, false);
    for (instance **at = &t->instances; *at != NULL; at = &(*at)->next)
        if ((*at)->id == inst) {
            instance *i = *at;
            *at = i->next;
            free(i);
            break;
        }
    return gone;
}

size_t nf_presence_expire(nf_presence *t, uint64_t now_ms, uint64_t timeout_ms, uint64_t keep)
{
    size_t n = 0;
    for (instance *i = t->instances, *in; i != NULL; i = in) {
        in = i->next;
        if (i->id != keep && i->last_ms + timeout_ms < now_ms) {
            const uint64_t id = i->id;
            (void)nf_presence_drop(t, id); /* frees i */
            n++;
            in = t->instances; /* the list changed: start over (dropped ones are gone) */
        }
    }
    return n;
}

size_t nf_presence_members(const nf_presence *t, const char *channel_name, const char *first_user,
                           hr_pusher_member *out, size_t max)
{
    const channel *c = find_channel(t, channel_name);
    size_t n = 0;
    const user *me = first_user != NULL ? find_user(c, first_user) : NULL;
    if (me != NULL && n < max)
        out[n++] = (hr_pusher_member){me->id, me->info};
    for (const user *u = c != NULL ? c->users : NULL; u != NULL && n < max; u = u->next)
        if (u != me)
            out[n++] = (hr_pusher_member){u->id, u->info};
    return n;
}

size_t nf_presence_user_count(const nf_presence *t, const char *channel_name)
{
    const channel *c = find_channel(t, channel_name);
    return c != NULL ? c->n_users : 0;
}

bool nf_presence_has_user(const nf_presence *t, const char *channel_name, const char *user_id)
{
    return find_user(find_channel(t, channel_name), user_id) != NULL;
}

void nf_presence_each_channel(const nf_presence *t,
                              void (*each)(void *arg, const char *channel, size_t users), void *arg)
{
    for (const channel *c = t->channels; c != NULL; c = c->next)
        each(arg, c->name, c->n_users);
}
