/* Event names (event_name.h): the one validity rule. */
#include "event_name.h"

#include <stdint.h>

#include "utf8.h"

bool hr_event_name_is_valid(const char *e, size_t len)
{
    if (e == NULL || len == 0 || len > HR_EVENT_NAME_MAX || !hr_utf8_valid((const uint8_t *)e, len))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)e[i] < 0x20 || e[i] == 0x7f)
            return false;
    return true;
}
