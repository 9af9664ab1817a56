/* The render-farm workload's renderer: a small ray tracer (three spheres over a checkered plane,
 * one point light with shadows, specular highlights, mirror reflections, optional supersampling)
 * whose pixels are pure functions of (x, y), so any tiling renders the same image. */
#ifndef RENDER_SCENE_H
#define RENDER_SCENE_H

#include <stdint.h>

struct render_params {
  int width, height; /* pixels */
  int tile;          /* tile edge in pixels; edge tiles may be smaller */
  int aa;            /* aa x aa samples per pixel */
};

/* 0x00RRGGBB of pixel (x, y), y = 0 at the top. */
uint32_t render_pixel(const struct render_params *p, int x, int y);

static inline int render_tiles_x(const struct render_params *p) { return (p->width + p->tile - 1) / p->tile; }
static inline int render_tiles_y(const struct render_params *p) { return (p->height + p->tile - 1) / p->tile; }

/* Renders tile t (row-major tile order) into out (tile * tile pixels, row stride = tile);
 * *w and *h get the tile's real size. */
void render_tile(const struct render_params *p, int t, uint32_t *out, int *w, int *h);
/* The tile t that pixel (x, y) belongs to. */
static inline int render_tile_of(const struct render_params *p, int x, int y) {
  return (y / p->tile) * render_tiles_x(p) + x / p->tile;
}

/* FNV-1a 64 over the R, G, B bytes of a w x h block of pixels, row by row. */
uint64_t pixels_checksum(const uint32_t *pix, int stride, int w, int h);
/* Folds one 64-bit value into a running FNV-1a 64 hash (start with RENDER_FNV_BASIS). */
uint64_t fnv_fold(uint64_t hash, uint64_t value);
#define RENDER_FNV_BASIS 0xcbf29ce484222325ull

#endif /* RENDER_SCENE_H */
