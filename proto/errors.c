/* Lookup functions over the tables in errors.h. No state. */
#include <netdb.h>
#include <stdlib.h>

#include "errors.h"

const char *netd_errno_name(int err)
{
        switch (abs(err)) {
#define NETD_ERRNO_NAME_(name, msg) \
        case name:                  \
                return #name;
                NETD_ERRNO_MAP(NETD_ERRNO_NAME_)
#undef NETD_ERRNO_NAME_
        default:
                return "UNKNOWN";
        }
}

const char *netd_strerror(int err)
{
        switch (abs(err)) {
#define NETD_ERRNO_TEXT_(name, msg) \
        case name:                  \
                return msg;
                NETD_ERRNO_MAP(NETD_ERRNO_TEXT_)
#undef NETD_ERRNO_TEXT_
        default:
                return "unknown error";
        }
}

static const char *const err_names[_NETD_ERR_MAX] = {
#define NETD_ERR_NAME_(name, msg) [NETD_##name] = #name,
        NETD_ERR_MAP(NETD_ERR_NAME_)
#undef NETD_ERR_NAME_
};

static const char *const err_messages[_NETD_ERR_MAX] = {
#define NETD_ERR_MSG_(name, msg) [NETD_##name] = msg,
        NETD_ERR_MAP(NETD_ERR_MSG_)
#undef NETD_ERR_MSG_
};

const char *netd_err_to_string(enum netd_err e)
{
        if (e < 0 || e >= _NETD_ERR_MAX)
                return "UNKNOWN";
        return err_names[e];
}

const char *netd_err_message(enum netd_err e)
{
        if (e < 0 || e >= _NETD_ERR_MAX)
                return "unknown error";
        return err_messages[e];
}

void netd_eai_describe(int eai, const char **ret_code, int *ret_errno)
{
        /* libevent's EVUTIL_EAI_* equal the libc values on glibc. */
        switch (eai) {
        case EAI_NONAME:
        case EAI_NODATA:
                *ret_code = "ENOTFOUND";
                *ret_errno = -3008;
                return;
        case EAI_AGAIN:
                *ret_code = "EAI_AGAIN";
                *ret_errno = -3001;
                return;
        case EAI_FAIL:
                *ret_code = "EAI_FAIL";
                *ret_errno = -3004;
                return;
        case EAI_FAMILY:
                *ret_code = "EAI_FAMILY";
                *ret_errno = -3005;
                return;
        case EAI_MEMORY:
                *ret_code = "EAI_MEMORY";
                *ret_errno = -3006;
                return;
        case EAI_CANCELED:
                *ret_code = "EAI_CANCELED";
                *ret_errno = -3003;
                return;
        default:
                *ret_code = "EAI_FAIL";
                *ret_errno = -3004;
                return;
        }
}
