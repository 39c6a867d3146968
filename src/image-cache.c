/* image-cache.c - reference-counted cross K/V and the engine's LRU image cache. */
#include "image-cache.h"

#include <stdlib.h>

llv_kv_ref *llv_kv_ref_new(llv_cross_kv *kv) {
    llv_kv_ref *r = malloc(sizeof *r);
    if (!r) {
        llv_cross_kv_free(kv);
        return NULL;
    }
    r->kv = kv;
    r->refs = 1;
    return r;
}

/* Atomic: sessions attached to one engine share entries of its cache. */
llv_kv_ref *llv_kv_ref_retain(llv_kv_ref *r) {
    if (r) __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
    return r;
}

void llv_kv_ref_release(llv_kv_ref *r) {
    if (!r || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
    llv_cross_kv_free(r->kv);
    free(r);
}

#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const void *bytes, size_t n) {
    const uint8_t *p = bytes;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* the length and the settings, so equal prefixes or other tilings differ */
static uint64_t fnv_tail(uint64_t h, uint64_t n, const int32_t *settings, size_t n_settings) {
    for (int b = 0; b < 8; b++) {
        h ^= (n >> (8 * b)) & 0xff;
        h *= FNV_PRIME;
    }
    for (size_t i = 0; i < n_settings; i++)
        for (int b = 0; b < 4; b++) {
            h ^= ((uint32_t)settings[i] >> (8 * b)) & 0xff;
            h *= FNV_PRIME;
        }
    return h;
}

uint64_t llv_image_hash(const void *bytes, size_t n, const int32_t *settings, size_t n_settings) {
    return fnv_tail(fnv(0xcbf29ce484222325ull, bytes, n), n, settings, n_settings);
}

uint64_t llv_image_hash_rgb(int32_t width, int32_t height, size_t stride, const uint8_t *rgb,
                            const int32_t *settings, size_t n_settings) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int32_t y = 0; y < height; y++) h = fnv(h, rgb + (size_t)y * stride, (size_t)width * 3);
    /* the shape too (the same bytes as 2x3 or 3x2), and a word an encoded file's hash does not end with */
    const int32_t shape[3] = {width, height, -1};
    h = fnv_tail(h, (uint64_t)width * (uint64_t)height * 3, settings, n_settings);
    return fnv_tail(h, 0, shape, 3);
}

llv_status llv_image_cache_init(llv_image_cache *c, size_t cap, llv_error *err) {
    c->e = NULL;
    c->n = 0;
    c->cap = cap;
    c->clock = 0;
    if (cap == 0) return LLV_OK;
    size_t bytes;
    if (!llv_mul_size(cap, sizeof *c->e, &bytes) || !(c->e = calloc(1, bytes)))
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "image cache of %zu entries: out of memory", cap);
    return LLV_OK;
}

void llv_image_cache_free(llv_image_cache *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) llv_kv_ref_release(c->e[i].ref);
    free(c->e);
    c->e = NULL;
    c->n = 0;
}

llv_kv_ref *llv_image_cache_get(llv_image_cache *c, uint64_t hash) {
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].hash == hash) {
            c->e[i].stamp = ++c->clock;
            return llv_kv_ref_retain(c->e[i].ref);
        }
    return NULL;
}

void llv_image_cache_put(llv_image_cache *c, uint64_t hash, llv_kv_ref *r) {
    if (c->cap == 0 || !r) return;
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].hash == hash) {
            llv_kv_ref_release(c->e[i].ref);
            c->e[i].ref = llv_kv_ref_retain(r);
            c->e[i].stamp = ++c->clock;
            return;
        }
    size_t slot = c->n;
    if (c->n == c->cap) { /* evict the least recently used */
        slot = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->e[i].stamp < c->e[slot].stamp) slot = i;
        llv_kv_ref_release(c->e[slot].ref);
    } else {
        c->n++;
    }
    c->e[slot].hash = hash;
    c->e[slot].ref = llv_kv_ref_retain(r);
    c->e[slot].stamp = ++c->clock;
}

size_t llv_image_cache_bytes(const llv_image_cache *c) {
    size_t total = 0;
    for (size_t i = 0; i < c->n; i++) total += llv_cross_kv_bytes(c->e[i].ref->kv);
    return total;
}
