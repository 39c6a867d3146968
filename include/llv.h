/*
 * llv.h - the whole public API of llv, an inference engine for Llama 3.2 Vision
 * (Hugging Face `mllama`) and Llama 3.x text models on CPUs.
 *
 * This header is the manual. Anything not declared here is not public.
 *
 * Conventions
 * - Every fallible call returns an llv_status and, when `err` is not NULL, fills
 *   it with the status and a human-readable message (what, where, expected vs
 *   found); on success it sets err->status = LLV_OK and err->message = "", so
 *   an llv_error never carries a stale message. `err` may always be NULL.
 * - Objects are opaque handles created by *_load / *_init / *_create and
 *   released by the matching *_free. Passing NULL to any *_free is a no-op.
 * - Thread-safety: an llv_model is read-only after load and may be shared by
 *   any number of threads and sessions. An llv_session (one conversation) must
 *   be used by one thread at a time. Functions taking only a model are
 *   thread-safe, except llv_model_lora_add, which changes the model's adapter
 *   registry: call it before sessions use the model.
 * - Library code never exits, aborts or prints; progress and log messages go
 *   to the callbacks given in params (none by default).
 * - Strings are UTF-8. Token ids are int32_t.
 * - Params structs grow without breaking the ABI. Each one (llv_*_params)
 *   starts with `size_t size`, and llv_*_default_params() (inline, below)
 *   fills it with sizeof the struct as the caller's header declares it, so
 *   always start from the defaults function and change fields. The library
 *   reads the first `size` bytes: a caller built against an older llv.h
 *   (smaller size) gets the defaults for the fields it does not know. A
 *   caller built against a newer llv.h (larger size) running on an older
 *   library is accepted only while every byte past the fields the library
 *   knows is zero (newer fields left as that library's init wrote them, 0);
 *   otherwise LLV_ERR_UNSUPPORTED names the struct. A size below the first
 *   layout's (e.g. 0 from a zeroed struct) is LLV_ERR_INVALID_ARGUMENT.
 *   Fields are only ever appended. Structs the library fills (llv_model_info,
 *   llv_result, llv_memory_plan, llv_engine_stats) are not covered: they change
 *   only with LLV_ABI_VERSION.
 * - Versions: LLV_VERSION_* is the release, llv_version_number() the one of
 *   the library actually loaded (compare it with LLV_VERSION_NUMBER).
 *   LLV_ABI_VERSION is the shared library's SOVERSION (libllv.so.N): it
 *   changes when binaries built against an earlier llv.h stop working.
 *
 * Minimal use:
 *     llv_model *m; llv_session *s; llv_result r;
 *     llv_model_load("model.gguf", NULL, &m, &err);
 *     llv_session_create(m, NULL, &s, &err);
 *     llv_session_add_image_file(s, "img.png", &err);
 *     llv_session_add_text(s, "Describe the image.", &err);   (a user turn)
 *     llv_session_generate(s, NULL, on_piece, NULL, &r, &err);
 *     llv_session_free(s); llv_model_free(m);
 */
#ifndef LLV_H
#define LLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LLV_SHARED) && defined(__GNUC__)
#define LLV_API __attribute__((visibility("default")))
#else
#define LLV_API
#endif

/* The release and the ABI, in one place: CMakeLists.txt reads them from here. */
#define LLV_VERSION_MAJOR 0
#define LLV_VERSION_MINOR 1
#define LLV_VERSION_PATCH 0
#define LLV_ABI_VERSION   1
/* 10000 * major + 100 * minor + patch: 0.1.0 is 100 */
#define LLV_VERSION_NUMBER (LLV_VERSION_MAJOR * 10000 + LLV_VERSION_MINOR * 100 + LLV_VERSION_PATCH)

/* ------------------------------------------------------------------------- */
/* Errors                                                                    */
/* ------------------------------------------------------------------------- */

typedef enum llv_status {
    LLV_OK = 0,
    LLV_ERR_INVALID_ARGUMENT = 1, /* a parameter is out of range; message names it   */
    LLV_ERR_IO = 2,               /* a file could not be opened, read or written     */
    LLV_ERR_FORMAT = 3,           /* malformed GGUF/safetensors/image/JSON data      */
    LLV_ERR_UNSUPPORTED = 4,      /* valid input the engine does not handle          */
    LLV_ERR_OUT_OF_MEMORY = 5,
    LLV_ERR_LIMIT = 6,            /* a configured limit was exceeded (pixels, bytes) */
    LLV_ERR_BUFFER_TOO_SMALL = 7, /* the size-needed out-parameter says how much     */
    LLV_ERR_CANCELLED = 8,        /* a callback asked to stop                        */
    LLV_ERR_STATE = 9,            /* call not valid in the object's current state    */
    LLV_ERR_NOT_FOUND = 10,       /* a named thing (adapter, tensor, key) is absent  */
    LLV_ERR_INTERNAL = 11,
    LLV_ERR_CONTEXT = 12          /* the conversation would not fit in n_ctx         */
} llv_status;

#define LLV_ERROR_MESSAGE_SIZE 512

typedef struct llv_error {
    llv_status status;
    char       message[LLV_ERROR_MESSAGE_SIZE];
} llv_error;

/* Stable name of a status ("LLV_ERR_FORMAT"); never NULL. */
LLV_API const char *llv_status_name(llv_status s);

/* The loaded library's release: "0.1.0", and LLV_VERSION_NUMBER as it was
 * when the library was built (100 for 0.1.0). */
LLV_API const char *llv_version(void);
LLV_API int         llv_version_number(void);

/* ------------------------------------------------------------------------- */
/* Callbacks and enums                                                       */
/* ------------------------------------------------------------------------- */

typedef enum llv_log_level { LLV_LOG_DEBUG = 0, LLV_LOG_INFO = 1, LLV_LOG_WARN = 2, LLV_LOG_ERROR = 3 } llv_log_level;

/* Log sink. `msg` has no trailing newline and is valid only during the call. */
typedef void (*llv_log_fn)(llv_log_level level, const char *msg, void *user);

/* Progress of long work (`what` is e.g. "load", "image"): fraction in [0,1].
 * Return false to cancel the operation (it then fails with LLV_ERR_CANCELLED). */
typedef bool (*llv_progress_fn)(const char *what, float fraction, void *user);

/* Kernel instruction set. AUTO picks the best the CPU and OS support; the
 * environment variable LLV_ISA=ref|avx2|avx512|neon|neon-dotprod|neon-i8mm
 * overrides AUTO. The x86 values exist on ARM and the ARM ones on x86 (they
 * then fall back to the best usable table). */
typedef enum llv_isa {
    LLV_ISA_AUTO = 0,
    LLV_ISA_REF = 1,
    LLV_ISA_AVX2 = 2,
    LLV_ISA_AVX512 = 3,
    LLV_ISA_NEON = 4,         /* ARMv8.0-A Advanced SIMD (every aarch64 CPU)  */
    LLV_ISA_NEON_DOTPROD = 5, /* + SDOT (ARMv8.2-A dotprod, HWCAP_ASIMDDP)    */
    LLV_ISA_NEON_I8MM = 6     /* + SMMLA (ARMv8.6-A i8mm, HWCAP2_I8MM)        */
} llv_isa;

/* Weight/KV element types; values are ggml's type ids. */
typedef enum llv_type {
    LLV_TYPE_F32 = 0,
    LLV_TYPE_F16 = 1,
    LLV_TYPE_Q4_0 = 2,
    LLV_TYPE_Q4_1 = 3,
    LLV_TYPE_Q5_0 = 6,
    LLV_TYPE_Q5_1 = 7,
    LLV_TYPE_Q8_0 = 8,
    LLV_TYPE_Q2_K = 10,
    LLV_TYPE_Q3_K = 11,
    LLV_TYPE_Q4_K = 12,
    LLV_TYPE_Q5_K = 13,
    LLV_TYPE_Q6_K = 14,
    LLV_TYPE_BF16 = 30,
    /* a Q4_K_M-style mix; valid only as a conversion/quantization target */
    LLV_TYPE_Q4_K_M = 1015
} llv_type;

/* "f32", "q4_k", ...; NULL for an unknown value. */
LLV_API const char *llv_type_name(llv_type t);
/* Parses "f32", "F16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k",
 * "q4_k_m". */
LLV_API llv_status llv_type_from_name(const char *name, llv_type *out, llv_error *err);

/* ------------------------------------------------------------------------- */
/* Model                                                                     */
/* ------------------------------------------------------------------------- */

typedef struct llv_model llv_model; /* read-only after load; thread-safe */

typedef struct llv_model_params {
    size_t          size;        /* sizeof (llv_model_default_params sets it)        */
    llv_isa         isa;         /* LLV_ISA_AUTO                                     */
    int32_t         n_threads;   /* default threads for sessions; 0 = all cores      */
    bool            use_mmap;    /* true: weights used in place from the file        */
    llv_log_fn      log;         /* NULL = silent                                    */
    void           *log_user;
    llv_progress_fn progress;    /* NULL = none                                      */
    void           *progress_user;
    const char     *chat_template; /* NULL = the file's; "llama3" or "chatml" overrides */
    bool            no_memory_check; /* false: loading fails (OUT_OF_MEMORY) when the weights
                                        do not fit in available memory, and creating a
                                        session when its buffers do not (see llv_memory_plan) */
} llv_model_params;

/* Fills *p with the defaults; size = sizeof *p as the caller compiled it. */
LLV_API void llv_model_params_init(llv_model_params *p, size_t size);
static inline llv_model_params llv_model_default_params(void) {
    llv_model_params p;
    llv_model_params_init(&p, sizeof p);
    return p;
}

/* Loads a GGUF file: an llv-converted file, or an Ollama single-file mllama
 * GGUF, or a llama.cpp `llama` text model, or a vocabulary-only GGUF (which
 * can tokenize but not generate). `params` may be NULL (defaults).
 * On success *out owns the model; free it with llv_model_free after every
 * session created from it has been freed. */
LLV_API llv_status llv_model_load(const char *path, const llv_model_params *params, llv_model **out, llv_error *err);
LLV_API void       llv_model_free(llv_model *model);

typedef struct llv_model_info {
    const char *architecture;     /* "mllama" or "llama"                               */
    const char *name;             /* general.name or ""                                */
    bool        has_vision;
    bool        has_weights;      /* false for vocabulary-only files                   */
    int32_t     n_vocab;          /* output vocabulary (lm_head rows)                  */
    int32_t     n_ctx_train;      /* maximum context                                   */
    int32_t     n_embd;
    int32_t     n_layer;          /* text layers (self + cross)                        */
    int32_t     n_cross_layers;
    int32_t     image_size;       /* tile edge in pixels (0 without vision)            */
    int32_t     max_tiles;
    int32_t     bos_id, pad_id, image_token_id; /* -1 when absent                      */
    int32_t     n_eog;            /* end-of-generation ids                             */
    const int32_t *eog_ids;
    llv_type    weight_type;      /* predominant type of the text weights              */
    uint64_t    n_params;
    uint64_t    file_bytes;
    const char *isa;              /* kernels chosen: "ref", "avx2", "avx512", "neon"... */
    const char *chat_template;    /* Jinja text from the file, or NULL                 */
    const char *chat_format;      /* how llv renders chats: "llama3", "chatml", or
                                     "unsupported" (raw prompts only)                  */
} llv_model_info;

/* Fills *info; pointers stay valid while the model lives. */
LLV_API void llv_model_get_info(const llv_model *model, llv_model_info *info);

/* ------------------------------------------------------------------------- */
/* Tokens (model-level, thread-safe)                                         */
/* ------------------------------------------------------------------------- */

enum {
    LLV_TOKENIZE_ADD_BOS = 1u << 0,       /* prepend BOS if the model says so            */
    LLV_TOKENIZE_PARSE_SPECIAL = 1u << 1  /* "<|eot_id|>" text becomes the special id    */
};

/* Encodes `n_bytes` of `text` (need not be NUL-terminated; invalid UTF-8 is
 * encoded byte-wise as the reference does). If more than `capacity` tokens
 * result, returns LLV_ERR_BUFFER_TOO_SMALL with *n_tokens = the count needed. */
LLV_API llv_status llv_tokenize(const llv_model *model, const char *text, size_t n_bytes, uint32_t flags,
                                int32_t *tokens, size_t capacity, size_t *n_tokens, llv_error *err);

/* Bytes of one token (special tokens give their text). Pointer valid while the
 * model lives; not NUL-terminated. Returns NULL for an id outside the vocabulary. */
LLV_API const char *llv_token_bytes(const llv_model *model, int32_t token, size_t *n_bytes);

/* Concatenated bytes of `n` tokens. The output may end in an incomplete UTF-8
 * sequence. BUFFER_TOO_SMALL semantics as llv_tokenize (*n_bytes = needed). */
LLV_API llv_status llv_detokenize(const llv_model *model, const int32_t *tokens, size_t n, bool skip_special,
                                  char *buf, size_t capacity, size_t *n_bytes, llv_error *err);

/* true if `token` ends generation for this model (eot, eom, end_of_text...). */
LLV_API bool llv_token_is_eog(const llv_model *model, int32_t token);

/* ------------------------------------------------------------------------- */
/* Chat messages                                                             */
/* ------------------------------------------------------------------------- */

typedef enum llv_part_type { LLV_PART_TEXT = 0, LLV_PART_IMAGE = 1 } llv_part_type;

typedef struct llv_part {
    llv_part_type  type;
    const char    *text;        /* LLV_PART_TEXT: UTF-8, NUL-terminated            */
    const uint8_t *image;       /* LLV_PART_IMAGE: encoded bytes (JPEG, PNG, ...)  */
    size_t         image_bytes;
} llv_part;

typedef struct llv_message {
    const char     *role;       /* "system", "user", "assistant", "tool"/"ipython" */
    const char     *content;    /* plain text content, or NULL when parts are used */
    const llv_part *parts;      /* n_parts content parts in order                  */
    size_t          n_parts;
    const char     *tool_call_name;      /* assistant turn that called a tool, or NULL */
    const char     *tool_call_arguments; /* its arguments as a JSON object text         */
} llv_message;

typedef struct llv_chat_params {
    size_t      size;           /* sizeof (llv_chat_default_params sets it)          */
    const char *tools_json;     /* JSON array of tool definitions, or NULL          */
    const char *date_string;    /* "Today Date"; NULL = today (e.g. "24 Nov 2026")  */
    bool        add_generation_prompt; /* true                                      */
} llv_chat_params;

LLV_API void llv_chat_params_init(llv_chat_params *p, size_t size);
static inline llv_chat_params llv_chat_default_params(void) {
    llv_chat_params p;
    llv_chat_params_init(&p, sizeof p);
    return p;
}

/* Renders messages in the model's chat format (llv_model_info.chat_format:
 * Llama 3.x / 3.2 Vision, or ChatML; NULL model = Llama 3.2 Vision) into text
 * exactly as its Jinja template would (image parts become "<|image|>"). The text
 * is written to buf (NUL-terminated); BUFFER_TOO_SMALL semantics as above with
 * *n_bytes = length needed without the NUL. Thread-safe. */
LLV_API llv_status llv_chat_render(const llv_model *model, const llv_message *msgs, size_t n_msgs,
                                   const llv_chat_params *params, char *buf, size_t capacity, size_t *n_bytes,
                                   llv_error *err);

/* A parsed tool call. */
typedef struct llv_tool_call {
    char *name;       /* owned by the result */
    char *arguments;  /* JSON object text, owned by the result */
} llv_tool_call;

/* ------------------------------------------------------------------------- */
/* Session: one conversation                                                 */
/* ------------------------------------------------------------------------- */

typedef struct llv_session llv_session;

typedef enum llv_kv_type { LLV_KV_F32 = 0, LLV_KV_F16 = 1 } llv_kv_type;

typedef struct llv_session_params {
    size_t      size;         /* sizeof (llv_session_default_params sets it)            */
    int32_t     n_ctx;        /* context tokens; 0 = min(model max, 4096); <= model max */
    int32_t     n_threads;    /* 0 = model's default                                    */
    int32_t     n_batch;      /* prompt tokens per forward pass (512)                  */
    llv_kv_type kv_type;      /* LLV_KV_F16; also the type of images' cross K/V        */
    int32_t     max_images;   /* images per session (8)                                */
    uint64_t    max_image_pixels; /* decoded width*height limit (50,000,000)           */
    uint64_t    max_image_bytes;  /* encoded size limit (64 MiB)                        */
    size_t      image_cache_entries; /* encoded-image cache per session (4)            */
    llv_progress_fn progress; /* progress of long work, and the way to abort it (NULL =
                                 none): what = "image" after each vision encoder layer,
                                 "prefill" after each chunk of n_batch prompt rows;
                                 returning false fails the call (eval, generate) with
                                 LLV_ERR_CANCELLED (see llv_session_eval) */
    void       *progress_user;
    struct llv_engine *engine; /* NULL = own thread pool and image cache; else the
                                  engine (llv_engine_create, same model) this session
                                  attaches to; it must outlive the session, and
                                  n_threads and image_cache_entries are then unused */
} llv_session_params;

LLV_API void llv_session_params_init(llv_session_params *p, size_t size);
static inline llv_session_params llv_session_default_params(void) {
    llv_session_params p;
    llv_session_params_init(&p, sizeof p);
    return p;
}

/* Creates a session; allocates the KV cache once (size reported by
 * llv_session_memory). The model must outlive the session. `params` may be
 * NULL (defaults); a bad field fails with LLV_ERR_INVALID_ARGUMENT naming it.
 * A vocabulary-only model fails with LLV_ERR_UNSUPPORTED. */
LLV_API llv_status llv_session_create(const llv_model *model, const llv_session_params *params, llv_session **out,
                                      llv_error *err);
LLV_API void       llv_session_free(llv_session *s);

/* Forgets the conversation (tokens, KV, placed and queued images) but keeps
 * the buffers and the image cache: the same image in the next conversation
 * does not run the encoder again. NULL is a no-op. */
LLV_API void llv_session_reset(llv_session *s);

/* A prefix cache: starts a new conversation as llv_session_reset does, but
 * keeps the old conversation's KV cache, and the next prefill (eval or
 * generate) reuses the rows the new conversation shares with the old one
 * from its start -- the same token ids with the same images (by content) at
 * the same places, and the same adapter -- computing only the rest. The
 * results are bitwise those of a fresh prefill (rows do not depend on how
 * they were batched). A chat client that resends the growing conversation
 * pays only for the new turn. When nothing matches it is a plain reset.
 * NULL is a no-op. */
LLV_API void llv_session_reset_keep_prefix(llv_session *s);
/* Rows the first prefill after llv_session_reset_keep_prefix took from the
 * kept cache (0 after llv_session_reset, or before that prefill). */
LLV_API int32_t llv_session_cached_tokens(const llv_session *s);

/* Bytes held by the KV cache, and by all session buffers together. */
LLV_API void llv_session_memory(const llv_session *s, uint64_t *kv_bytes, uint64_t *total_bytes);

/* What running a model needs, before anything is computed. */
typedef struct llv_memory_plan {
    uint64_t weights;   /* the file's tensor data (mapped: lives in the page cache)           */
    uint64_t session;   /* one session with `params`: KV cache, scratch, history, logits      */
    uint64_t kv;        /* of which the KV cache                                              */
    uint64_t per_image; /* cross-attention K/V of one image kept in the conversation (0 = text) */
    uint64_t total;     /* weights + session + params->max_images (or 1) images               */
    uint64_t available; /* this machine's MemAvailable (env LLV_MEM_AVAILABLE=BYTES overrides);
                           0 = unknown                                                        */
} llv_memory_plan;

/* Fills *out for one session of `params` (NULL = defaults). Buffers are sized
 * by creating the session without touching them. */
LLV_API llv_status llv_memory_plan_get(const llv_model *model, const llv_session_params *params,
                                       llv_memory_plan *out, llv_error *err);

/* --- input: the conversation is a token sequence with images at "<|image|>" --- */

/* Appends raw token ids (no template, no BOS added). Ids must be in
 * 0..n_vocab-1, or the model's image token while images are queued: each
 * image token then takes the next queued image, as "<|image|>" does in
 * add_raw (more image tokens than queued images: LLV_ERR_STATE; an image token
 * with none queued or any other id out of range: LLV_ERR_INVALID_ARGUMENT). Every add_* call is all-or-nothing: on an
 * error nothing is added. More tokens than n_ctx in all: LLV_ERR_CONTEXT. */
LLV_API llv_status llv_session_add_tokens(llv_session *s, const int32_t *tokens, size_t n, llv_error *err);

/* Appends text tokenized as given (raw mode, special tokens parsed; BOS added
 * if the model adds one (tokenizer.ggml.add_bos_token), this is the start of
 * the conversation and the text has none, after any leading "<|image|>"
 * tokens as HF's MllamaProcessor does). An "<|image|>" in
 * the text consumes the next pending image (see add_image); with none queued
 * the call fails with LLV_ERR_STATE. */
LLV_API llv_status llv_session_add_raw(llv_session *s, const char *text, llv_error *err);

/* Queues an image (encoded bytes or a file). The image is decoded and checked
 * at once (limits in the session params: LLV_ERR_LIMIT for too many bytes or
 * pixels or more than max_images images; LLV_ERR_FORMAT for bad data;
 * LLV_ERR_IO for a file that cannot be read); the encoder runs lazily, at the
 * next prefill after an "<|image|>" consumed it. Images are cached per session
 * by a hash of their bytes (image_cache_entries, LRU): a cached image is
 * neither decoded nor encoded again. Each entry holds the image's
 * cross-attention K/V in the session's kv_type (about 210 MB for the 11B model
 * in F16, 420 MB in F32; see llv_session_memory). Bytes are copied. Images are consumed in
 * the order they were queued. Queued images must all be placed before
 * llv_session_generate (which otherwise fails with LLV_ERR_STATE). */
LLV_API llv_status llv_session_add_image(llv_session *s, const void *bytes, size_t n_bytes, llv_error *err);
LLV_API llv_status llv_session_add_image_file(llv_session *s, const char *path, llv_error *err);

/* Queues a decoded image as add_image does: `rgb` holds `height` rows of
 * `width` RGB pixels (3 bytes each, row-major), `stride` bytes apart
 * (>= width * 3; rows may be padded). The same rules as decoded files:
 * width * height within max_image_pixels (LLV_ERR_LIMIT), and
 * max_images; width or height <= 0, a short stride or NULL rgb:
 * LLV_ERR_INVALID_ARGUMENT. Pixels are copied; the image is cached by a hash
 * of its pixels and shape. The pixels a file decodes to give the same
 * answer as the file. */
LLV_API llv_status llv_session_add_image_rgb(llv_session *s, int32_t width, int32_t height, size_t stride,
                                            const void *rgb, llv_error *err);

/* Appends one chat turn list (rendered with the chat format; each image part
 * becomes the image token, placed where the template prints "<|image|>",
 * and is encoded). The first call of a conversation starts
 * with BOS and the system block as the template does; later calls append turns
 * (continuation: no BOS, no system block), reusing the KV cache of everything
 * before. If the previous answer stopped without an end token, the format's
 * end of turn (<|eot_id|>, ChatML's "<|im_end|>\n") is added first to close
 * it. An image part with image == NULL (or 0 bytes) uses the next image
 * queued earlier with llv_session_add_image (or _rgb, _file). The rendered
 * text around the images is tokenized with special tokens parsed, as HF's apply_chat_template +
 * tokenize does: special-token text inside user content becomes special ids.
 * Earlier turns are never recomputed, so an image added in a later turn is not
 * seen by rows of earlier turns (HF re-running the whole conversation would
 * let rows before the first image attend it, and the template would drop the
 * system block once an image is present). */
LLV_API llv_status llv_session_add_messages(llv_session *s, const llv_message *msgs, size_t n_msgs,
                                            const llv_chat_params *params, llv_error *err);

/* Convenience: one user turn (all queued images first, then `text`), rendered
 * as llv_session_add_messages does with llv_chat_default_params(). */
LLV_API llv_status llv_session_add_text(llv_session *s, const char *text, llv_error *err);

/* --- generation --- */

/* The ranges llv_sampling_params_validate accepts (inclusive, from 0 unless
 * said otherwise); the command-line tools check their options against them. */
#define LLV_SAMPLING_MAX_TOKENS_MAX  131072       /* max_tokens: 1..this          */
#define LLV_SAMPLING_TEMPERATURE_MAX 5.0f
#define LLV_SAMPLING_TOP_P_MAX       2.0f
#define LLV_SAMPLING_TOP_K_MAX       50
#define LLV_SAMPLING_MIN_P_MAX       1.0f
#define LLV_SAMPLING_SEED_MAX        9999999999ull
#define LLV_SAMPLING_PENALTY_MAX     2.0f         /* repetition, frequency, presence */
#define LLV_SAMPLING_TOP_LOGPROBS_MAX 20          /* top_logprobs: 0..this (OpenAI's) */

typedef struct llv_sampling_params {
    size_t   size;                /* sizeof (llv_sampling_default_params sets it)  */
    int32_t  max_tokens;          /* 256 (1..131072)                               */
    float    temperature;         /* 0.6; 0 = greedy (0..5)                        */
    float    top_p;               /* 1.0 = off (0..2; values >= 1 keep everything) */
    int32_t  top_k;               /* 0 = off (API range 1..50)                     */
    float    min_p;               /* 0 = off (0..1)                                */
    uint64_t seed;                /* 0 = random; API range 1..9999999999           */
    float    repetition_penalty;  /* 1.0 = off (0..2), HF semantics                */
    float    frequency_penalty;   /* 0 = off (0..2), OpenAI semantics              */
    float    presence_penalty;    /* 0 = off (0..2), OpenAI semantics              */
    const char *lora;             /* adapter name, NULL = none                     */
    int32_t  timeout_ms;          /* 0 = none; the time of the whole generate: image
                                     encodes and prompt included (checked between
                                     encoder layers, prompt chunks and tokens);
                                     exceeding it stops with LLV_STOP_TIMEOUT */
    bool     logprobs;            /* false; true: record the log-probabilities of
                                     every generated token (llv_session_logprobs) */
    int32_t  top_logprobs;        /* 0; with logprobs, also record this many of the
                                     most likely tokens of each step (0..20)      */
    /* Structured output (at most one; NULL/false = free text; docs/grammar.md):
     * only tokens that keep the answer a prefix of the language are sampled,
     * and the end token only where it is complete (max_tokens can still cut
     * it: stop_reason LLV_STOP_LENGTH). Applied before every other setting,
     * with any of them and with LoRA. A bad grammar or schema fails generate
     * with LLV_ERR_INVALID_ARGUMENT / LLV_ERR_UNSUPPORTED / LLV_ERR_FORMAT,
     * the message naming what (an unsupported keyword and its JSON pointer). */
    const char *grammar;          /* GBNF text (llama.cpp's syntax), start rule root */
    const char *json_schema;      /* a JSON Schema (JSON text): a document of it     */
    bool        json_object;      /* any JSON object                                 */
} llv_sampling_params;

LLV_API void llv_sampling_params_init(llv_sampling_params *p, size_t size);
static inline llv_sampling_params llv_sampling_default_params(void) {
    llv_sampling_params p;
    llv_sampling_params_init(&p, sizeof p);
    return p;
}

/* Checks every field; the message names the offending one. A grammar or
 * JSON schema is compiled (so its errors come before anything runs). */
LLV_API llv_status llv_sampling_params_validate(const llv_sampling_params *p, llv_error *err);

typedef enum llv_stop_reason {
    LLV_STOP_NONE = 0,
    LLV_STOP_EOG = 1,        /* an end-of-generation token      */
    LLV_STOP_LENGTH = 2,     /* max_tokens reached               */
    LLV_STOP_CALLBACK = 3,   /* the piece callback returned false */
    LLV_STOP_CONTEXT = 4,    /* n_ctx is full                    */
    LLV_STOP_TIMEOUT = 5
} llv_stop_reason;

typedef struct llv_timings {
    double load_s;         /* model load (from the model)      */
    double image_s;        /* image decode + encode this call  */
    double prefill_s;
    double decode_s;
    int32_t n_images_encoded; /* encoder runs this call (cache hits excluded) */
} llv_timings;

typedef struct llv_result {
    llv_stop_reason stop_reason;
    int32_t         prompt_tokens;     /* tokens added to the conversation since the
                                          previous generate (or create/reset); all
                                          are prefilled by this call (or by eval)   */
    int32_t         completion_tokens; /* tokens generated, the end token included  */
    char           *text;              /* whole answer, UTF-8, NUL-terminated, owned */
    size_t          text_len;
    llv_tool_call  *tool_calls;        /* parsed from the answer, owned             */
    size_t          n_tool_calls;
    llv_timings     timings;
} llv_result;

/* Receives complete UTF-8 pieces of the answer as they are generated, each
 * with the id of the generated token whose bytes completed it (a token
 * ending inside a UTF-8 sequence gives no piece of its own: its bytes come
 * with the next token's piece; a long token may give several pieces; special
 * tokens give none). Return false to stop generation (stop_reason =
 * LLV_STOP_CALLBACK). */
typedef bool (*llv_piece_fn)(const char *piece, size_t n_bytes, int32_t token, void *user);

/* Runs prefill over everything pending (encoding placed images first), then
 * samples until an end-of-generation token, max_tokens, a callback stop, the
 * timeout (checked between tokens) or a full context. The generated tokens
 * (and the end token) become part of the conversation; the text of special
 * tokens (the end token, <|python_tag|>, ...) is not in the answer. Pieces are passed to on_piece (may be NULL) as complete
 * UTF-8; their concatenation is result->text. `params` may be NULL (defaults);
 * they are validated (LLV_ERR_INVALID_ARGUMENT naming the field). `lora`
 * names an adapter added with llv_model_lora_add (NULL or "" = the base
 * model) and selects it as llv_session_set_lora does (an unknown name fails
 * with LLV_ERR_NOT_FOUND naming it, before anything runs). Errors:
 * LLV_ERR_STATE for an empty conversation or queued images with no
 * "<|image|>". `result` may be NULL; otherwise it is zeroed first and, on
 * success, must be freed with llv_result_free (freeing a zeroed one is fine).
 * Deterministic for a given seed, whatever the thread count. */
LLV_API llv_status llv_session_generate(llv_session *s, const llv_sampling_params *params, llv_piece_fn on_piece,
                                        void *user, llv_result *result, llv_error *err);
LLV_API void       llv_result_free(llv_result *r);

/* Log-probabilities (llv_sampling_params.logprobs). Each generated token gets
 * an entry: the log-probability of the chosen token and of the top_logprobs
 * most likely tokens of that step. The distribution is the model's own:
 * log-softmax of the raw logits, before any penalty, temperature or top-k/p,
 * min-p cut (OpenAI's "log probability of this token", vLLM's default),
 * computed in double and stored as float. So the chosen token may have a
 * lower log-probability than top[n_top - 1] when it was sampled, and at
 * temperature 0 without penalties it is top[0]. top is ordered by logprob
 * descending, ties by token id ascending. Computing them costs a pass over
 * the logits per token (nothing when logprobs is false) and never changes
 * which tokens are sampled. */
typedef struct llv_token_logprob {
    int32_t token;
    float   logprob; /* <= 0; -INFINITY for a token the model rules out */
} llv_token_logprob;

typedef struct llv_logprob_entry {
    llv_token_logprob chosen;   /* the generated token                            */
    int32_t           n_top;    /* top_logprobs (fewer only with a smaller vocab
                                   or NaN logits)                                 */
    llv_token_logprob top[LLV_SAMPLING_TOP_LOGPROBS_MAX];
} llv_logprob_entry;

/* The entries of the tokens generated so far by the running llv_session_generate
 * (called from its piece callback: the entry of the token that callback reports
 * is there, with those of earlier tokens that gave no piece of their own) or by
 * the last one: one entry per generated token in order, the end token
 * included (*n = result->completion_tokens). NULL and *n = 0 when that
 * generate did not set logprobs, or for a NULL session. Owned by the session;
 * valid until the next llv_session_generate, llv_session_reset or
 * llv_session_free. */
LLV_API const llv_logprob_entry *llv_session_logprobs(const llv_session *s, size_t *n);

/* Low-level: runs prefill over pending input and returns the logits of the last
 * position (n_vocab floats, valid until the next call on the session). Queued
 * images that no "<|image|>" consumed yet stay queued.
 * Cancelled by the progress callback (llv_session_params.progress), this call
 * and llv_session_generate fail with LLV_ERR_CANCELLED and leave the
 * conversation as it was: its tokens and images stay, the prompt rows already
 * computed stay in the KV cache (the next eval or generate continues after
 * them), and an image whose encoding was cancelled is encoded at the next
 * one. */
LLV_API llv_status llv_session_eval(llv_session *s, const float **logits, llv_error *err);

/* Tokens of the conversation so far (prompt and generated); valid until the
 * next call on the session. NULL session: NULL and *n = 0. */
LLV_API const int32_t *llv_session_tokens(const llv_session *s, size_t *n);

/* Number of times the vision encoder ran in this session (cache misses). */
LLV_API int32_t llv_session_encoder_runs(const llv_session *s);

/* ------------------------------------------------------------------------- */
/* Engine: several sessions of one model served together                     */
/* ------------------------------------------------------------------------- */

/* An engine lets several sessions (conversations) of one model, each used by
 * its own thread, share one thread pool, one image cache and, above all, the
 * passes over the weights: while sessions generate, their decode steps (and
 * prompt chunks) are merged into one forward pass, so N streams cost little
 * more than one when decoding is bound by memory bandwidth. Results are
 * bitwise identical to running each session alone.
 *
 * Attach a session by setting llv_session_params.engine at llv_session_create
 * (the engine's model must be the session's: LLV_ERR_INVALID_ARGUMENT
 * otherwise). An attached session creates no thread pool (its n_threads is
 * ignored) and no image cache of its own (image_cache_entries is ignored; the
 * engine's cache serves every attached session, so an image one session
 * encoded is not encoded again for another). Vision encoding and every
 * forward pass run one at a time on the engine's pool. A session that needs a
 * forward pass submits its rows and blocks; the first thread to find the
 * engine idle waits up to gather_us for the other sessions inside
 * llv_session_generate to submit too (not at all when every one of them
 * already has), then runs one pass over all pending requests that fit in
 * max_rows and use the same LoRA adapter (the others run in the next pass).
 * An invalid request (e.g. a full context) fails only its own session.
 * Each session is still used by one thread at a time; the engine itself is
 * thread-safe. */
typedef struct llv_engine llv_engine;

typedef struct llv_engine_params {
    size_t  size;                /* sizeof (llv_engine_default_params sets it)           */
    int32_t n_threads;           /* 0 = model's default                                  */
    int32_t max_rows;            /* rows of one merged forward pass (512); 0 = 512       */
    size_t  image_cache_entries; /* encoded images shared by attached sessions (4; an 11B
                                    image holds about 210 MB with F16 KV), <= 1024         */
    int32_t gather_us;           /* how long a ready step waits for the other generating
                                    sessions, in microseconds (1000); 0..10,000,000      */
    int32_t slice_ms;            /* no stalls (250; 0 = off; 0..60,000): while other sessions
                                    generate, a prompt is processed in chunks cut so that a
                                    pass takes about this long, and an image encode lets
                                    their passes run between its encoder layers         */
} llv_engine_params;

LLV_API void llv_engine_params_init(llv_engine_params *p, size_t size);
static inline llv_engine_params llv_engine_default_params(void) {
    llv_engine_params p;
    llv_engine_params_init(&p, sizeof p);
    return p;
}

/* Creates an engine for `model` (which must outlive it); allocates the thread
 * pool, scratch for max_rows rows and, for a vision model, the vision
 * encoder's buffers once. `params` may be NULL (defaults); a bad field fails
 * with LLV_ERR_INVALID_ARGUMENT naming it. */
LLV_API llv_status llv_engine_create(const llv_model *model, const llv_engine_params *params, llv_engine **out,
                                     llv_error *err);

/* Frees the engine. Call it after every attached session was freed: freeing
 * an engine that still has sessions attached is a programming error, and the
 * call then does nothing (the engine stays allocated, so those sessions keep
 * working; it leaks if never freed again). NULL is a no-op. */
LLV_API void llv_engine_free(llv_engine *e);

typedef struct llv_engine_stats {
    uint64_t forwards;             /* forward passes run                              */
    uint64_t rows;                 /* rows over all passes                            */
    uint64_t merged;               /* passes with rows of more than one session       */
    uint64_t encoder_runs;         /* vision encoder runs (shared-cache misses)       */
    int32_t  max_sessions_in_pass; /* most sessions in one pass                       */
} llv_engine_stats;

/* Counters since llv_engine_create. Thread-safe. */
LLV_API void llv_engine_get_stats(const llv_engine *e, llv_engine_stats *out);

/* ------------------------------------------------------------------------- */
/* LoRA adapters                                                             */
/* ------------------------------------------------------------------------- */

/* Loads a LoRA adapter file into the model's adapter registry under `name`
 * (1..64 bytes; a name already loaded fails with LLV_ERR_INVALID_ARGUMENT).
 * The file is a GGUF adapter in llama.cpp's layout (general.type = "adapter",
 * adapter.type = "lora", adapter.lora.alpha, tensors "<base tensor>.lora_a"
 * ne {n_in, r} and ".lora_b" ne {r, n_out}), as written by llv_convert_lora
 * (llv-convert --lora) or by llama.cpp's convert_lora_to_gguf.py. Adapted
 * weights: q/k/v/o projections of self- and cross-attention layers and the
 * MLP gate/up/down projections of the text decoder. The adapter is applied
 * unmerged when a session selects it: y = W x + s * B (A x) with
 * s = scale * alpha / r (s = scale when the file's alpha is 0), so several
 * adapters share one copy of the base weights. `scale` must be finite: 1 is
 * the adapter as trained, 0 gives exactly the base model.
 * Checks: the file's general.architecture must equal the model's
 * (LLV_ERR_UNSUPPORTED otherwise); every tensor must name an adaptable weight
 * of the model (LLV_ERR_UNSUPPORTED naming it), come in lora_a/lora_b pairs
 * (LLV_ERR_NOT_FOUND naming the missing partner) and match the base shapes
 * with one rank per pair (LLV_ERR_FORMAT naming the tensor, expected vs
 * found). A vocabulary-only model fails with LLV_ERR_UNSUPPORTED. On error
 * the registry is unchanged. The file stays mapped until llv_model_free.
 * Thread-safety: NOT safe against any concurrent use of the model (sessions
 * generating, other adds): add every adapter after llv_model_load and before
 * sessions use the model. Lookups by name (llv_session_generate,
 * llv_session_set_lora, llv_model_lora_name) are thread-safe afterwards. */
LLV_API llv_status llv_model_lora_add(llv_model *model, const char *name, const char *path, float scale,
                                      llv_error *err);

/* Name of the i-th adapter of the model's registry (in the order added), or
 * NULL when i >= the number of adapters. Valid while the model lives. */
LLV_API const char *llv_model_lora_name(const llv_model *model, size_t i);

/* Selects the adapter (by name; NULL or "" = none, the base model) that the
 * session's next prefill and llv_session_eval use; llv_session_generate
 * selects its params->lora the same way, and the selection stays for later
 * eval calls. An unknown name fails with LLV_ERR_NOT_FOUND naming it and
 * leaves the selection unchanged. Switching the adapter of a session that
 * holds a conversation makes the next prefill recompute the whole
 * conversation with the new adapter (the KV cache and the images'
 * cross-attention K/V depend on it; images are not re-encoded: their
 * projector output is kept while the model has adapters). An image encoded
 * before any adapter was added to the model cannot be recomputed:
 * LLV_ERR_STATE then (reset the session). llv_session_reset keeps the
 * selection. */
LLV_API llv_status llv_session_set_lora(llv_session *s, const char *name, llv_error *err);

/* ------------------------------------------------------------------------- */
/* Tool calls                                                                */
/* ------------------------------------------------------------------------- */

/* Parses a model answer in the Llama 3.1 JSON tool-call format
 * ({"name": ..., "parameters": {...}}, optionally after <|python_tag|>).
 * On success *calls and *n hold the list (empty when the text is not a tool call).
 * Free with llv_tool_calls_free. */
LLV_API llv_status llv_parse_tool_calls(const char *text, size_t len, llv_tool_call **calls, size_t *n,
                                        llv_error *err);
LLV_API void       llv_tool_calls_free(llv_tool_call *calls, size_t n);

/* Describes the machine and build: the CPU's ISA and the kernels chosen. Static string. */
LLV_API const char *llv_system_info(void);

#ifdef __cplusplus
}
#endif

#endif /* LLV_H */
