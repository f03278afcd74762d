/* One optimizer used from two threads at once: the second call fails with
 * OPTIM_ERROR_BUSY instead of racing the first; two optimizers run in
 * parallel freely. */
#define _POSIX_C_SOURCE 200809L
#include "optim/Runtime/optim-c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N (1 << 20)

static const char kSource[] =
    "optim.optimizer @s rule #optim.rule<momentum, momentum = 0.9> "
    "learning_rate 0.001 {\n"
    "  optim.param \"w\" : tensor<1048576xf32>\n"
    "}\n";

struct Job {
  OptimOptimizer *optimizer;
  float *w, *g, *m;
  atomic_int *stop;
  int steps, busy, other;
};

static void *stepLoop(void *arg) {
  struct Job *job = arg;
  void *params[1] = {job->w}, *grads[1] = {job->g}, *states[1] = {job->m};
  while (!atomic_load(job->stop) || job->steps == 0) {
    int status = optimStep(job->optimizer, params, grads, states, NULL);
    if (status == 0)
      ++job->steps;
    else if (status == OPTIM_ERROR_BUSY)
      ++job->busy;
    else
      ++job->other;
  }
  return NULL;
}

static struct Job makeJob(OptimOptimizer *o, atomic_int *stop) {
  struct Job job;
  memset(&job, 0, sizeof(job));
  job.optimizer = o;
  job.w = calloc(N, sizeof(float));
  job.g = calloc(N, sizeof(float));
  job.m = calloc(N, sizeof(float));
  job.stop = stop;
  return job;
}

int main(void) {
  char *error = NULL;
  OptimOptimizer *o = optimCompile(kSource, strlen(kSource), NULL, &error);
  OptimOptimizer *other = optimCompile(kSource, strlen(kSource), NULL, &error);
  if (!o || !other) {
    printf("compile failed: %s\n", error);
    return 1;
  }
  optimSetNumThreads(o, 1, NULL);
  optimSetNumThreads(other, 1, NULL);
  atomic_int stop = 0;
  struct Job job = makeJob(o, &stop), otherJob = makeJob(other, &stop);
  pthread_t thread, otherThread;
  pthread_create(&thread, NULL, stepLoop, &job);
  pthread_create(&otherThread, NULL, stepLoop, &otherJob);

  /* Change `o` while its thread steps it, until a call is refused (at most
   * 60 s; the steps take nearly all the thread's time). */
  int busy = 0, failed = 0;
  char *message = NULL;
  time_t start = time(NULL);
  while (!busy && time(NULL) - start < 60) {
    /* Pauses leave the stepping thread room to start its steps (each takes
     * about a millisecond). */
    struct timespec pause = {0, 20000};
    nanosleep(&pause, NULL);
    char *e = NULL;
    int status = optimSetHyperParam(o, 0, "learning_rate", 0.001, &e);
    if (status == OPTIM_ERROR_BUSY) {
      busy = 1;
      message = e;
      continue;
    }
    if (status != 0)
      ++failed;
    optimFreeError(e);
  }
  /* Destroying an optimizer in use is refused too. */
  int destroyBusy = 0;
  while (!destroyBusy && time(NULL) - start < 60) {
    struct timespec pause = {0, 20000};
    nanosleep(&pause, NULL);
    int status = optimDestroy(o);
    if (status == 0) {
      printf("destroyed while in use?\n");
      return 1;
    }
    destroyBusy = status == OPTIM_ERROR_BUSY;
  }
  atomic_store(&stop, 1);
  pthread_join(thread, NULL);
  pthread_join(otherThread, NULL);
  printf("busy seen %d: %s\n", busy, message ? message : "");
  printf("destroy busy %d\n", destroyBusy);
  printf("other errors %d %d %d\n", failed, job.other, otherJob.other);
  printf("both stepped %d\n", job.steps > 0 && otherJob.steps > 0);
  /* Every successful step counted once. */
  printf("counted %d\n", optimGlobalStep(o) == job.steps &&
                             optimGlobalStep(other) == otherJob.steps);
  optimFreeError(message);
  printf("destroy %d %d\n", optimDestroy(o), optimDestroy(other));
  free(job.w), free(job.g), free(job.m);
  free(otherJob.w), free(otherJob.g), free(otherJob.m);
  return 0;
}
