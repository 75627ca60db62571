/* f32 FMA peak: each thread runs a loop of 24 vfmadd231ps per iteration into 12 independent
 * ymm accumulators (ymm0..ymm11, sources ymm12/ymm13); built with -DFMA_ZMM the same loop on zmm
 * registers (16 lanes, the AVX-512 peak).  The loop body is inline asm, so the compiler
 * can neither merge the accumulators nor drop the work; bench/run.sh checks the binary with objdump.
 *
 *   fma_peak [THREADS=1] [SECONDS=0.3] [REPS=5]
 * prints: fma_peak threads=T gflops=<best over REPS> ghz_equiv=<gflops/(32*T)>
 * (32 = 2 FMA ports x 8 lanes x 2 flops per cycle per core).
 * Built with -DFMA_ZMM -DDPBF16, the loop is of vdpbf16ps (AVX512-BF16: two multiply-adds of
 * bf16 pairs per f32 lane), the peak of mhmoe's --matmul-precision=bf16 kernels.
 * Build: cc -O2 -mavx2 -mfma -pthread fma_peak.c -o fma_peak
 *        cc -O2 -mavx512f -DFMA_ZMM -pthread fma_peak.c -o fma_peak_avx512
 *        cc -O2 -mavx512f -mavx512bf16 -DFMA_ZMM -DDPBF16 -pthread fma_peak.c -o dpbf16_peak
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef FMA_ZMM
#define VREG "zmm"
#define LANES 16
#else
#define VREG "ymm"
#define LANES 8
#endif
#define FMAS_PER_ITER 24 /* 2 x 12 accumulators */
#ifdef DPBF16
#define FMA_OP "vdpbf16ps"
#define FLOPS_PER_ITER (FMAS_PER_ITER * LANES * 4) /* two multiply-adds per lane */
#else
#define FMA_OP "vfmadd231ps"
#define FLOPS_PER_ITER (FMAS_PER_ITER * LANES * 2)
#endif

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

#define FMA(r) FMA_OP " %%" VREG "12, %%" VREG "13, %%" VREG #r "\n\t"
#define FMA12 FMA(0) FMA(1) FMA(2) FMA(3) FMA(4) FMA(5) FMA(6) FMA(7) FMA(8) FMA(9) FMA(10) FMA(11)

static void fma_loop(long iters) {
  __asm__ volatile(
      "vxorps %%" VREG "0, %%" VREG "0, %%" VREG "0\n\t"
      "vxorps %%" VREG "1, %%" VREG "1, %%" VREG "1\n\t"
      "vxorps %%" VREG "2, %%" VREG "2, %%" VREG "2\n\t"
      "vxorps %%" VREG "3, %%" VREG "3, %%" VREG "3\n\t"
      "vxorps %%" VREG "4, %%" VREG "4, %%" VREG "4\n\t"
      "vxorps %%" VREG "5, %%" VREG "5, %%" VREG "5\n\t"
      "vxorps %%" VREG "6, %%" VREG "6, %%" VREG "6\n\t"
      "vxorps %%" VREG "7, %%" VREG "7, %%" VREG "7\n\t"
      "vxorps %%" VREG "8, %%" VREG "8, %%" VREG "8\n\t"
      "vxorps %%" VREG "9, %%" VREG "9, %%" VREG "9\n\t"
      "vxorps %%" VREG "10, %%" VREG "10, %%" VREG "10\n\t"
      "vxorps %%" VREG "11, %%" VREG "11, %%" VREG "11\n\t"
      "vxorps %%" VREG "12, %%" VREG "12, %%" VREG "12\n\t"
      "vxorps %%" VREG "13, %%" VREG "13, %%" VREG "13\n\t"
      "1:\n\t" FMA12 FMA12
      "dec %0\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : "+r"(iters)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "cc");
}

static pthread_barrier_t barrier;
static long g_iters;

static void *worker(void *arg) {
  (void)arg;
  pthread_barrier_wait(&barrier);
  fma_loop(g_iters);
  pthread_barrier_wait(&barrier);
  return NULL;
}

/* Runs `iters` iterations on each of `threads` threads; returns wall seconds between the barriers. */
static double run(int threads, long iters) {
  pthread_t tid[64];
  g_iters = iters;
  pthread_barrier_init(&barrier, NULL, threads + 1);
  for (int t = 0; t < threads; ++t) pthread_create(&tid[t], NULL, worker, NULL);
  pthread_barrier_wait(&barrier);
  double t0 = now();
  pthread_barrier_wait(&barrier);
  double t1 = now();
  for (int t = 0; t < threads; ++t) pthread_join(tid[t], NULL);
  pthread_barrier_destroy(&barrier);
  return t1 - t0;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  double seconds = argc > 2 ? atof(argv[2]) : 0.3;
  int reps = argc > 3 ? atoi(argv[3]) : 5;
  if (threads < 1 || threads > 64) return 2;
  /* calibrate the iteration count to about `seconds` per repetition */
  long iters = 1 << 16;
  double t = run(threads, iters);
  while (t < 0.05) { iters *= 4; t = run(threads, iters); }
  iters = (long)(iters * seconds / t) + 1;
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    double s = run(threads, iters);
    double g = (double)iters * FLOPS_PER_ITER * threads / s * 1e-9;
    if (g > best) best = g;
  }
  printf("fma_peak threads=%d gflops=%.2f ghz_equiv=%.3f\n", threads, best, best / (4.0 * LANES * threads));
  return 0;
}
