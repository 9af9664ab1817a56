/* The flat-guest heap (lib/malloc.c): first-fit with boundary tags, growing from the end of the
 * image towards the top of RAM. Pages it reaches for the first time are announced to the VMM with
 * SF_HC_FRESH_PAGES (their old contents never matter), so a clone never fetches them. */
#ifndef SFGUEST_MALLOC_H
#define SFGUEST_MALLOC_H

#include <stddef.h>

void *malloc(size_t size); /* 16-byte aligned; NULL when the heap is exhausted */
void free(void *p);
void *calloc(size_t n, size_t size); /* zeroes explicitly: fresh pages are not promised zero */
void *realloc(void *p, size_t size);
void *aligned_alloc(size_t align, size_t size); /* align: a power of two */

/* Hints that the whole pages inside [p, p + len) will be overwritten before they are read, so a
 * clone need not fetch them from its parent. Call it only if that is true. */
void sf_hint_overwrite(void *p, size_t len);

/* on = 0 stops malloc's own SF_HC_FRESH_PAGES hints for pages the heap reaches from now on (on = 1,
 * the default, restores them), so a benchmark can count the pages a clone fetches with and without
 * the enlightenment. Explicit sf_hint_overwrite calls are not affected. sf_heap_init turns it on. */
void sf_malloc_set_hints(int on);

/* Sets the heap to [start, limit); both are page-aligned inwards. Called once by the C runtime
 * (and by host tests on their own arena). Nothing is touched until the first allocation. */
void sf_heap_init(void *start, void *limit);

struct sf_heap_stats {
  size_t arena_bytes; /* limit - start */
  size_t heap_bytes;  /* reached so far (the break) */
  size_t used_bytes;  /* in allocated blocks, headers included */
  size_t free_bytes;  /* in free blocks below the break */
  size_t fresh_pages; /* announced with SF_HC_FRESH_PAGES */
  size_t hint_calls;  /* SF_HC_FRESH_PAGES hypercalls issued */
};
void sf_heap_stats(struct sf_heap_stats *out);
/* Walks every block and checks the heap's invariants: 0 if sound, else a negative step number. */
int sf_heap_check(void);

#endif /* SFGUEST_MALLOC_H */
