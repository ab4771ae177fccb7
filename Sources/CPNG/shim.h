#ifndef SQUEEZE_CPNG_SHIM_H
#define SQUEEZE_CPNG_SHIM_H
// Only libpng's simplified png_image_* API is used from Swift: it reports errors through
// return values, so no longjmp ever crosses Swift frames.
#include <png.h>
#endif
