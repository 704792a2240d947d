/* A minimal unit-test harness for C: checks that record failures without stopping,
 * and a main() that runs the listed tests and exits non-zero if any check failed. */
#ifndef MTEST_H
#define MTEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int mtest_failures = 0;
static int mtest_checks = 0;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    mtest_checks++;                                                                                \
    if (!(cond)) {                                                                                 \
      mtest_failures++;                                                                            \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                     \
    }                                                                                              \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
  do {                                                                                             \
    long long mt_a_ = (long long)(a), mt_b_ = (long long)(b);                                      \
    mtest_checks++;                                                                                \
    if (mt_a_ != mt_b_) {                                                                          \
      mtest_failures++;                                                                            \
      fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, \
              #a, #b, mt_a_, mt_b_);                                                               \
    }                                                                                              \
  } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
  do {                                                                                             \
    const char *mt_a_ = (a), *mt_b_ = (b);                                                         \
    mtest_checks++;                                                                                \
    if (mt_a_ == NULL || mt_b_ == NULL || strcmp(mt_a_, mt_b_) != 0) {                             \
      mtest_failures++;                                                                            \
      fprintf(stderr, "%s:%d: CHECK_EQ_STR failed: %s == %s (\"%s\" vs \"%s\")\n", __FILE__,       \
              __LINE__, #a, #b, mt_a_ ? mt_a_ : "(null)", mt_b_ ? mt_b_ : "(null)");               \
    }                                                                                              \
  } while (0)

/* Like CHECK but also stops the current test function (use when later steps would crash). */
#define REQUIRE(cond)                                                                              \
  do {                                                                                             \
    int mt_ok_ = (cond) ? 1 : 0; /* evaluated once: cond may have side effects */                  \
    mtest_checks++;                                                                                \
    if (!mt_ok_) {                                                                                 \
      mtest_failures++;                                                                            \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);                   \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

typedef void (*mtest_fn)(void);
typedef struct {
  const char *name;
  mtest_fn fn;
} mtest_case;

#define MTEST_MAIN(...)                                                                            \
  int main(void) {                                                                                 \
    mtest_case cases[] = {__VA_ARGS__};                                                            \
    size_t n = sizeof cases / sizeof cases[0];                                                     \
    for (size_t i = 0; i < n; i++) {                                                               \
      int before = mtest_failures;                                                                 \
      cases[i].fn();                                                                               \
      fprintf(stderr, "[%s] %s\n", mtest_failures == before ? " ok " : "FAIL", cases[i].name);     \
    }                                                                                              \
    fprintf(stderr, "%d checks, %d failures\n", mtest_checks, mtest_failures);                     \
    return mtest_failures == 0 && mtest_checks > 0 ? 0 : 1;                                        \
  }

#define MTEST(fn)                                                                                  \
  { #fn, fn }

#endif /* MTEST_H */
