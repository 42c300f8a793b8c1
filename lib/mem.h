/* mem: allocation wrappers.
 *
 * Like redis' zmalloc, an allocation failure is not something aigw can
 * recover from meaningfully (every caller would turn it into the same
 * failure), so these abort with a message instead of returning NULL. This
 * keeps every other function free of out-of-memory branches that would
 * never be tested. */
#ifndef AIGW_MEM_H
#define AIGW_MEM_H

#include <stddef.h>

void *aigw_malloc(size_t n);
void *aigw_calloc(size_t count, size_t size);
void *aigw_realloc(void *p, size_t n);
char *aigw_strdup(const char *s);
char *aigw_strndup(const char *s, size_t n);

#endif
