#ifndef SQUEEZE_CCRYPTO_SHIM_H
#define SQUEEZE_CCRYPTO_SHIM_H
// OpenSSL's libcrypto, for SHA-256 of recipe sources and artifacts (SHA-NI where the CPU has it).
#include <openssl/evp.h>
#endif
