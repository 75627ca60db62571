/* Streaming-read bandwidth: each thread sums its own slice of a large f32 buffer (first-touched by
 * that thread) with 4 independent AVX2 accumulators; wall time between barriers, best of REPS.
 *
 *   stream_read [THREADS=1] [MIB=1024] [REPS=5]
 * prints: stream_read threads=T mib=M gbps=<best, 1e9 bytes/s>
 * Build: cc -O2 -mavx2 -mfma -pthread stream_read.c -o stream_read
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

typedef struct {
  float *buf;
  size_t n; /* floats, multiple of 32 */
  int reps;
  double t0[64], t1[64];
  float sink;
} slice_t;

static pthread_barrier_t barrier;

static float sum(const float *p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

static void *worker(void *arg) {
  slice_t *s = (slice_t *)arg;
  if (posix_memalign((void **)&s->buf, 4096, s->n * sizeof(float))) abort();
  for (size_t i = 0; i < s->n; ++i) s->buf[i] = (float)(i & 7); /* first touch by this thread */
  float acc = 0;
  for (int r = 0; r < s->reps; ++r) {
    pthread_barrier_wait(&barrier);
    s->t0[r] = now();
    acc += sum(s->buf, s->n);
    s->t1[r] = now();
  }
  s->sink = acc;
  free(s->buf);
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  double mib = argc > 2 ? atof(argv[2]) : 1024;
  int reps = argc > 3 ? atoi(argv[3]) : 5;
  if (threads < 1 || threads > 64 || reps < 1 || reps > 64) return 2;
  size_t per = (size_t)(mib * 1048576.0 / sizeof(float) / threads) / 32 * 32;
  slice_t sl[64];
  pthread_t tid[64];
  memset(sl, 0, sizeof sl);
  pthread_barrier_init(&barrier, NULL, threads);
  for (int t = 0; t < threads; ++t) {
    sl[t].n = per;
    sl[t].reps = reps;
    pthread_create(&tid[t], NULL, worker, &sl[t]);
  }
  float sink = 0;
  for (int t = 0; t < threads; ++t) { pthread_join(tid[t], NULL); sink += sl[t].sink; }
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    double t0 = sl[0].t0[r], t1 = sl[0].t1[r];
    for (int t = 1; t < threads; ++t) {
      if (sl[t].t0[r] < t0) t0 = sl[t].t0[r];
      if (sl[t].t1[r] > t1) t1 = sl[t].t1[r];
    }
    double g = (double)per * threads * sizeof(float) / (t1 - t0) * 1e-9;
    if (g > best) best = g;
  }
  printf("stream_read threads=%d mib=%.0f gbps=%.2f (sink %g)\n", threads, mib, best, (double)sink);
  return 0;
}
