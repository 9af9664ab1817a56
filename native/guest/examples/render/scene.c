/* The ray tracer behind the render workload (see scene.h). Doubles throughout (SSE2), no libm:
 * square roots are sqrtsd, powers are repeated squaring, so results are bit-identical on every
 * x86-64 VM of a cluster and on the host. */
#include "render/scene.h"
#include <sfguest/math.h>

struct vec {
  double x, y, z;
};

static struct vec v3(double x, double y, double z) {
  struct vec v = {x, y, z};
  return v;
}
static struct vec add(struct vec a, struct vec b) { return v3(a.x + b.x, a.y + b.y, a.z + b.z); }
static struct vec sub(struct vec a, struct vec b) { return v3(a.x - b.x, a.y - b.y, a.z - b.z); }
static struct vec scale(struct vec a, double s) { return v3(a.x * s, a.y * s, a.z * s); }
static double dot(struct vec a, struct vec b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
static struct vec norm(struct vec a) { return scale(a, 1.0 / sf_sqrt(dot(a, a))); }

struct sphere {
  struct vec center;
  double radius;
  struct vec color;
  double reflect;
};

static const struct sphere spheres[] = {
    {{-1.15, 0.6, 0.9}, 0.6, {0.90, 0.20, 0.20}, 0.20},
    {{0.35, 0.9, 1.9}, 0.9, {0.85, 0.85, 0.95}, 0.60},
    {{1.35, 0.4, 0.4}, 0.4, {0.20, 0.80, 0.30}, 0.10},
};
#define NSPHERES (int)(sizeof spheres / sizeof spheres[0])
#define PLANE_REFLECT 0.15
#define MAX_DEPTH 3
#define EPS 1e-6

static const struct vec light_pos = {-3.0, 5.0, -4.0};
static const struct vec camera = {0.0, 1.1, -3.6};

/* Nearest hit along the ray: distance, or -1. *what: sphere index, or NSPHERES for the plane. */
static double intersect(struct vec o, struct vec d, int *what) {
  double best = -1;
  for (int i = 0; i < NSPHERES; i++) {
    struct vec oc = sub(o, spheres[i].center);
    double b = dot(oc, d), c = dot(oc, oc) - spheres[i].radius * spheres[i].radius;
    double disc = b * b - c;
    if (disc < 0) continue;
    double s = sf_sqrt(disc), t = -b - s;
    if (t < EPS) t = -b + s;
    if (t > EPS && (best < 0 || t < best)) {
      best = t;
      *what = i;
    }
  }
  if (d.y < -EPS) { /* the plane y = 0 */
    double t = -o.y / d.y;
    if (t > EPS && (best < 0 || t < best)) {
      best = t;
      *what = NSPHERES;
    }
  }
  return best;
}

static struct vec sky(struct vec d) {
  double k = 0.5 + 0.5 * d.y;
  return add(scale(v3(1.0, 1.0, 1.0), 1.0 - k), scale(v3(0.45, 0.65, 1.0), k));
}

static struct vec trace(struct vec o, struct vec d, int depth) {
  int what = -1;
  double t = intersect(o, d, &what);
  if (t < 0) return sky(d);
  struct vec p = add(o, scale(d, t)), n, base;
  double reflect;
  if (what < NSPHERES) {
    n = norm(sub(p, spheres[what].center));
    base = spheres[what].color;
    reflect = spheres[what].reflect;
  } else {
    n = v3(0, 1, 0);
    int check = ((int)sf_floor(p.x) + (int)sf_floor(p.z)) & 1;
    base = check ? v3(0.9, 0.9, 0.9) : v3(0.15, 0.2, 0.45);
    reflect = PLANE_REFLECT;
  }
  struct vec to_light = sub(light_pos, p);
  double light_dist = sf_sqrt(dot(to_light, to_light));
  struct vec l = scale(to_light, 1.0 / light_dist);
  struct vec po = add(p, scale(n, 1e-4)); /* step off the surface against self-shadowing */
  int dummy;
  double blocker = intersect(po, l, &dummy);
  int lit = blocker < 0 || blocker > light_dist;
  double diffuse = lit ? sf_fmax(0.0, dot(n, l)) : 0.0;
  struct vec r = sub(d, scale(n, 2.0 * dot(d, n))); /* mirror direction */
  double spec = lit ? 0.5 * sf_powi(sf_fmax(0.0, dot(r, l)), 32) : 0.0;
  struct vec c = add(scale(base, 0.12 + 0.88 * diffuse), v3(spec, spec, spec));
  if (depth < MAX_DEPTH && reflect > 0) {
    struct vec rc = trace(po, norm(r), depth + 1);
    c = add(scale(c, 1.0 - reflect), scale(rc, reflect));
  }
  return c;
}

static int to_byte(double c) { return (int)(sf_clamp01(c) * 255.0 + 0.5); }

uint32_t render_pixel(const struct render_params *p, int x, int y) {
  struct vec sum = v3(0, 0, 0);
  const double aspect = (double)p->width / p->height, half_fov = 0.6;
  for (int sy = 0; sy < p->aa; sy++) {
    for (int sx = 0; sx < p->aa; sx++) {
      double u = (2.0 * (x + (sx + 0.5) / p->aa) / p->width - 1.0) * aspect * half_fov;
      double v = (1.0 - 2.0 * (y + (sy + 0.5) / p->aa) / p->height) * half_fov;
      sum = add(sum, trace(camera, norm(v3(u, v - 0.2, 1.0)), 0));
    }
  }
  sum = scale(sum, 1.0 / (p->aa * p->aa));
  return (uint32_t)(to_byte(sum.x) << 16 | to_byte(sum.y) << 8 | to_byte(sum.z));
}

void render_tile(const struct render_params *p, int t, uint32_t *out, int *w, int *h) {
  int x0 = (t % render_tiles_x(p)) * p->tile, y0 = (t / render_tiles_x(p)) * p->tile;
  *w = p->width - x0 < p->tile ? p->width - x0 : p->tile;
  *h = p->height - y0 < p->tile ? p->height - y0 : p->tile;
  for (int y = 0; y < *h; y++)
    for (int x = 0; x < *w; x++) out[y * p->tile + x] = render_pixel(p, x0 + x, y0 + y);
}

uint64_t fnv_fold(uint64_t hash, uint64_t value) {
  for (int i = 0; i < 8; i++, value >>= 8) hash = (hash ^ (value & 0xff)) * 0x100000001b3ull;
  return hash;
}

uint64_t pixels_checksum(const uint32_t *pix, int stride, int w, int h) {
  uint64_t hash = RENDER_FNV_BASIS;
  for (int y = 0; y < h; y++) {
    for (int x = 0; x < w; x++) {
      uint32_t c = pix[y * stride + x];
      hash = (hash ^ ((c >> 16) & 0xff)) * 0x100000001b3ull;
      hash = (hash ^ ((c >> 8) & 0xff)) * 0x100000001b3ull;
      hash = (hash ^ (c & 0xff)) * 0x100000001b3ull;
    }
  }
  return hash;
}
