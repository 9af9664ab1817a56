/* Host tests of the render workload: the checksum function on a known input, tile renders equal
 * to full-image renders for even and ragged tilings and with supersampling, and an image with
 * actual content (sky on top, something else below). Prints the default image's checksum so a
 * guest run can be compared with the host. */
#include <sfguest/malloc.h>
#include <stdint.h>
#include "render/scene.h"
#include "shim.h"
#include "test.h"

static int tiles_match_full(const struct render_params *p) {
  uint32_t *img = malloc(sizeof(uint32_t) * (size_t)(p->width * p->height));
  uint32_t *tile = malloc(sizeof(uint32_t) * (size_t)(p->tile * p->tile));
  int bad = 0;
  for (int y = 0; y < p->height; y++)
    for (int x = 0; x < p->width; x++) img[y * p->width + x] = render_pixel(p, x, y);
  int n = render_tiles_x(p) * render_tiles_y(p), covered = 0;
  for (int t = 0; t < n; t++) {
    int w, h;
    render_tile(p, t, tile, &w, &h);
    int x0 = (t % render_tiles_x(p)) * p->tile, y0 = (t / render_tiles_x(p)) * p->tile;
    bad += pixels_checksum(tile, p->tile, w, h) != pixels_checksum(img + y0 * p->width + x0, p->width, w, h);
    bad += render_tile_of(p, x0 + w - 1, y0 + h - 1) != t;
    covered += w * h;
  }
  bad += covered != p->width * p->height;
  free(tile);
  free(img);
  return bad;
}

void test_render(void) {
  shim_heap_reset();
  uint32_t px = 0x010203;
  CHECK(pixels_checksum(&px, 1, 1, 1) == 0xd0aa6218672cf5abull); /* FNV-1a 64 of 01 02 03 */
  CHECK(fnv_fold(RENDER_FNV_BASIS, 0) != RENDER_FNV_BASIS);

  struct render_params even = {64, 48, 16, 1}, ragged = {50, 30, 16, 1}, aa = {40, 30, 7, 2};
  CHECK(tiles_match_full(&even) == 0);
  CHECK(tiles_match_full(&ragged) == 0);
  CHECK(tiles_match_full(&aa) == 0);

  struct render_params p = {320, 240, 32, 1};
  uint32_t top = render_pixel(&p, 160, 0), bottom = render_pixel(&p, 160, 239);
  CHECKF((top & 0xff) > ((top >> 16) & 0xff), "top pixel 0x%06x is not sky-blue", top);
  CHECKF(top != bottom, "top and bottom both 0x%06x", top);
  /* A sphere is in the middle of the picture: the centre is neither sky nor the top pixel. */
  uint32_t centre = render_pixel(&p, 170, 110);
  CHECK(centre != top);

  /* The default image's checksum, as the render guest computes it (tiles in order). */
  uint32_t *tile = malloc(sizeof(uint32_t) * 32 * 32);
  uint64_t sum = RENDER_FNV_BASIS;
  for (int t = 0; t < render_tiles_x(&p) * render_tiles_y(&p); t++) {
    int w, h;
    render_tile(&p, t, tile, &w, &h);
    sum = fnv_fold(sum, pixels_checksum(tile, p.tile, w, h));
  }
  free(tile);
  t_note("render: default 320x240 tile=32 aa=1 checksum=0x%016llx (compare with the guest)", (unsigned long long)sum);
}
