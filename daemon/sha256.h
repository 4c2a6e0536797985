/*
 * SHA-256 (FIPS 180-4), small and dependency-free: netd needs one one-way
 * function, to name a detached session's descriptors in systemd's fd store
 * by a hash of its token instead of the token itself (notify.h). Pulling in
 * OpenSSL or libgcrypt for that would be a new dependency of the daemon;
 * libevent and jansson have none. Test vectors: tests/unit/test-notify.c.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define NETD_SHA256_BYTES 32

struct netd_sha256 {
        uint32_t h[8];
        uint64_t len; /* bytes hashed so far */
        uint8_t buf[64];
        size_t n; /* bytes in buf */
};

void netd_sha256_init(struct netd_sha256 *s);
void netd_sha256_update(struct netd_sha256 *s, const void *data, size_t len);
/* Writes the digest to out and leaves s to be initialised again. */
void netd_sha256_final(struct netd_sha256 *s, uint8_t out[NETD_SHA256_BYTES]);

/* The digest of data as 64 lowercase hex characters and a NUL (hex: 65 bytes). */
void netd_sha256_hex(const void *data, size_t len, char hex[2 * NETD_SHA256_BYTES + 1]);
