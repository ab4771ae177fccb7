#ifndef SQUEEZE_CBLAS_SHIM_H
#define SQUEEZE_CBLAS_SHIM_H
// OpenBLAS's CBLAS (Debian puts cblas.h under the multiarch include dir) plus LAPACKE.
#include <stddef.h>
#include <x86_64-linux-gnu/cblas.h>
#define LAPACK_COMPLEX_STRUCTURE
#include <lapacke.h>

// OpenBLAS extensions (declared in openblas_config.h / cblas.h of OpenBLAS builds).
char *openblas_get_config(void);
char *openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);
#endif
