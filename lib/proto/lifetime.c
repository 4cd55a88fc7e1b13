/* Token lifetime rules (lifetime.h). */
#include "lifetime.h"

#include <string.h>

#include "channel.h"

int64_t hr_lifetime_notice_at(int64_t now, int64_t expires)
{
    const int64_t minute_before = expires - HR_LIFETIME_NOTICE_S;
    const int64_t half_way = now + (expires - now) / 2;
    return minute_before > half_way ? minute_before : half_way;
}

const char *hr_lifetime_refresh_refusal(const hr_identity *cur, const hr_identity *next)
{
    if (cur->user == NULL)
        return "anonymous connections cannot refresh";
    if (next->user == NULL)
        return "the new token names no user";
    if (strcmp(cur->user, next->user) != 0)
        return "the new token names another user";
    return NULL;
}

size_t hr_lifetime_lost(const hr_identity *next, const char *const *subs, size_t n,
                        const char **lost)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!hr_channel_can_subscribe(next, subs[i], strlen(subs[i])))
            lost[k++] = subs[i];
    return k;
}
