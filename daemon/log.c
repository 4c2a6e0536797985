/* Log output (see log.h). Owns the global log level and nothing else. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int netd_log_max_level = NETD_LOG_INFO;

static const char *const level_names[] = {
        [NETD_LOG_ERR] = "error", [NETD_LOG_WARNING] = "warning", [NETD_LOG_NOTICE] = "notice",
        [NETD_LOG_INFO] = "info", [NETD_LOG_DEBUG] = "debug",
};

int netd_log_level_from_string(const char *s)
{
        for (int i = NETD_LOG_ERR; i <= NETD_LOG_DEBUG; i++)
                if (strcmp(s, level_names[i]) == 0)
                        return i;
        if (strcmp(s, "err") == 0)
                return NETD_LOG_ERR;
        return -EINVAL;
}

void netd_log(int level, const char *fmt, ...)
{
        static int journal = -1;
        char line[2048];
        va_list ap;
        int saved = errno;

        if (journal < 0)
                journal = getenv("JOURNAL_STREAM") != NULL;
        va_start(ap, fmt);
        (void)vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (journal)
                fprintf(stderr, "<%d>%s\n", level, line);
        else
                fprintf(stderr, "netd[%d]: %s: %s\n", (int)getpid(), level_names[level], line);
        errno = saved;
}
