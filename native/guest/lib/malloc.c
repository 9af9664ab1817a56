/* The flat-guest heap: first-fit over a LIFO free list, boundary tags (every header records the
 * previous block's size) for O(1) coalescing, and a 16-byte end sentinel at the break. The break
 * moves up in 64 KiB steps; every page it newly covers is announced with SF_HC_FRESH_PAGES, since
 * nothing in it has ever been written: a clone then never fetches it from its parent (unless a
 * benchmark turned that off with sf_malloc_set_hints(0) to measure the difference). */
#include <sfguest/hypercall.h>
#include <sfguest/malloc.h>
#include <sfguest/smp.h>
#include <sfguest/stdlib.h>
#include <sfguest/string.h>
#include <stdint.h>

#define HDR 16u       /* header size; payloads are 16-byte aligned */
#define MIN_BLOCK 32u /* header + the two free-list links */
#define GROW_STEP (64u * 1024u)
#define PAGE SF_PAGE_SIZE
#define USED 1u

struct blk {
  size_t prev_size; /* size of the block just below; 0 for the first block */
  size_t size;      /* whole block, header included; bit 0 = in use */
};
struct fblk {
  struct blk h;
  struct fblk *next, *prev;
};

static uintptr_t heap_lo, heap_brk, heap_limit;
static struct fblk *free_head;
static size_t fresh_pages, hint_calls;
static int auto_hints = 1; /* grow() announces fresh pages; off only to measure what they save */

static uintptr_t align_up(uintptr_t v, uintptr_t a) { return (v + a - 1) & ~(a - 1); }
static uintptr_t align_down(uintptr_t v, uintptr_t a) { return v & ~(a - 1); }

static size_t bsize(const struct blk *b) { return b->size & ~(size_t)15; }
static int used(const struct blk *b) { return (int)(b->size & USED); }
static struct blk *next_blk(struct blk *b) { return (struct blk *)((char *)b + bsize(b)); }
static struct blk *prev_blk(struct blk *b) { return b->prev_size ? (struct blk *)((char *)b - b->prev_size) : 0; }
static struct blk *header_of(void *p) { return (struct blk *)((char *)p - HDR); }
static void *payload_of(struct blk *b) { return (char *)b + HDR; }

/* Sets a block's size and flag and keeps the next header's prev_size in step (the next block
 * always exists: at worst it is the sentinel). */
static void set_size(struct blk *b, size_t size, unsigned flag) {
  b->size = size | flag;
  next_blk(b)->prev_size = size;
}

static void list_insert(struct blk *b) {
  struct fblk *f = (struct fblk *)b;
  f->prev = 0;
  f->next = free_head;
  if (free_head) free_head->prev = f;
  free_head = f;
}

static void list_remove(struct blk *b) {
  struct fblk *f = (struct fblk *)b;
  if (f->prev) f->prev->next = f->next;
  else free_head = f->next;
  if (f->next) f->next->prev = f->prev;
}

static void hint_range(uintptr_t start, uintptr_t end) {
  start = align_up(start, PAGE);
  end = align_down(end, PAGE);
  if (end <= start) return;
  sf_hc_fresh_pages(start, (end - start) / PAGE);
  fresh_pages += (end - start) / PAGE;
  hint_calls++;
}

void sf_hint_overwrite(void *p, size_t len) { hint_range((uintptr_t)p, (uintptr_t)p + len); }

void sf_malloc_set_hints(int on) { auto_hints = on != 0; }

void sf_heap_init(void *start, void *limit) {
  heap_lo = align_up((uintptr_t)start, PAGE);
  heap_limit = align_down((uintptr_t)limit, PAGE);
  if (heap_limit < heap_lo) heap_limit = heap_lo;
  heap_brk = heap_lo;
  free_head = 0;
  fresh_pages = hint_calls = 0;
  auto_hints = 1;
}

/* Block size for a request of n bytes, or 0 if n is absurd. */
static size_t block_size_for(size_t n) {
  if (n > heap_limit - heap_lo) return 0;
  size_t need = (size_t)align_up(n + HDR, 16);
  return need < MIN_BLOCK ? MIN_BLOCK : need;
}

/* b is in use; gives its tail beyond `need` back as a free block if that is big enough. */
static void split_tail(struct blk *b, size_t need) {
  size_t total = bsize(b);
  if (total - need < MIN_BLOCK) return;
  set_size(b, need, USED);
  struct blk *r = next_blk(b);
  size_t rsize = total - need;
  struct blk *after = (struct blk *)((char *)r + rsize);
  if (!used(after)) {
    list_remove(after);
    rsize += bsize(after);
  }
  set_size(r, rsize, 0);
  list_insert(r);
}

/* Moves the break up so that a free block of at least `need` bytes ends at the sentinel.
 * Returns that block (on the free list), or 0 if RAM is exhausted. */
static struct blk *grow(size_t need) {
  uintptr_t old_brk = heap_brk;
  size_t have = 0;
  struct blk *last = 0;
  if (old_brk != heap_lo) {
    last = prev_blk((struct blk *)(old_brk - HDR));
    if (last && !used(last)) have = bsize(last);
  }
  size_t extra = need - have + (old_brk == heap_lo ? HDR : 0);
  uintptr_t new_brk = align_up(old_brk + extra, GROW_STEP);
  if (new_brk > heap_limit) new_brk = heap_limit;
  if (new_brk < old_brk + extra) return 0;

  /* Everything from the old break up has never been written: tell the VMM before touching it. */
  if (auto_hints) hint_range(old_brk, new_brk);
  heap_brk = new_brk;

  /* The new space becomes one free block starting where the old sentinel was. */
  struct blk *b = old_brk == heap_lo ? (struct blk *)heap_lo : (struct blk *)(old_brk - HDR);
  if (old_brk == heap_lo) b->prev_size = 0;
  struct blk *sentinel = (struct blk *)(new_brk - HDR);
  size_t size = (size_t)((uintptr_t)sentinel - (uintptr_t)b);
  sentinel->size = 0 | USED;
  set_size(b, size, 0);
  if (have) {
    list_remove(last);
    set_size(last, bsize(last) + size, 0);
    b = last;
  }
  list_insert(b);
  return b;
}

static void *malloc_unlocked(size_t n) {
  size_t need = block_size_for(n ? n : 1);
  if (!need) return 0;
  struct fblk *f = free_head;
  while (f && bsize(&f->h) < need) f = f->next;
  struct blk *b = f ? &f->h : grow(need);
  if (!b) return 0;
  list_remove(b);
  set_size(b, bsize(b), USED);
  split_tail(b, need);
  return payload_of(b);
}

/* Every vCPU may allocate (sfguest/smp.h): one lock around the whole heap. */
static sf_spinlock_t heap_lock = SF_SPINLOCK_INIT;

/* Called with heap_lock held: it is let go before a panic, which prints (and which the host tests survive). */
static struct blk *checked_header(void *p, const char *who) {
  struct blk *b = header_of(p);
  uintptr_t a = (uintptr_t)b;
  if (a < heap_lo || a + HDR > heap_brk || (a & 15) || !used(b) || bsize(b) < MIN_BLOCK) {
    sf_spin_unlock(&heap_lock);
    sf_panic("%s(%p): not an allocated block (double free or heap corruption)", who, p);
  }
  return b;
}

static void free_unlocked(void *p) {
  if (!p) return;
  struct blk *b = checked_header(p, "free");
  size_t size = bsize(b);
  struct blk *next = next_blk(b);
  if (!used(next)) {
    list_remove(next);
    size += bsize(next);
  }
  struct blk *prev = prev_blk(b);
  if (prev && !used(prev)) {
    list_remove(prev);
    size += bsize(prev);
    b = prev;
  }
  set_size(b, size, 0);
  list_insert(b);
}

void *calloc(size_t n, size_t size) {
  if (size && n > (size_t)-1 / size) return 0;
  void *p = malloc(n * size);
  if (p) memset(p, 0, n * size);
  return p;
}

static void *realloc_unlocked(void *p, size_t n) {
  if (!p) return malloc_unlocked(n);
  if (!n) {
    free_unlocked(p);
    return 0;
  }
  struct blk *b = checked_header(p, "realloc");
  size_t need = block_size_for(n);
  if (!need) return 0;
  size_t cur = bsize(b);
  if (need > cur) {
    struct blk *next = next_blk(b);
    if (used(next) || cur + bsize(next) < need) {
      void *q = malloc_unlocked(n);
      if (!q) return 0;
      memcpy(q, p, cur - HDR);
      free_unlocked(p);
      return q;
    }
    list_remove(next);
    set_size(b, cur + bsize(next), USED);
  }
  split_tail(b, need);
  return p;
}

static void *aligned_alloc_unlocked(size_t align, size_t n) {
  if (align & (align - 1)) return 0;
  if (align <= 16) return malloc_unlocked(n);
  if (n > (size_t)-1 - align - MIN_BLOCK) return 0;
  size_t need = block_size_for(n);
  if (!need) return 0;
  char *p = malloc_unlocked(n + align + MIN_BLOCK);
  if (!p) return 0;
  uintptr_t a = align_up((uintptr_t)p, align);
  while (a != (uintptr_t)p && a - (uintptr_t)p < MIN_BLOCK) a += align;
  struct blk *b = header_of(p);
  size_t gap = a - (uintptr_t)p;
  if (gap) {
    /* Give the front gap back as a free block; the aligned block starts after it. */
    size_t total = bsize(b);
    struct blk *nb = header_of((void *)a);
    nb->prev_size = gap;
    set_size(nb, total - gap, USED);
    b->size = gap;
    struct blk *prev = prev_blk(b);
    if (prev && !used(prev)) {
      list_remove(prev);
      set_size(prev, bsize(prev) + gap, 0);
      list_insert(prev);
    } else {
      list_insert(b);
    }
    b = nb;
  }
  split_tail(b, need);
  return (void *)a;
}

void *malloc(size_t n) {
  sf_spin_lock(&heap_lock);
  void *p = malloc_unlocked(n);
  sf_spin_unlock(&heap_lock);
  return p;
}

void free(void *p) {
  sf_spin_lock(&heap_lock);
  free_unlocked(p);
  sf_spin_unlock(&heap_lock);
}

void *realloc(void *p, size_t n) {
  sf_spin_lock(&heap_lock);
  void *q = realloc_unlocked(p, n);
  sf_spin_unlock(&heap_lock);
  return q;
}

void *aligned_alloc(size_t align, size_t n) {
  sf_spin_lock(&heap_lock);
  void *q = aligned_alloc_unlocked(align, n);
  sf_spin_unlock(&heap_lock);
  return q;
}

void sf_heap_stats(struct sf_heap_stats *out) {
  memset(out, 0, sizeof *out);
  out->arena_bytes = heap_limit - heap_lo;
  out->heap_bytes = heap_brk - heap_lo;
  out->fresh_pages = fresh_pages;
  out->hint_calls = hint_calls;
  if (heap_brk == heap_lo) return;
  for (struct blk *b = (struct blk *)heap_lo; bsize(b); b = next_blk(b)) {
    if (used(b)) out->used_bytes += bsize(b);
    else out->free_bytes += bsize(b);
  }
}

int sf_heap_check(void) {
  if (heap_brk == heap_lo) return free_head ? -1 : 0;
  size_t nfree = 0, prev_size = 0;
  int prev_free = 0;
  struct blk *b = (struct blk *)heap_lo;
  for (;;) {
    uintptr_t a = (uintptr_t)b;
    if (a & 15 || a + HDR > heap_brk) return -2;
    if (b->prev_size != prev_size) return -3;
    size_t s = bsize(b);
    if (s == 0) break; /* the sentinel */
    if (s < MIN_BLOCK || s & 15 || a + s > heap_brk - HDR) return -4;
    if (!used(b)) {
      if (prev_free) return -5; /* two free neighbours: a missed coalesce */
      nfree++;
    }
    prev_free = !used(b);
    prev_size = s;
    b = next_blk(b);
  }
  if ((uintptr_t)b != heap_brk - HDR || !used(b)) return -6;
  size_t listed = 0;
  for (struct fblk *f = free_head; f; f = f->next) {
    if ((uintptr_t)f < heap_lo || (uintptr_t)f >= heap_brk || used(&f->h)) return -7;
    if (f->next && f->next->prev != f) return -8;
    if (++listed > nfree) return -9;
  }
  return listed == nfree ? 0 : -10;
}
