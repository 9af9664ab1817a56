/* The tar reader (sfguest/tarfs.h): walks the 512-byte headers from sector 0, checks each one (magic, checksum,
 * octal fields, data inside the disk), joins ustar's prefix and name, takes GNU 'L' records as the next entry's
 * name, and reads file bytes through a one-sector bounce buffer at the edges. */
#include <sfguest/blk.h>
#include <sfguest/malloc.h>
#include <sfguest/stdio.h>
#include <sfguest/string.h>
#include <sfguest/tarfs.h>

#define BLOCK 512u

static char error[160];

const char *sf_tar_error(void) { return error; }

static int fail(int code, const char *what, uint64_t sector) {
  snprintf(error, sizeof error, "tar: %s (header at sector %llu)", what, (unsigned long long)sector);
  return -code;
}

/* An octal field: digits, optionally led by spaces and ended by NUL or space. -1 if malformed. */
static int octal(const uint8_t *field, unsigned len, uint64_t *out) {
  uint64_t v = 0;
  unsigned i = 0, digits = 0;
  while (i < len && field[i] == ' ') i++;
  for (; i < len && field[i] >= '0' && field[i] <= '7'; i++, digits++) {
    if (v >> 60) return -1;
    v = v * 8 + (uint64_t)(field[i] - '0');
  }
  for (; i < len; i++)
    if (field[i] != 0 && field[i] != ' ') return -1;
  if (!digits) return -1;
  *out = v;
  return 0;
}

static int all_zero(const uint8_t *b) {
  for (unsigned i = 0; i < BLOCK; i++)
    if (b[i]) return 0;
  return 1;
}

/* The header's checksum field against the sum of its bytes with that field read as spaces. */
static int checksum_ok(const uint8_t *h) {
  uint64_t stored;
  if (octal(h + 148, 8, &stored) < 0) return 0;
  uint64_t sum = 0;
  for (unsigned i = 0; i < BLOCK; i++) sum += (i >= 148 && i < 156) ? ' ' : h[i];
  return sum == stored;
}

static void copy_field(char *out, const uint8_t *field, unsigned len) {
  unsigned n = 0;
  while (n < len && field[n]) n++;
  memcpy(out, field, n);
  out[n] = 0;
}

static const char *strip_dot_slash(const char *p) {
  while (p[0] == '.' && p[1] == '/') p += 2;
  return p;
}

int sf_tar_find(const struct sf_tar *tar, const char *path, struct sf_file *out) {
  static uint8_t h[BLOCK];
  char longname[SF_TAR_NAME_MAX + 1];
  int have_longname = 0;
  path = strip_dot_slash(path);
  uint64_t sector = 0;
  while (sector < tar->sectors) {
    if (tar->read(tar->ctx, sector, h, 1) != 0) return fail(SF_TAR_EIO, "the disk could not be read", sector);
    if (all_zero(h)) break; /* the end-of-archive marker */
    if (memcmp(h + 257, "ustar", 5) != 0) return fail(SF_TAR_EBADTAR, "not a ustar header", sector);
    if (!checksum_ok(h)) return fail(SF_TAR_EBADTAR, "header checksum mismatch", sector);
    uint64_t size;
    if (octal(h + 124, 12, &size) < 0) return fail(SF_TAR_EBADTAR, "malformed size field", sector);
    const uint64_t data_blocks = (size + BLOCK - 1) / BLOCK;
    if (data_blocks > tar->sectors - sector - 1) return fail(SF_TAR_EBADTAR, "entry runs past the disk", sector);
    const char type = (char)h[156];
    if (type == 'L') { /* GNU: the next entry's full name, in this entry's data */
      uint64_t n = size < sizeof longname - 1 ? size : sizeof longname - 1;
      uint8_t buf[BLOCK];
      unsigned got = 0;
      for (uint64_t b = 0; got < n; b++) {
        if (tar->read(tar->ctx, sector + 1 + b, buf, 1) != 0)
          return fail(SF_TAR_EIO, "the disk could not be read", sector);
        unsigned take = n - got < BLOCK ? (unsigned)(n - got) : BLOCK;
        memcpy(longname + got, buf, take);
        got += take;
      }
      longname[n] = 0;
      have_longname = 1;
      sector += 1 + data_blocks;
      continue;
    }
    char name[SF_TAR_NAME_MAX + 1];
    if (have_longname) {
      memcpy(name, longname, sizeof name);
    } else {
      char prefix[156], base[101];
      copy_field(prefix, h + 345, 155);
      copy_field(base, h, 100);
      if (prefix[0]) snprintf(name, sizeof name, "%s/%s", prefix, base);
      else memcpy(name, base, sizeof base);
    }
    have_longname = 0;
    if ((type == '0' || type == 0 || type == '7') && strcmp(strip_dot_slash(name), path) == 0) {
      out->tar = tar;
      out->first_sector = sector + 1;
      out->size = size;
      snprintf(out->name, sizeof out->name, "%s", strip_dot_slash(name));
      return 0;
    }
    /* Directories, links and pax records carry no data to read (or it is skipped as a whole). */
    sector += 1 + data_blocks;
  }
  snprintf(error, sizeof error, "tar: %s is not in the archive", path);
  return -SF_TAR_ENOENT;
}

long sf_tar_read(const struct sf_file *f, uint64_t offset, void *buf, uint64_t len) {
  if (offset >= f->size) return 0;
  if (len > f->size - offset) len = f->size - offset;
  uint8_t *out = buf;
  uint64_t done = 0;
  static uint8_t bounce[BLOCK];
  while (done < len) {
    uint64_t pos = offset + done, sector = f->first_sector + pos / BLOCK;
    unsigned skip = (unsigned)(pos % BLOCK);
    uint64_t left = len - done;
    if (skip == 0 && left >= BLOCK) { /* whole sectors straight into the caller's buffer */
      uint64_t n = left / BLOCK;
      if (n > SF_BLK_MAX_SECTORS) n = SF_BLK_MAX_SECTORS;
      if (f->tar->read(f->tar->ctx, sector, out + done, (uint32_t)n) != 0) goto io;
      done += n * BLOCK;
      continue;
    }
    if (f->tar->read(f->tar->ctx, sector, bounce, 1) != 0) goto io;
    uint64_t take = BLOCK - skip < left ? BLOCK - skip : left;
    memcpy(out + done, bounce + skip, take);
    done += take;
  }
  return (long)done;
io:
  snprintf(error, sizeof error, "tar: reading %s failed", f->name);
  return -1;
}

static int disk_read(void *ctx, uint64_t sector, void *buf, uint32_t count) {
  (void)ctx;
  return sf_blk_read(sector, buf, count);
}

static struct sf_tar disk_tar = {disk_read, 0, 0};

struct sf_file *sf_file_open(const char *path) {
  disk_tar.sectors = sf_blk_sectors();
  if (!disk_tar.sectors) {
    snprintf(error, sizeof error, "tar: this VM has no disk (give it one: the disk option, disk_image)");
    return 0;
  }
  struct sf_file *f = malloc(sizeof *f);
  if (!f) {
    snprintf(error, sizeof error, "tar: out of memory");
    return 0;
  }
  if (sf_tar_find(&disk_tar, path, f) != 0) {
    free(f);
    return 0;
  }
  return f;
}

long sf_file_read(struct sf_file *f, uint64_t offset, void *buf, uint64_t len) {
  return sf_tar_read(f, offset, buf, len);
}
uint64_t sf_file_size(const struct sf_file *f) { return f->size; }
void sf_file_close(struct sf_file *f) { free(f); }
