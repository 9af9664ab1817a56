/* Host tests of lib/malloc.c on a private arena: alignment, contents under a random workload
 * checked against a shadow model, coalescing, exhaustion, double-free detection, and that the
 * fresh-page hints cover exactly the pages the heap reached, page-aligned, once each (and stop
 * when a benchmark turns them off). */
#include <setjmp.h>
#include <sfguest/malloc.h>
#include <sfguest/prng.h>
#include <sfguest/string.h>
#include <stdint.h>
#include "shim.h"
#include "test.h"

/* The hints must tile [arena, arena + heap_bytes) exactly, in order, with whole pages. */
static int hints_tile_heap(const char *arena) {
  struct sf_heap_stats st;
  sf_heap_stats(&st);
  uintptr_t expect = (uintptr_t)arena;
  size_t pages = 0;
  for (int i = 0; i < shim.nhints; i++) {
    if (shim.hints[i].gpa != expect || shim.hints[i].gpa % SF_PAGE_SIZE || !shim.hints[i].npages) return 0;
    expect += shim.hints[i].npages * SF_PAGE_SIZE;
    pages += shim.hints[i].npages;
  }
  return expect == (uintptr_t)arena + st.heap_bytes && pages == st.fresh_pages && (size_t)shim.nhints == st.hint_calls;
}

static void test_basics(void) {
  size_t arena_size;
  char *arena = shim_heap_arena(&arena_size);
  shim_reset();
  shim_heap_reset();
  CHECK(sf_heap_check() == 0);
  CHECK(shim.nhints == 0); /* nothing touched before the first allocation */

  void *a = malloc(0), *b = malloc(0);
  CHECK(a && b && a != b);
  CHECK(((uintptr_t)a & 15) == 0 && ((uintptr_t)b & 15) == 0);
  CHECK(shim.nhints == 1 && hints_tile_heap(arena));
  free(a);
  free(b);
  free(0);
  CHECK(sf_heap_check() == 0);

  /* Coalescing: three neighbours freed in any order leave one block that fits them all. */
  struct sf_heap_stats st0, st1;
  char *x = malloc(1000), *y = malloc(1000), *z = malloc(1000);
  CHECK(x && y && z && x < y && y < z);
  sf_heap_stats(&st0);
  free(y);
  free(x);
  free(z);
  CHECK(sf_heap_check() == 0);
  char *all = malloc(3000);
  sf_heap_stats(&st1);
  CHECK(all == x && st1.heap_bytes == st0.heap_bytes);
  free(all);

  /* calloc really zeroes (fresh pages are not promised zero) and refuses overflow. */
  char *dirty = malloc(4096);
  memset(dirty, 0xEE, 4096);
  free(dirty);
  unsigned char *c = calloc(64, 64);
  int nonzero = 0;
  for (int i = 0; i < 4096; i++) nonzero += c[i] != 0;
  CHECK(c && nonzero == 0);
  free(c);
  CHECK(calloc((size_t)1 << 40, (size_t)1 << 40) == 0);

  /* Exhaustion gives NULL, not a crash, and leaves the heap usable. */
  CHECK(malloc(arena_size) == 0);
  CHECK(malloc((size_t)-1) == 0);
  CHECK(malloc((size_t)-100) == 0);
  void *big = malloc(arena_size / 2);
  CHECK(big != 0);
  CHECK(malloc(arena_size / 2) == 0);
  free(big);
  CHECK(sf_heap_check() == 0);
  CHECK(hints_tile_heap(arena));

  /* aligned_alloc */
  for (size_t al = 32; al <= 65536; al *= 2) {
    void *p = aligned_alloc(al, 100);
    CHECKF(p && ((uintptr_t)p % al) == 0, "align %zu", al);
    memset(p, 1, 100);
    free(p);
  }
  CHECK(aligned_alloc(48, 10) == 0); /* not a power of two */
  CHECK(sf_heap_check() == 0);

  /* realloc keeps contents while growing in place, moving and shrinking. */
  char *r = malloc(10);
  memcpy(r, "0123456789", 10);
  r = realloc(r, 5000);
  CHECK(r && memcmp(r, "0123456789", 10) == 0);
  char *blocker = malloc(16);
  r = realloc(r, 100000);
  CHECK(r && memcmp(r, "0123456789", 10) == 0);
  r = realloc(r, 3);
  CHECK(r && memcmp(r, "012", 3) == 0);
  CHECK(realloc(r, 0) == 0);
  free(blocker);
  CHECK(sf_heap_check() == 0);
}

static void test_double_free(void) {
  jmp_buf jb;
  shim_heap_reset();
  void *p = malloc(64);
  free(p);
  shim.catcher = &jb;
  shim.panic_msg[0] = 0;
  if (setjmp(jb) == 0) {
    free(p);
    CHECK(!"double free went unnoticed");
  } else {
    CHECKF(strstr(shim.panic_msg, "double free") != 0, "panic: %s", shim.panic_msg);
  }
  if (setjmp(jb) == 0) {
    int local;
    free(&local);
    CHECK(!"freeing a stack address went unnoticed");
  } else {
    CHECK(shim.panic_msg[0] != 0);
  }
  shim.catcher = 0;
}

static void test_hint_overwrite(void) {
  shim_reset();
  size_t size;
  char *arena = shim_heap_arena(&size);
  (void)size;
  sf_hint_overwrite(arena + 100, 3 * SF_PAGE_SIZE); /* covers pages 1 and 2 fully, not 0 or 3 */
  CHECK(shim.nhints == 1 && shim.hints[0].gpa == (uintptr_t)arena + SF_PAGE_SIZE && shim.hints[0].npages == 2);
  sf_hint_overwrite(arena + 100, 200); /* no whole page: no hypercall */
  CHECK(shim.nhints == 1);
}

/* sf_malloc_set_hints(0): the heap grows silently (a benchmark's "without hints" run), explicit
 * hints still go out, and turning hints back on (or a new heap) hints the next growth again. */
static void test_hints_off(void) {
  shim_reset();
  shim_heap_reset();
  sf_malloc_set_hints(0);
  char *a = malloc(200000);
  CHECK(a && shim.nhints == 0 && shim.calls[SF_HC_FRESH_PAGES] == 0);
  struct sf_heap_stats st;
  sf_heap_stats(&st);
  CHECK(st.fresh_pages == 0 && st.hint_calls == 0 && st.heap_bytes >= 200000);
  sf_hint_overwrite(a, 2 * SF_PAGE_SIZE + SF_PAGE_SIZE); /* the program's own hint is honoured */
  CHECK(shim.nhints == 1);
  sf_malloc_set_hints(1);
  char *b = malloc(200000);
  CHECK(b && shim.nhints == 2 && shim.hints[1].gpa % SF_PAGE_SIZE == 0);
  CHECK(sf_heap_check() == 0);
  sf_malloc_set_hints(0);
  shim_heap_reset(); /* sf_heap_init restores the default */
  CHECK(malloc(10) != 0 && shim.nhints == 1);
}

#define SLOTS 512

static void test_random_workload(void) {
  size_t arena_size;
  char *arena = shim_heap_arena(&arena_size);
  shim_reset();
  shim_heap_reset();
  struct {
    unsigned char *p;
    size_t n;
    unsigned char fill;
  } slot[SLOTS];
  memset(slot, 0, sizeof slot);
  struct sf_prng r;
  sf_prng_seed(&r, 12345);
  int content_errors = 0, check_errors = 0, alignment_errors = 0;
  for (int op = 0; op < 60000; op++) {
    int i = (int)sf_prng_below(&r, SLOTS);
    uint32_t kind = sf_prng_below(&r, 10);
    size_t n = sf_prng_below(&r, 4) == 0 ? sf_prng_below(&r, 200000) : sf_prng_below(&r, 600);
    if (slot[i].p) {
      for (size_t k = 0; k < slot[i].n; k++) content_errors += slot[i].p[k] != slot[i].fill;
    }
    if (kind < 4 || !slot[i].p) {
      free(slot[i].p);
      size_t al = (size_t)1 << (4 + sf_prng_below(&r, 9));
      slot[i].p = kind == 9 ? aligned_alloc(al, n) : malloc(n);
      if (kind == 9 && slot[i].p && ((uintptr_t)slot[i].p % al)) alignment_errors++;
      slot[i].n = slot[i].p ? n : 0;
    } else if (kind < 7) {
      unsigned char *q = realloc(slot[i].p, n);
      if (q || n == 0) {
        slot[i].p = q;
        size_t keep = slot[i].n < n ? slot[i].n : n;
        for (size_t k = 0; k < keep; k++) content_errors += q[k] != slot[i].fill;
        slot[i].n = q ? n : 0;
      }
    } else {
      free(slot[i].p);
      slot[i].p = 0;
      slot[i].n = 0;
    }
    slot[i].fill = (unsigned char)sf_prng_next(&r);
    if (slot[i].p) memset(slot[i].p, slot[i].fill, slot[i].n);
    if (op % 997 == 0) check_errors += sf_heap_check() != 0;
  }
  CHECKF(content_errors == 0, "%d corrupted bytes", content_errors);
  CHECK(alignment_errors == 0);
  CHECK(check_errors == 0);
  for (int i = 0; i < SLOTS; i++) free(slot[i].p);
  struct sf_heap_stats st;
  sf_heap_stats(&st);
  CHECKF(st.used_bytes == 0 && sf_heap_check() == 0, "%zu bytes still used", st.used_bytes);
  CHECK(hints_tile_heap(arena));
  CHECKF(st.heap_bytes <= arena_size, "heap %zu", st.heap_bytes);
}

void test_malloc(void) {
  test_basics();
  test_double_free();
  test_hint_overwrite();
  test_hints_off();
  test_random_workload();
  shim_heap_reset();
}
