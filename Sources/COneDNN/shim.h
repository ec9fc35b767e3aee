// oneDNN's C API (Debian: libdnnl-dev, which ships no pkg-config file).
#include <oneapi/dnnl/dnnl.h>
#include <dlfcn.h>

// Debian builds oneDNN on OpenMP (libgomp). The thread count of OpenMP's parallel
// regions is per calling thread, so an engine instance sets it on the thread that runs
// its primitives instead of the process-wide OMP_NUM_THREADS. Looked up at run time
// because libgomp ships no development link; libdnnl has already loaded it.
static inline int sl_omp_set_threads(int n) {
    void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (!set) return 0;
    set(n);
    return 1;
}

static inline int sl_omp_max_threads(void) {
    int (*get)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    return get ? get() : 1;
}

// Argument indices are macros built from other macros; Swift sees them through these.
static const int SL_ARG_SRC = DNNL_ARG_SRC;
static const int SL_ARG_DST = DNNL_ARG_DST;
static const int SL_ARG_WEIGHTS = DNNL_ARG_WEIGHTS;
static const int SL_ARG_BIAS = DNNL_ARG_BIAS;
static const int SL_ARG_SCRATCHPAD = DNNL_ARG_SCRATCHPAD;
static const int SL_ARG_WORKSPACE = DNNL_ARG_WORKSPACE;
static const int SL_ARG_DIFF_SRC = DNNL_ARG_DIFF_SRC;
static const int SL_ARG_DIFF_DST = DNNL_ARG_DIFF_DST;
static const int SL_ARG_DIFF_WEIGHTS = DNNL_ARG_DIFF_WEIGHTS;
static const int SL_ARG_DIFF_BIAS = DNNL_ARG_DIFF_BIAS;
static const int SL_ARG_FROM = DNNL_ARG_FROM;
static const int SL_ARG_TO = DNNL_ARG_TO;
