#ifndef SQUEEZE_CZLIB_SHIM_H
#define SQUEEZE_CZLIB_SHIM_H
// zlib: deflate members of .npz archives and gzip-compressed IDX files.
#include <zlib.h>
// inflateInit2/deflateInit2 are macros over the _ variants with version and struct size.
static inline int squeeze_inflate_init(z_stream *s, int window_bits) { return inflateInit2(s, window_bits); }
static inline int squeeze_deflate_init(z_stream *s, int level, int window_bits) {
    return deflateInit2(s, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
}
#endif
