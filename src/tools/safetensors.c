/* safetensors.c - safetensors reader: single files, sharded checkpoints
 * (model.safetensors.index.json) and directories. Files are mmapped; the JSON
 * header is parsed with cJSON and every shape/offset is checked against the
 * file before a pointer into it is handed out. */
#include "safetensors.h"

#include "mmap.h"
#include "../../kernels/kernels.h"
#include "utf8.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* 100 MiB, as the reference implementation */
#define ST_INDEX_NAME "model.safetensors.index.json"

typedef struct st_entry {
    llv_st_tensor t; /* first member: llv_st_tensor_at returns &entry->t */
    int           shard;
} st_entry;

typedef struct st_kv { char *key, *val; } st_kv;

typedef struct st_shard {
    char       *path;   /* label used in messages */
    const void *data;
    size_t      size;
    llv_mapping map;    /* unmapped on close; zeroed for memory */
    st_kv      *meta;
    size_t      n_meta;
} st_shard;

struct llv_st {
    st_shard *shards;
    int       n_shards;
    st_entry *entries;
    size_t    n, cap;
};

static const struct { const char *name; size_t size; } st_dtypes[] = {
    [LLV_ST_BOOL] = {"BOOL", 1},       [LLV_ST_U8] = {"U8", 1},     [LLV_ST_I8] = {"I8", 1},
    [LLV_ST_I16] = {"I16", 2},         [LLV_ST_U16] = {"U16", 2},   [LLV_ST_F16] = {"F16", 2},
    [LLV_ST_BF16] = {"BF16", 2},       [LLV_ST_I32] = {"I32", 4},   [LLV_ST_U32] = {"U32", 4},
    [LLV_ST_F32] = {"F32", 4},         [LLV_ST_I64] = {"I64", 8},   [LLV_ST_U64] = {"U64", 8},
    [LLV_ST_F64] = {"F64", 8},         [LLV_ST_F8_E4M3] = {"F8_E4M3", 1},
    [LLV_ST_F8_E5M2] = {"F8_E5M2", 1},
};
#define ST_N_DTYPES ((int)(sizeof st_dtypes / sizeof st_dtypes[0]))

size_t llv_st_dtype_size(llv_st_dtype t) {
    return ((int)t >= 0 && (int)t < ST_N_DTYPES) ? st_dtypes[t].size : 0;
}

const char *llv_st_dtype_name(llv_st_dtype t) {
    return ((int)t >= 0 && (int)t < ST_N_DTYPES) ? st_dtypes[t].name : "?";
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static bool st_json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!(d >= 0.0) || d >= 9007199254740992.0 || d != floor(d)) return false;
    *out = (uint64_t)d;
    return true;
}

static void st_shard_release(st_shard *sh) {
    llv_file_unmap(&sh->map);
    for (size_t i = 0; i < sh->n_meta; i++) {
        free(sh->meta[i].key);
        free(sh->meta[i].val);
    }
    free(sh->meta);
    free(sh->path);
    memset(sh, 0, sizeof *sh);
}

void llv_st_close(llv_st *st) {
    if (!st) return;
    for (int i = 0; i < st->n_shards; i++) st_shard_release(&st->shards[i]);
    free(st->shards);
    for (size_t i = 0; i < st->n; i++) free((char *)st->entries[i].t.name);
    free(st->entries);
    free(st);
}

static llv_status st_push(llv_st *st, const st_entry *e, llv_error *err) {
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        st_entry *p = realloc(st->entries, cap * sizeof *p);
        if (!p) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "safetensors: out of memory for %zu tensor entries", cap);
        st->entries = p;
        st->cap = cap;
    }
    st->entries[st->n++] = *e;
    return LLV_OK;
}

static llv_status st_parse_meta(st_shard *sh, const cJSON *meta, llv_error *err) {
    if (!cJSON_IsObject(meta))
        return llv_err(err, LLV_ERR_FORMAT, "%s: header key '__metadata__' (file bytes 8..): expected an object",
                       sh->path);
    size_t n = 0;
    for (const cJSON *c = meta->child; c; c = c->next) n++;
    if (n == 0) return LLV_OK;
    sh->meta = calloc(n, sizeof *sh->meta);
    if (!sh->meta) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory for metadata", sh->path);
    for (const cJSON *c = meta->child; c; c = c->next) {
        if (!cJSON_IsString(c) || !c->valuestring)
            return llv_err(err, LLV_ERR_FORMAT, "%s: __metadata__ entry '%s': expected a string value", sh->path,
                           c->string ? c->string : "");
        st_kv *kv = &sh->meta[sh->n_meta];
        kv->key = strdup(c->string ? c->string : "");
        kv->val = strdup(c->valuestring);
        if (!kv->key || !kv->val) {
            free(kv->key);
            free(kv->val);
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory for metadata", sh->path);
        }
        sh->n_meta++;
    }
    return LLV_OK;
}

static int st_find_dtype(const char *s) {
    for (int i = 0; i < ST_N_DTYPES; i++)
        if (strcmp(s, st_dtypes[i].name) == 0) return i;
    return -1;
}

/* Parses one tensor entry of a header into *e (name not yet copied). */
static llv_status st_parse_entry(const st_shard *sh, const cJSON *j, uint64_t data_start, st_entry *e,
                                 llv_error *err) {
    const char *name = j->string;
    const char *f = sh->path;
    if (!cJSON_IsObject(j)) return llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s': expected a JSON object", f, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(j, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!cJSON_IsString(jd) || !jd->valuestring)
        return llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s': expected a string 'dtype'", f, name);
    int dt = st_find_dtype(jd->valuestring);
    if (dt < 0)
        return llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%.40s' (expected one of BOOL, U8, I8, "
                       "I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64, F8_E4M3, F8_E5M2)", f, name,
                       jd->valuestring);
    if (!cJSON_IsArray(js)) return llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s': expected an array 'shape'", f, name);
    int nd = cJSON_GetArraySize(js);
    if (nd > LLV_ST_MAX_DIMS)
        return llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s': %d dimensions, at most %d supported", f, name, nd,
                       LLV_ST_MAX_DIMS);
    memset(e, 0, sizeof *e);
    e->t.dtype = (llv_st_dtype)dt;
    e->t.n_dims = nd;
    size_t numel = 1;
    int d = 0;
    for (const cJSON *c = js->child; c; c = c->next, d++) {
        uint64_t v;
        if (!st_json_uint(c, &v))
            return llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer < 2^53", f,
                           name, d);
        e->t.shape[d] = (int64_t)v;
        if (!llv_mul_size(numel, (size_t)v, &numel))
            return llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s': element count overflows at shape[%d] = %llu", f,
                           name, d, (unsigned long long)v);
    }
    size_t nbytes;
    if (!llv_mul_size(numel, st_dtypes[dt].size, &nbytes))
        return llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s': byte size overflows (%zu elements of %s)", f, name,
                       numel, st_dtypes[dt].name);
    uint64_t b, en;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !st_json_uint(jo->child, &b) ||
        !st_json_uint(jo->child->next, &en))
        return llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s': expected 'data_offsets' [begin, end] of non-negative "
                       "integers", f, name);
    if (en < b)
        return llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu): end before begin", f, name,
                       (unsigned long long)b, (unsigned long long)en);
    if (en - b != nbytes)
        return llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu) hold %llu bytes, expected %zu "
                       "(%zu x %s)", f, name, (unsigned long long)b, (unsigned long long)en,
                       (unsigned long long)(en - b), nbytes, numel, st_dtypes[dt].name);
    uint64_t avail = (uint64_t)sh->size - data_start;
    if (en > avail)
        return llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s': data at file bytes [%llu, %llu) extends past the end of "
                       "the file (%zu bytes)", f, name, (unsigned long long)(data_start + b),
                       (unsigned long long)(data_start + en), sh->size);
    e->t.data = (const unsigned char *)sh->data + data_start + b;
    e->t.nbytes = nbytes;
    return LLV_OK;
}

/* Parses the header of shard `si` and appends its tensors. */
static llv_status st_parse_shard(llv_st *st, int si, llv_error *err) {
    st_shard *sh = &st->shards[si];
    const unsigned char *p = sh->data;
    if (sh->size < 8)
        return llv_err(err, LLV_ERR_FORMAT, "%s: file is %zu bytes, expected at least 8 (header length)", sh->path,
                       sh->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | p[i];
    if (n > ST_MAX_HEADER || n > (uint64_t)sh->size - 8)
        return llv_err(err, LLV_ERR_FORMAT, "%s: header length %llu at byte 0 is invalid (expected <= %llu and <= file "
                       "size - 8 = %zu)", sh->path, (unsigned long long)n, (unsigned long long)ST_MAX_HEADER,
                       sh->size - 8);
    /* NUL-terminated copy: cJSON must never read past the header. */
    char *json = malloc((size_t)n + 1);
    if (!json) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory for a %llu-byte header", sh->path,
                              (unsigned long long)n);
    memcpy(json, p + 8, (size_t)n);
    json[n] = 0;
    if (!llv_utf8_valid((const unsigned char *)json, (size_t)n)) {
        free(json);
        return llv_err(err, LLV_ERR_FORMAT, "%s: JSON header (file bytes 8..%llu) is not valid UTF-8", sh->path,
                       (unsigned long long)(8 + n));
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)n, &end, 0);
    size_t pos = end && end >= json ? (size_t)(end - json) : 0;
    if (!root) {
        free(json);
        return llv_err(err, LLV_ERR_FORMAT, "%s: JSON header (file bytes 8..%llu) is malformed near file byte %zu",
                       sh->path, (unsigned long long)(8 + n), 8 + pos);
    }
    llv_status s = LLV_OK;
    /* only whitespace padding may follow the JSON value */
    for (size_t i = pos; i < (size_t)n; i++) {
        if (json[i] != ' ' && json[i] != '\t' && json[i] != '\n' && json[i] != '\r') {
            s = llv_err(err, LLV_ERR_FORMAT, "%s: unexpected byte 0x%02x after the JSON header at file byte %zu "
                        "(expected space padding)", sh->path, (unsigned char)json[i], 8 + i);
            goto done;
        }
    }
    if (!cJSON_IsObject(root)) {
        s = llv_err(err, LLV_ERR_FORMAT, "%s: JSON header is not an object", sh->path);
        goto done;
    }
    uint64_t data_start = 8 + n;
    bool have_meta = false;
    for (const cJSON *c = root->child; c; c = c->next) {
        const char *name = c->string ? c->string : "";
        if (!llv_utf8_valid((const unsigned char *)name, strlen(name))) {
            s = llv_err(err, LLV_ERR_FORMAT, "%s: a tensor name in the header is not valid UTF-8", sh->path);
            goto done;
        }
        if (strcmp(name, "__metadata__") == 0) {
            if (have_meta) {
                s = llv_err(err, LLV_ERR_FORMAT, "%s: duplicate key '__metadata__'", sh->path);
                goto done;
            }
            have_meta = true;
            if ((s = st_parse_meta(sh, c, err)) != LLV_OK) goto done;
            continue;
        }
        if (name[0] == 0) {
            s = llv_err(err, LLV_ERR_FORMAT, "%s: empty tensor name in the header", sh->path);
            goto done;
        }
        st_entry e;
        if ((s = st_parse_entry(sh, c, data_start, &e, err)) != LLV_OK) goto done;
        e.shard = si;
        e.t.name = strdup(name);
        if (!e.t.name) {
            s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory", sh->path);
            goto done;
        }
        if ((s = st_push(st, &e, err)) != LLV_OK) {
            free((char *)e.t.name);
            goto done;
        }
    }
done:
    cJSON_Delete(root);
    free(json);
    return s;
}

static int st_cmp_entry(const void *a, const void *b) {
    return strcmp(((const st_entry *)a)->t.name, ((const st_entry *)b)->t.name);
}

/* Sorts by name and rejects duplicates (within a file or across shards). */
static llv_status st_finalize(llv_st *st, llv_error *err) {
    if (st->n > 1) qsort(st->entries, st->n, sizeof *st->entries, st_cmp_entry);
    for (size_t i = 1; i < st->n; i++) {
        if (strcmp(st->entries[i - 1].t.name, st->entries[i].t.name) == 0) {
            const st_entry *a = &st->entries[i - 1], *b = &st->entries[i];
            if (a->shard == b->shard)
                return llv_err(err, LLV_ERR_FORMAT, "%s: duplicate tensor name '%s'", st->shards[a->shard].path,
                               a->t.name);
            return llv_err(err, LLV_ERR_FORMAT, "duplicate tensor name '%s' in shards %s and %s", a->t.name,
                           st->shards[a->shard].path, st->shards[b->shard].path);
        }
    }
    return LLV_OK;
}

static int st_cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static llv_st *st_new(int n_shards, llv_error *err) {
    llv_st *st = calloc(1, sizeof *st);
    if (st) st->shards = calloc((size_t)(n_shards > 0 ? n_shards : 1), sizeof *st->shards);
    if (!st || !st->shards) {
        free(st);
        llv_err(err, LLV_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
        return NULL;
    }
    return st;
}

/* Finishes a one-shard st whose shard was set up with status s: parses it
 * into *out, or closes st. */
static llv_status st_finish_single(llv_st *st, llv_status s, llv_st **out, llv_error *err) {
    if (s == LLV_OK) s = st_parse_shard(st, 0, err);
    if (s == LLV_OK) s = st_finalize(st, err);
    if (s != LLV_OK) {
        llv_st_close(st);
        return s;
    }
    *out = st;
    return LLV_OK;
}

llv_status llv_st_open_memory(const void *data, size_t size, llv_st **out, llv_error *err) {
    if (!out || (!data && size)) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_st_open_memory: NULL argument");
    *out = NULL;
    llv_st *st = st_new(1, err);
    if (!st) return LLV_ERR_OUT_OF_MEMORY;
    st->n_shards = 1;
    st->shards[0].path = strdup("<memory>");
    st->shards[0].data = data;
    st->shards[0].size = size;
    llv_status s = st->shards[0].path ? LLV_OK : llv_err(err, LLV_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
    return st_finish_single(st, s, out, err);
}

/* mmaps a whole file read-only into sh. */
static llv_status st_map(st_shard *sh, const char *path, llv_error *err) {
    sh->path = strdup(path);
    if (!sh->path) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
    llv_status s = llv_file_map(path, &sh->map, err);
    if (s != LLV_OK) return s;
    if (sh->map.size < 8) {
        size_t n = sh->map.size;
        llv_file_unmap(&sh->map);
        return llv_err(err, LLV_ERR_FORMAT, "%s: file is %zu bytes, expected at least 8 (header length)", path, n);
    }
    sh->data = sh->map.data;
    sh->size = sh->map.size;
    return LLV_OK;
}

static bool st_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static char *st_dirname(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    size_t n = (size_t)(slash - path);
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, path, n);
    p[n] = 0;
    return p;
}

static llv_status st_open_file(const char *path, llv_st **out, llv_error *err) {
    llv_st *st = st_new(1, err);
    if (!st) return LLV_ERR_OUT_OF_MEMORY;
    st->n_shards = 1;
    return st_finish_single(st, st_map(&st->shards[0], path, err), out, err);
}

static llv_status st_open_index(const char *path, llv_st **out, llv_error *err) {
    /* The index is small JSON; read it whole (bounded like a header). */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return llv_err(err, LLV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return llv_err(err, LLV_ERR_IO, "%s: not a readable regular file", path);
    }
    if ((uint64_t)sb.st_size > ST_MAX_HEADER) {
        close(fd);
        return llv_err(err, LLV_ERR_FORMAT, "%s: index is %lld bytes, expected at most %llu", path,
                       (long long)sb.st_size, (unsigned long long)ST_MAX_HEADER);
    }
    size_t n = (size_t)sb.st_size, got = 0;
    char *json = malloc(n + 1);
    if (!json) {
        close(fd);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    while (got < n) {
        ssize_t r = read(fd, json + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(json);
        return llv_err(err, LLV_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    json[n] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, n, &end, 0);
    if (!root) {
        size_t pos = end && end >= json ? (size_t)(end - json) : 0;
        free(json);
        return llv_err(err, LLV_ERR_FORMAT, "%s: malformed JSON near byte %zu", path, pos);
    }
    llv_status s = LLV_OK;
    llv_st *st = NULL;
    char *dir = NULL;
    const char **files = NULL, **names = NULL;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) {
        s = llv_err(err, LLV_ERR_FORMAT, "%s: expected an object 'weight_map'", path);
        goto done;
    }
    size_t n_names = 0;
    for (const cJSON *c = wm->child; c; c = c->next) n_names++;
    if (n_names == 0) {
        s = llv_err(err, LLV_ERR_FORMAT, "%s: 'weight_map' is empty", path);
        goto done;
    }
    /* Distinct shard files (sorted, so lookups are O(log n)) and a duplicate
     * check on the mapped names. */
    files = calloc(n_names, sizeof *files);
    names = calloc(n_names, sizeof *names);
    if (!files || !names) {
        s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto done;
    }
    size_t n_files = 0;
    for (const cJSON *c = wm->child; c; c = c->next) {
        if (!cJSON_IsString(c) || !c->valuestring || !c->valuestring[0]) {
            s = llv_err(err, LLV_ERR_FORMAT, "%s: weight_map entry '%s': expected a file name string", path,
                        c->string ? c->string : "");
            goto done;
        }
        const char *fn = c->valuestring;
        if (fn[0] == '/' || strstr(fn, "..")) {
            s = llv_err(err, LLV_ERR_FORMAT, "%s: weight_map entry '%s': shard '%s' must be a relative path inside the "
                        "checkpoint directory", path, c->string ? c->string : "", fn);
            goto done;
        }
        names[n_files] = c->string ? c->string : "";
        files[n_files++] = fn;
    }
    qsort(names, n_names, sizeof *names, st_cmp_str);
    for (size_t k = 1; k < n_names; k++)
        if (strcmp(names[k - 1], names[k]) == 0) {
            s = llv_err(err, LLV_ERR_FORMAT, "%s: weight_map names tensor '%s' twice", path, names[k]);
            goto done;
        }
    qsort(files, n_files, sizeof *files, st_cmp_str);
    size_t u = 0;
    for (size_t k = 0; k < n_files; k++)
        if (u == 0 || strcmp(files[u - 1], files[k]) != 0) files[u++] = files[k];
    n_files = u;
    if (n_files > 65536) {
        s = llv_err(err, LLV_ERR_FORMAT, "%s: %zu shard files, expected at most 65536", path, n_files);
        goto done;
    }
    dir = st_dirname(path);
    st = st_new((int)n_files, err);
    if (!dir || !st) {
        s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto done;
    }
    for (size_t k = 0; k < n_files; k++) {
        char *sp = llv_path_join(dir, files[k]);
        if (!sp) {
            s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            goto done;
        }
        st->n_shards = (int)k + 1;
        s = st_map(&st->shards[k], sp, err);
        free(sp);
        if (s == LLV_OK) s = st_parse_shard(st, (int)k, err);
        if (s != LLV_OK) goto done;
    }
    if ((s = st_finalize(st, err)) != LLV_OK) goto done;
    /* Every mapped name must exist in the shard the index names. */
    for (const cJSON *c = wm->child; c; c = c->next) {
        const char *name = c->string ? c->string : "";
        const llv_st_tensor *t = llv_st_find(st, name);
        if (!t) {
            s = llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s' mapped to %s is missing from that shard", path, name,
                        c->valuestring);
            goto done;
        }
        const st_entry *e = (const st_entry *)t;
        const char *key = c->valuestring;
        const char **hit = bsearch(&key, files, n_files, sizeof *files, st_cmp_str);
        if (!hit || (int)(hit - files) != e->shard) {
            s = llv_err(err, LLV_ERR_FORMAT, "%s: tensor '%s' mapped to %s is found in %s instead", path, name,
                        c->valuestring, st->shards[e->shard].path);
            goto done;
        }
    }
done:
    free(files);
    free(names);
    free(dir);
    cJSON_Delete(root);
    free(json);
    if (s != LLV_OK) {
        llv_st_close(st);
        return s;
    }
    *out = st;
    return LLV_OK;
}

static llv_status st_open_dir(const char *path, llv_st **out, llv_error *err) {
    char *idx = llv_path_join(path, ST_INDEX_NAME);
    if (!idx) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
    struct stat sb;
    if (stat(idx, &sb) == 0) {
        llv_status s = st_open_index(idx, out, err);
        free(idx);
        return s;
    }
    free(idx);
    DIR *d = opendir(path);
    if (!d) return llv_err(err, LLV_ERR_IO, "%s: cannot open directory: %s", path, strerror(errno));
    char *found = NULL;
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !st_ends_with(de->d_name, ".safetensors")) continue;
        if (++count == 1) found = strdup(de->d_name);
    }
    closedir(d);
    if (count == 0) {
        free(found);
        return llv_err(err, LLV_ERR_NOT_FOUND, "%s: no *.safetensors file and no %s", path, ST_INDEX_NAME);
    }
    if (count > 1) {
        free(found);
        return llv_err(err, LLV_ERR_FORMAT, "%s: %d *.safetensors files but no %s to say how they combine", path,
                       count, ST_INDEX_NAME);
    }
    if (!found) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
    char *fp = llv_path_join(path, found);
    free(found);
    if (!fp) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
    llv_status s = st_open_file(fp, out, err);
    free(fp);
    return s;
}

llv_status llv_st_open(const char *path, llv_st **out, llv_error *err) {
    if (!path || !out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_st_open: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return llv_err(err, LLV_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return st_open_dir(path, out, err);
    if (st_ends_with(path, ".json")) return st_open_index(path, out, err);
    return st_open_file(path, out, err);
}

int64_t llv_st_n_tensors(const llv_st *st) { return st ? (int64_t)st->n : 0; }

const llv_st_tensor *llv_st_tensor_at(const llv_st *st, int64_t i) {
    if (!st || i < 0 || (uint64_t)i >= st->n) return NULL;
    return &st->entries[i].t;
}

const llv_st_tensor *llv_st_find(const llv_st *st, const char *name) {
    if (!st || !name) return NULL;
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->entries[mid].t.name, name);
        if (c == 0) return &st->entries[mid].t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *llv_st_metadata(const llv_st *st, const char *key) {
    if (!st || !key) return NULL;
    for (int s = 0; s < st->n_shards; s++)
        for (size_t i = 0; i < st->shards[s].n_meta; i++)
            if (strcmp(st->shards[s].meta[i].key, key) == 0) return st->shards[s].meta[i].val;
    return NULL;
}

int64_t llv_st_numel(const llv_st_tensor *t) {
    if (!t) return 0;
    size_t es = llv_st_dtype_size(t->dtype);
    return es ? (int64_t)(t->nbytes / es) : 0;
}

/* FP8 E4M3 (the "fn" variant: no infinities, S.1111.111 is NaN), bias 7. */
static double st_f8_e4m3(uint8_t b) {
    int sign = b >> 7, e = (b >> 3) & 15, m = b & 7;
    double v;
    if (e == 15 && m == 7) return NAN;
    if (e == 0) v = ldexp((double)m / 8.0, -6);
    else v = ldexp(1.0 + (double)m / 8.0, e - 7);
    return sign ? -v : v;
}

double llv_st_get_f64(const llv_st_tensor *t, int64_t i) {
    if (!t || i < 0 || i >= llv_st_numel(t)) return NAN;
    const unsigned char *p = (const unsigned char *)t->data + (size_t)i * llv_st_dtype_size(t->dtype);
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; uint64_t u64; int64_t i64;
            float f32; double f64; } v;
    memcpy(&v, p, llv_st_dtype_size(t->dtype));
    switch (t->dtype) {
    case LLV_ST_BOOL: return v.u8 ? 1.0 : 0.0;
    case LLV_ST_U8: return v.u8;
    case LLV_ST_I8: return v.i8;
    case LLV_ST_I16: return v.i16;
    case LLV_ST_U16: return v.u16;
    case LLV_ST_F16: return llv_f16_to_f32(v.u16);
    case LLV_ST_BF16: return llv_bf16_to_f32(v.u16);
    case LLV_ST_I32: return v.i32;
    case LLV_ST_U32: return v.u32;
    case LLV_ST_F32: return v.f32;
    case LLV_ST_I64: return (double)v.i64;
    case LLV_ST_U64: return (double)v.u64;
    case LLV_ST_F64: return v.f64;
    case LLV_ST_F8_E4M3: return st_f8_e4m3(v.u8);
    case LLV_ST_F8_E5M2: return llv_f16_to_f32((uint16_t)(v.u8 << 8));
    }
    return NAN;
}

int64_t llv_st_get_i64(const llv_st_tensor *t, int64_t i) {
    if (!t || i < 0 || i >= llv_st_numel(t)) return 0;
    const unsigned char *p = (const unsigned char *)t->data + (size_t)i * llv_st_dtype_size(t->dtype);
    switch (t->dtype) {
    case LLV_ST_I64: { int64_t v; memcpy(&v, p, 8); return v; }
    case LLV_ST_U64: { uint64_t v; memcpy(&v, p, 8); return v > INT64_MAX ? INT64_MAX : (int64_t)v; }
    case LLV_ST_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case LLV_ST_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: {
        /* floats: truncate toward zero, saturating (NaN -> 0) */
        double d = llv_st_get_f64(t, i);
        if (!(d == d)) return 0;
        if (d >= 9.2233720368547758e18) return INT64_MAX;
        if (d <= -9.2233720368547758e18) return INT64_MIN;
        return (int64_t)d;
    }
    }
}

void llv_st_row_to_f32(const llv_st_tensor *t, const void *row, int64_t n, float *out) {
    const llv_type type = t->dtype == LLV_ST_F32 ? LLV_TYPE_F32 : t->dtype == LLV_ST_F16 ? LLV_TYPE_F16 : LLV_TYPE_BF16;
    llv_kernels_ref()->to_f32[type](row, out, n);
}
