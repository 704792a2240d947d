/* Absolute deadlines for pthread_cond_timedwait: the time now on a clock plus a duration
 * (the condition variable must wait on the same clock). */
#ifndef MLR_TIME_H
#define MLR_TIME_H

#include <stdint.h>
#include <time.h>

static inline struct timespec mlr_deadline_after_ns(clockid_t clock, int64_t ns) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  if (ns < 0) ns = 0;
  ts.tv_sec += (time_t)(ns / 1000000000);
  ts.tv_nsec += (long)(ns % 1000000000);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

static inline struct timespec mlr_deadline_after_ms(clockid_t clock, int64_t ms) {
  return mlr_deadline_after_ns(clock, ms * 1000000);
}

#endif /* MLR_TIME_H */
