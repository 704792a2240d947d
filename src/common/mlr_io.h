/* Reading a whole stream into memory, for the small inputs that are read that way (SQL from
 * stdin, PEM files, an Arrow stream that cannot be mapped). */
#ifndef MLR_IO_H
#define MLR_IO_H

#include <stddef.h>
#include <stdio.h>

/* Reads f to its end into a new NUL-terminated buffer; *len (may be NULL) excludes the NUL.
 * Returns 0, ENOMEM, EFBIG (more than limit bytes; 0 = no limit) or EIO (a read error; errno
 * says which). Ownership: on 0 the caller frees *out; on error *out is NULL. f stays open. */
int mlr_read_all(FILE *f, size_t limit, char **out, size_t *len);

#endif /* MLR_IO_H */
