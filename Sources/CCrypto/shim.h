#ifndef SQUEEZE_CCRYPTO_SHIM_H
#define SQUEEZE_CCRYPTO_SHIM_H
// OpenSSL's libcrypto, for SHA-256 of recipe sources and artifacts (SHA-NI where the CPU has it).
// The SHA256_* functions run without OpenSSL's provider machinery, whose first use costs ~1 ms of
// initialisation on every start; they are deprecated in 3.0 but kept, and suppressing the warning
// here keeps it out of the Swift build.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>

typedef struct { SHA256_CTX ctx; } squeeze_sha256_ctx;

static inline void squeeze_sha256_init(squeeze_sha256_ctx *c) { SHA256_Init(&c->ctx); }
static inline void squeeze_sha256_update(squeeze_sha256_ctx *c, const void *data, size_t n) { SHA256_Update(&c->ctx, data, n); }
static inline void squeeze_sha256_final(squeeze_sha256_ctx *c, unsigned char *digest32) { SHA256_Final(digest32, &c->ctx); }
#endif
