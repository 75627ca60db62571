/* One dense f32 GEMM through OpenBLAS, shaped like the layer's projection: C[M,N] = A[M,K] * B[N,K]^T
 * (x @ W.T, row-major, B transposed).  Threads: OPENBLAS_NUM_THREADS (checked and printed).
 *
 *   sgemm_openblas [M=4096] [N=768] [K=768] [REPS=10]
 * prints: sgemm_openblas threads=T m=M n=N k=K gflops=<best> median_gflops=<median>
 * Build: cc -O2 sgemm_openblas.c -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern int openblas_get_num_threads(void);

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  int M = argc > 1 ? atoi(argv[1]) : 4096;
  int N = argc > 2 ? atoi(argv[2]) : 768;
  int K = argc > 3 ? atoi(argv[3]) : 768;
  int reps = argc > 4 ? atoi(argv[4]) : 10;
  if (reps < 1 || reps > 1000) return 2;
  float *A = aligned_alloc(64, sizeof(float) * M * K), *B = aligned_alloc(64, sizeof(float) * N * K),
        *C = aligned_alloc(64, sizeof(float) * M * N);
  for (long i = 0; i < (long)M * K; ++i) A[i] = (float)((i * 7) % 13) * 0.01f - 0.06f;
  for (long i = 0; i < (long)N * K; ++i) B[i] = (float)((i * 5) % 11) * 0.01f - 0.05f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
  double *g = malloc(sizeof(double) * reps);
  for (int r = 0; r < reps; ++r) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
    g[r] = 2.0 * M * N * K / (now() - t0) * 1e-9;
  }
  qsort(g, reps, sizeof(double), cmp);
  printf("sgemm_openblas threads=%d m=%d n=%d k=%d gflops=%.2f median_gflops=%.2f (c0 %g)\n",
         openblas_get_num_threads(), M, N, K, g[reps - 1], g[reps / 2], (double)C[0]);
  return 0;
}
