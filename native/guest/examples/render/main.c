/* render — the render-farm workload: ray-traces an image in tiles (shared out by vmid when the
 * program forks itself with clones=N), checksums every tile, then renders the same pixels again
 * in one row-major full-image pass and checks every tile's checksum against it. Every tile's
 * pixel checksum goes into the gathered digest (common/share.h): the master's last line
 * "render result digest=0x... items=<tiles> verified OK" is the same whatever the number of clones.
 * Args: width=320 height=240 tile=32 aa=1 ascii=0 clones=0 nvms=1 hints=1 */
#include <sfguest/args.h>
#include <sfguest/malloc.h>
#include <sfguest/stdio.h>
#include <sfguest/time.h>
#include "common/share.h"
#include "render/scene.h"

SF_PROGRAM_NAME("render");

/* A coarse luminance preview of the full image on the console. */
static void print_ascii(const uint32_t *img, const struct render_params *p) {
  static const char ramp[] = " .:-=+*#%@";
  const int cols = 64, rows = 24;
  for (int r = 0; r < rows; r++) {
    char line[65];
    for (int c = 0; c < cols; c++) {
      uint32_t px = img[(r * p->height / rows) * p->width + c * p->width / cols];
      int lum = (int)(((px >> 16) & 0xff) * 3 + ((px >> 8) & 0xff) * 6 + (px & 0xff)) / 10;
      line[c] = ramp[lum * 9 / 255];
    }
    line[cols] = 0;
    printf("|%s|\n", line);
  }
}

int main(int argc, char **argv) {
  unsigned long long w, h, tile, aa, ascii;
  struct share sh;
  if (sf_arg_u64(argc, argv, "width", 320, &w) || sf_arg_u64(argc, argv, "height", 240, &h) ||
      sf_arg_u64(argc, argv, "tile", 32, &tile) || sf_arg_u64(argc, argv, "aa", 1, &aa) ||
      sf_arg_u64(argc, argv, "ascii", 0, &ascii) || share_init(argc, argv, &sh) < 0)
    return 64;
  if (w < 1 || h < 1 || w > 8192 || h > 8192 || tile < 1 || tile > 512 || aa < 1 || aa > 8) {
    printf("need 1 <= width, height <= 8192, 1 <= tile <= 512, 1 <= aa <= 8\n");
    return 64;
  }
  struct render_params p = {(int)w, (int)h, (int)tile, (int)aa};
  int ntiles = render_tiles_x(&p) * render_tiles_y(&p);

  uint32_t *image = malloc(sizeof(uint32_t) * w * h);
  uint32_t *tilebuf = malloc(sizeof(uint32_t) * tile * tile);
  uint64_t *tile_sum = malloc(sizeof(uint64_t) * (size_t)ntiles);
  if (!image || !tilebuf || !tile_sum) {
    printf("render: out of memory for a %llux%llu image\n", w, h);
    return 1;
  }

  if (share_fork(&sh) < 0) return 2;
  sh.items = (unsigned long long)ntiles;

  /* Pass 1: this VM's tiles, each rendered on its own. */
  uint64_t t0 = sf_time_ns();
  int mine = 0;
  for (int t = 0; t < ntiles; t++) {
    if (!share_owns(&sh, (unsigned)t)) continue;
    int tw, th;
    render_tile(&p, t, tilebuf, &tw, &th);
    tile_sum[t] = pixels_checksum(tilebuf, p.tile, tw, th);
    mine++;
  }
  uint64_t tiles_ns = sf_time_ns() - t0;

  /* Pass 2: the same pixels, row-major over the whole image, then checksummed per tile. */
  t0 = sf_time_ns();
  uint32_t lo = 0xffffffff, hi = 0;
  for (int y = 0; y < p.height; y++) {
    for (int x = 0; x < p.width; x++) {
      if (!share_owns(&sh, (unsigned)render_tile_of(&p, x, y))) continue;
      uint32_t c = image[(long)y * p.width + x] = render_pixel(&p, x, y);
      if (c < lo) lo = c;
      if (c > hi) hi = c;
    }
  }
  uint64_t full_ns = sf_time_ns() - t0;

  int mismatches = 0;
  uint64_t image_sum = RENDER_FNV_BASIS;
  for (int t = 0; t < ntiles; t++) {
    if (!share_owns(&sh, (unsigned)t)) continue;
    int x0 = (t % render_tiles_x(&p)) * p.tile, y0 = (t / render_tiles_x(&p)) * p.tile;
    int tw = p.width - x0 < p.tile ? p.width - x0 : p.tile;
    int th = p.height - y0 < p.tile ? p.height - y0 : p.tile;
    uint64_t again = pixels_checksum(image + (long)y0 * p.width + x0, p.width, tw, th);
    if (again != tile_sum[t]) {
      printf("tile %d at (%d,%d): tile pass 0x%016llx, full pass 0x%016llx\n", t, x0, y0,
             (unsigned long long)tile_sum[t], (unsigned long long)again);
      mismatches++;
    }
    image_sum = fnv_fold(image_sum, tile_sum[t]);
    share_add(&sh, (unsigned)t, tile_sum[t]);
  }
  /* A blank image would match itself too: demand contrast. */
  int blank = mine > 0 && lo == hi;
  if (blank) printf("render: every pixel is 0x%06x: the scene is missing\n", lo);

  if (ascii && sh.nvms == 1) print_ascii(image, &p);
  int ok = !mismatches && !blank;
  printf(
      "render vmid=%u nvms=%u %dx%d tile=%d aa=%d tiles=%d/%d checksum=0x%016llx tiles_ns=%llu "
      "full_ns=%llu %s\n",
      sh.vmid, sh.nvms, p.width, p.height, p.tile, p.aa, mine, ntiles, (unsigned long long)image_sum,
      (unsigned long long)tiles_ns, (unsigned long long)full_ns, ok ? "OK" : "MISMATCH");
  return share_finish(&sh, ok ? 0 : 1);
}
