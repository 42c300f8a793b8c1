/* pool: a region allocator for memory that dies together (a request, a
 * parsed config file). Everything allocated from a pool is freed at once by
 * aigw_pool_free, after the registered cleanup hooks run in reverse order
 * (so a hook can close an fd or release an object the pool points to). */
#ifndef AIGW_POOL_H
#define AIGW_POOL_H

#include <stddef.h>

struct aigw_pool;

/* block_size is the size of each chunk taken from malloc (0 = 4 KiB). */
struct aigw_pool *aigw_pool_new(size_t block_size);
void aigw_pool_free(struct aigw_pool *pool); /* NULL is a no-op */
/* Memory aligned for any type; never NULL (aborts on OOM like mem.h). */
void *aigw_pool_alloc(struct aigw_pool *pool, size_t n);
void *aigw_pool_calloc(struct aigw_pool *pool, size_t n);
char *aigw_pool_strdup(struct aigw_pool *pool, const char *s);
char *aigw_pool_strndup(struct aigw_pool *pool, const char *s, size_t n);
char *aigw_pool_printf(struct aigw_pool *pool, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Runs fn(arg) when the pool is freed. */
void aigw_pool_cleanup(struct aigw_pool *pool, void (*fn)(void *), void *arg);
/* Frees everything but the first block and runs the cleanups, so a pool
 * can be reused for the next request on a keep-alive connection without
 * going back to malloc. */
void aigw_pool_reset(struct aigw_pool *pool);
/* Bytes handed out since creation or the last reset (for tests/metrics). */
size_t aigw_pool_used(const struct aigw_pool *pool);

#endif
