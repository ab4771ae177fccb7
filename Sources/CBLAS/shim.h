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

// OpenBLAS's idle worker threads spin (sched_yield) for 2^28 cycles after start-up and after every
// call before they sleep: on a 2-core machine that is a whole core taken from the interpreter's own
// threads for the first ~0.1 s of every process. OPENBLAS_THREAD_TIMEOUT shortens the spin, but it
// is read only when the library loads; these exported entry points re-read it and restart the pool.
void openblas_read_env(void);
void blas_thread_shutdown_(void);
int blas_thread_init(void);
#include <stdlib.h>
static inline void squeeze_blas_set_thread_timeout(int log2_cycles) {
    char value[8];
    value[0] = (char)('0' + log2_cycles / 10);
    value[1] = (char)('0' + log2_cycles % 10);
    value[2] = 0;
    setenv("OPENBLAS_THREAD_TIMEOUT", value, 0);   // an explicit setting by the user wins
    openblas_read_env();
    blas_thread_shutdown_();
    blas_thread_init();
}
#endif
