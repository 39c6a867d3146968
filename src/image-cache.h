/* image-cache.h - an engine's cache of images' cross-attention K/V keyed by a
 * 64-bit hash of the encoded bytes and the preprocessing settings, so asking
 * about the same image again does not re-run the vision encoder. Entries are
 * reference-counted: a conversation image and the cache may share one. */
#ifndef LLV_IMAGE_CACHE_H
#define LLV_IMAGE_CACHE_H

#include "cross-kv.h"

typedef struct llv_kv_ref {
    llv_cross_kv *kv;
    int           refs;
} llv_kv_ref;

/* Takes ownership of kv; refs = 1. NULL on allocation failure (kv is freed). */
llv_kv_ref *llv_kv_ref_new(llv_cross_kv *kv);
llv_kv_ref *llv_kv_ref_retain(llv_kv_ref *r);
void        llv_kv_ref_release(llv_kv_ref *r); /* NULL is a no-op */

/* FNV-1a 64 over the bytes, then over the length and the settings words. */
uint64_t llv_image_hash(const void *bytes, size_t n, const int32_t *settings, size_t n_settings);
/* The same over the rows of an RGB image (width * 3 bytes each, `stride`
 * apart), with its shape mixed in last: the same bytes as an encoded file or
 * in another shape hash differently. */
uint64_t llv_image_hash_rgb(int32_t width, int32_t height, size_t stride, const uint8_t *rgb,
                            const int32_t *settings, size_t n_settings);

typedef struct llv_image_cache_entry {
    uint64_t    hash;
    llv_kv_ref *ref;   /* one reference held by the cache */
    uint64_t    stamp; /* last use, for LRU eviction      */
} llv_image_cache_entry;

typedef struct llv_image_cache {
    llv_image_cache_entry *e;
    size_t                 n, cap;
    uint64_t               clock;
} llv_image_cache;

/* cap = 0 disables caching. */
llv_status  llv_image_cache_init(llv_image_cache *c, size_t cap, llv_error *err);
void        llv_image_cache_free(llv_image_cache *c);
/* Returns a new reference to the entry, or NULL on a miss. */
llv_kv_ref *llv_image_cache_get(llv_image_cache *c, uint64_t hash);
/* Stores (a new reference to) r under hash, evicting the least recently used. */
void        llv_image_cache_put(llv_image_cache *c, uint64_t hash, llv_kv_ref *r);
size_t      llv_image_cache_bytes(const llv_image_cache *c);

#endif
