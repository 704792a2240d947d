/* mlr_read_all: a whole stream into one NUL-terminated buffer, bounded. */
#include "common/mlr_io.h"
#include "mtest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static FILE *holding(size_t n) {
  FILE *f = tmpfile();
  if (f == NULL) abort();
  for (size_t i = 0; i < n; i++) fputc('a' + (int)(i % 26), f);
  rewind(f);
  return f;
}

static void test_reads_everything(void) {
  /* Sizes around the buffer's growth steps (4096, 8192, ...). */
  static const size_t sizes[] = {0, 1, 4095, 4096, 4097, 100000};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    FILE *f = holding(sizes[k]);
    char *buf = NULL;
    size_t len = 99;
    CHECK_EQ_INT(mlr_read_all(f, 0, &buf, &len), 0);
    REQUIRE(buf != NULL);
    CHECK_EQ_INT(len, sizes[k]);
    CHECK_EQ_INT(strlen(buf), sizes[k]);
    if (sizes[k] > 0) CHECK(buf[sizes[k] - 1] == 'a' + (int)((sizes[k] - 1) % 26));
    free(buf);
    fclose(f);
  }
}

static void test_limit(void) {
  FILE *f = holding(5000);
  char *buf = (char *)1;
  CHECK_EQ_INT(mlr_read_all(f, 4999, &buf, NULL), EFBIG);
  CHECK(buf == NULL);
  rewind(f);
  CHECK_EQ_INT(mlr_read_all(f, 5000, &buf, NULL), 0);
  free(buf);
  fclose(f);
}

MTEST_MAIN(MTEST(test_reads_everything), MTEST(test_limit))
