/*
 * Logging to stderr. Under systemd (JOURNAL_STREAM set) lines carry the
 * "<N>" syslog priority prefix journald understands; otherwise a readable
 * "netd[pid]: level: " prefix. The level is the one global besides arg_*.
 */
#pragma once

#include <stdarg.h>

enum netd_log_level {
        NETD_LOG_ERR = 3,
        NETD_LOG_WARNING = 4,
        NETD_LOG_NOTICE = 5,
        NETD_LOG_INFO = 6,
        NETD_LOG_DEBUG = 7,
};

extern int netd_log_max_level;

/* Parses "err", "warning", "notice", "info" or "debug". Returns the level or -EINVAL. */
int netd_log_level_from_string(const char *s);

/* Writes one line at level; a "\n" is added. */
void netd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define netd_log_at_(level, ...)                        \
        do {                                            \
                if (netd_log_max_level >= (level))      \
                        netd_log((level), __VA_ARGS__); \
        } while (0)

#define log_error(...)   netd_log_at_(NETD_LOG_ERR, __VA_ARGS__)
#define log_warning(...) netd_log_at_(NETD_LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  netd_log_at_(NETD_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    netd_log_at_(NETD_LOG_INFO, __VA_ARGS__)
#define log_debug(...)   netd_log_at_(NETD_LOG_DEBUG, __VA_ARGS__)
