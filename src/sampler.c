/* sampler.c - logits processors and sampling; the order and semantics are
 * documented in sampler.h. Processors follow HF transformers v4.47
 * (generation/logits_process.py) including its float32 comparisons, so the
 * kept sets equal HF's on the golden data. */
#include "sampler.h"

#include "constraint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* a logit and its id, for sorting */
typedef struct vi_pair { float v; int32_t i; } vi_pair;

struct llv_sampler {
    llv_sampling_params p;
    int32_t  n_vocab;
    uint64_t rng[4];
    vi_pair *pairs;   /* n_vocab: top-p sort scratch */
    int32_t *count;  /* n_vocab: generated-token counts (kept all-zero between calls) */
    uint32_t *mark;  /* n_vocab: repetition "seen" stamps */
    uint32_t stamp;
};

/* ------------------------------------------------------------------------- */
/* Parameters                                                                */
/* ------------------------------------------------------------------------- */

void llv_sampling_params_init(llv_sampling_params *out, size_t size) {
    llv_sampling_params p;
    memset(&p, 0, sizeof p);
    p.max_tokens = 256;
    p.temperature = 0.6f;
    p.top_p = 1.0f;
    p.top_k = 0;
    p.min_p = 0.0f;
    p.seed = 0;
    p.repetition_penalty = 1.0f;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.lora = NULL;
    p.timeout_ms = 0;
    p.logprobs = false;
    p.top_logprobs = 0;
    llv_params_out(out, size, &p, sizeof p);
}

static llv_status check_range(const char *name, float v, double lo, double hi, llv_error *err) {
    /* written so that NaN fails too */
    if (!(v >= lo && v <= hi))
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "sampling parameter %s = %g is out of range (expected %g..%g)",
                       name, (double)v, lo, hi);
    return LLV_OK;
}

llv_status llv_sampling_params_validate(const llv_sampling_params *p, llv_error *err) {
    llv_err_clear(err);
    if (!p) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "sampling parameters: NULL pointer");
    LLV_PARAMS_IN(llv_sampling_params, p, err);
    if (p->max_tokens < 1 || p->max_tokens > LLV_SAMPLING_MAX_TOKENS_MAX)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "sampling parameter max_tokens = %d is out of range (expected 1..%d)", (int)p->max_tokens,
                       LLV_SAMPLING_MAX_TOKENS_MAX);
    llv_status st;
    if ((st = check_range("temperature", p->temperature, 0, LLV_SAMPLING_TEMPERATURE_MAX, err))) return st;
    if ((st = check_range("top_p", p->top_p, 0, LLV_SAMPLING_TOP_P_MAX, err))) return st;
    if (p->top_k < 0 || p->top_k > LLV_SAMPLING_TOP_K_MAX)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "sampling parameter top_k = %d is out of range (expected 1..%d, or 0 = off)", (int)p->top_k,
                       LLV_SAMPLING_TOP_K_MAX);
    if ((st = check_range("min_p", p->min_p, 0, LLV_SAMPLING_MIN_P_MAX, err))) return st;
    if (p->seed > LLV_SAMPLING_SEED_MAX)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "sampling parameter seed = %llu is out of range (expected 1..%llu, or 0 = random)",
                       (unsigned long long)p->seed, LLV_SAMPLING_SEED_MAX);
    if ((st = check_range("repetition_penalty", p->repetition_penalty, 0, LLV_SAMPLING_PENALTY_MAX, err))) return st;
    if ((st = check_range("frequency_penalty", p->frequency_penalty, 0, LLV_SAMPLING_PENALTY_MAX, err))) return st;
    if ((st = check_range("presence_penalty", p->presence_penalty, 0, LLV_SAMPLING_PENALTY_MAX, err))) return st;
    if (p->timeout_ms < 0)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "sampling parameter timeout_ms = %d is negative",
                       (int)p->timeout_ms);
    if (p->top_logprobs < 0 || p->top_logprobs > LLV_SAMPLING_TOP_LOGPROBS_MAX)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "sampling parameter top_logprobs = %d is out of range (expected 0..%d)", (int)p->top_logprobs,
                       LLV_SAMPLING_TOP_LOGPROBS_MAX);
    const int n_constraints = (p->grammar != NULL) + (p->json_schema != NULL) + (p->json_object ? 1 : 0);
    if (n_constraints > 1)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "sampling parameters grammar, json_schema and json_object are exclusive (%d are set)",
                       n_constraints);
    llv_status cst = llv_constraint_check(p, err); /* the grammar parses, the schema converts */
    if (cst != LLV_OK) return cst;
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* RNG: xoshiro256** seeded by splitmix64                                    */
/* ------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* uniform double in [0, 1) with 53 random bits */
static double rng_uniform(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * 0x1.0p-53; }

static uint64_t os_random_seed(const void *salt) {
    uint64_t v = 0;
    if (getentropy(&v, sizeof v) == 0 && v != 0) return v;
    /* fallback: time and an address; only used when the OS gives nothing */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)salt;
    return splitmix64(&x);
}

static void rng_seed(uint64_t s[4], uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) s[i] = splitmix64(&x);
}

/* ------------------------------------------------------------------------- */
/* Create / free                                                             */
/* ------------------------------------------------------------------------- */

llv_status llv_sampler_create(const llv_sampling_params *p, int32_t n_vocab, llv_sampler **out, llv_error *err) {
    if (!out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_sampler_create: out is NULL");
    *out = NULL;
    llv_sampling_params def = llv_sampling_default_params();
    if (!p) p = &def;
    llv_status st = llv_sampling_params_validate(p, err);
    if (st) return st;
    if (n_vocab <= 0)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_sampler_create: n_vocab = %d (expected > 0)", (int)n_vocab);
    llv_sampler *s = calloc(1, sizeof *s);
    if (!s) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "sampler: out of memory");
    s->p = *p;
    s->p.lora = NULL; /* not owned; the sampler does not need it */
    s->n_vocab = n_vocab;
    s->pairs = malloc((size_t)n_vocab * sizeof *s->pairs);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->mark = calloc((size_t)n_vocab, sizeof *s->mark);
    if (!s->pairs || !s->count || !s->mark) {
        llv_sampler_free(s);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "sampler: out of memory for %d vocabulary entries", (int)n_vocab);
    }
    rng_seed(s->rng, p->seed ? p->seed : os_random_seed(s));
    *out = s;
    return LLV_OK;
}

void llv_sampler_free(llv_sampler *s) {
    if (!s) return;
    free(s->pairs);
    free(s->count);
    free(s->mark);
    free(s);
}

/* ------------------------------------------------------------------------- */
/* Processors                                                                */
/* ------------------------------------------------------------------------- */

int32_t llv_argmax_f32(const float *logits, int32_t n) {
    int32_t best = -1;
    for (int32_t i = 0; i < n; i++) {
        if (logits[i] != logits[i]) continue; /* NaN */
        if (best < 0 || logits[i] > logits[best]) best = i;
    }
    return best < 0 ? 0 : best;
}

void llv_softmax_kept(const float *logits, int32_t n, float *probs) {
    double mx = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    if (mx == -INFINITY || mx != mx) {
        for (int32_t i = 0; i < n; i++) probs[i] = 0.0f;
        return;
    }
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        if (logits[i] > -INFINITY) sum += exp((double)logits[i] - mx);
    for (int32_t i = 0; i < n; i++)
        probs[i] = logits[i] > -INFINITY ? (float)(exp((double)logits[i] - mx) / sum) : 0.0f;
}

static void apply_repetition(llv_sampler *s, float *logits, const int32_t *ids, size_t n, float penalty) {
    const uint32_t stamp = s->stamp;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= s->n_vocab || s->mark[id] == stamp) continue;
        s->mark[id] = stamp; /* each distinct id once, like HF's gather/scatter */
        float v = logits[id];
        logits[id] = v < 0 ? v * penalty : v / penalty;
    }
}

static void apply_freq_presence(llv_sampler *s, float *logits, const int32_t *gen, size_t n, float freq,
                                float pres) {
    for (size_t i = 0; i < n; i++)
        if (gen[i] >= 0 && gen[i] < s->n_vocab) s->count[gen[i]]++;
    for (size_t i = 0; i < n; i++) {
        int32_t id = gen[i];
        if (id < 0 || id >= s->n_vocab || s->count[id] == 0) continue;
        logits[id] -= (float)s->count[id] * freq + pres;
        s->count[id] = 0; /* applied once per id; also restores the all-zero invariant */
    }
}

/* keeps logits >= the k-th largest value (ties at the k-th value all kept) */
static void apply_top_k(llv_sampler *s, float *logits, int32_t k) {
    const int32_t n = s->n_vocab;
    if (k <= 0 || k >= n) return;
    float top[64]; /* k <= 50 by validation; descending */
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        float v = logits[i];
        if (v != v) continue;
        if (m == k && !(v > top[k - 1])) continue;
        int32_t j = m < k ? m++ : k - 1;
        while (j > 0 && top[j - 1] < v) {
            top[j] = top[j - 1];
            j--;
        }
        top[j] = v;
    }
    if (m < k) return; /* fewer than k comparable values: nothing below the k-th */
    const float kth = top[k - 1];
    for (int32_t i = 0; i < n; i++)
        if (logits[i] < kth) logits[i] = -INFINITY;
}

/* ascending by value; among equal values the higher id first, so that the
 * lower ids of a tied group survive a cut (HF's order there is unspecified) */
static int cmp_vi_asc(const void *a, const void *b) {
    const vi_pair *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return (x->i < y->i) - (x->i > y->i);
}

/* Rearranges a[0..m) so that a[k] is the element that sorted order puts
 * there, smaller ones before it and larger ones after (quickselect; the
 * order is total because ids differ). */
static void select_nth(vi_pair *a, size_t m, size_t k) {
    size_t lo = 0, hi = m - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        /* median of three as pivot, moved to hi */
        if (cmp_vi_asc(&a[mid], &a[lo]) < 0) { vi_pair t = a[mid]; a[mid] = a[lo]; a[lo] = t; }
        if (cmp_vi_asc(&a[hi], &a[lo]) < 0) { vi_pair t = a[hi]; a[hi] = a[lo]; a[lo] = t; }
        if (cmp_vi_asc(&a[mid], &a[hi]) < 0) { vi_pair t = a[mid]; a[mid] = a[hi]; a[hi] = t; }
        const vi_pair pivot = a[hi];
        size_t st = lo;
        for (size_t i = lo; i < hi; i++)
            if (cmp_vi_asc(&a[i], &pivot) < 0) { vi_pair t = a[i]; a[i] = a[st]; a[st] = t; st++; }
        { vi_pair t = a[st]; a[st] = a[hi]; a[hi] = t; }
        if (st == k) return;
        if (k < st) hi = st - 1;
        else lo = st + 1;
    }
}

static void apply_top_p(llv_sampler *s, float *logits, float top_p) {
    const int32_t n = s->n_vocab;
    if (!(top_p < 1.0f)) return;
    vi_pair *pairs = s->pairs;
    size_t m = 0;
    float mx = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        if (logits[i] > -INFINITY) {
            pairs[m++] = (vi_pair){logits[i], i};
            if (logits[i] > mx) mx = logits[i];
        }
    if (m <= 1) return;
    /* float32 softmax like torch, cumulative sum in ascending order
     * accumulated in double and stored as float (torch's CPU cumsum),
     * compared in float32 with 1 - top_p */
    double sum = 0.0;
    for (size_t j = 0; j < m; j++) sum += expf(pairs[j].v - mx);
    const float thr = (float)(1.0 - (double)top_p);
    double cum = 0.0;
    size_t start = 0; /* pairs[start..m) get sorted and walked */
    /* Large vocabularies: only the top few hundred can survive. Partition off
     * the top k; if even the whole rest sums to <= 1 - top_p, all of it is
     * removed (each of its cumulative sums is smaller) and only the top k
     * need sorting. Same result as the full sort. */
    for (size_t k = 256; k < m / 2; k *= 4) {
        select_nth(pairs, m, m - k);
        double tail = 0.0;
        for (size_t j = 0; j < m - k; j++) tail += (double)(float)(expf(pairs[j].v - mx) / sum);
        if ((float)tail <= thr) {
            for (size_t j = 0; j < m - k; j++) logits[pairs[j].i] = -INFINITY;
            cum = tail;
            start = m - k;
            break;
        }
    }
    qsort(pairs + start, m - start, sizeof *pairs, cmp_vi_asc);
    for (size_t j = start; j + 1 < m; j++) { /* the last (largest) is always kept */
        cum += (double)(float)(expf(pairs[j].v - mx) / sum);
        if ((float)cum <= thr) logits[pairs[j].i] = -INFINITY;
        else break; /* cumulative sums only grow */
    }
}

static void apply_min_p(llv_sampler *s, float *logits, float min_p) {
    const int32_t n = s->n_vocab;
    if (!(min_p > 0.0f)) return;
    int32_t top = llv_argmax_f32(logits, n);
    const float mx = logits[top];
    if (!(mx > -INFINITY)) return;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        if (logits[i] > -INFINITY) sum += expf(logits[i] - mx);
    const float pmax = (float)(1.0 / sum);
    const float thr = min_p * pmax;
    for (int32_t i = 0; i < n; i++) {
        if (i == top || !(logits[i] > -INFINITY)) continue;
        float p = (float)(expf(logits[i] - mx) / sum);
        if (p < thr) logits[i] = -INFINITY;
    }
}

static void process(llv_sampler *s, float *logits, const int32_t *prompt, size_t n_prompt, const int32_t *gen,
                    size_t n_gen) {
    const llv_sampling_params *p = &s->p;
    const int32_t n = s->n_vocab;
    if (p->repetition_penalty != 0.0f && p->repetition_penalty != 1.0f) {
        if (++s->stamp == 0) { /* wrapped: clear the stamps */
            memset(s->mark, 0, (size_t)n * sizeof *s->mark);
            s->stamp = 1;
        }
        apply_repetition(s, logits, prompt, n_prompt, p->repetition_penalty);
        apply_repetition(s, logits, gen, n_gen, p->repetition_penalty);
    }
    if (p->frequency_penalty != 0.0f || p->presence_penalty != 0.0f)
        apply_freq_presence(s, logits, gen, n_gen, p->frequency_penalty, p->presence_penalty);
    if (p->temperature == 0.0f) return; /* greedy: no warpers */
    if (p->temperature != 1.0f)
        for (int32_t i = 0; i < n; i++) logits[i] = logits[i] / p->temperature;
    apply_top_k(s, logits, p->top_k);
    apply_top_p(s, logits, p->top_p);
    apply_min_p(s, logits, p->min_p);
}

llv_status llv_sampler_process(const llv_sampling_params *p, float *logits, int32_t n_vocab, const int32_t *prompt,
                               size_t n_prompt, const int32_t *generated, size_t n_generated, llv_error *err) {
    llv_sampling_params q = p ? *p : llv_sampling_default_params();
    if (q.seed == 0) q.seed = 1; /* no sampling here: avoid asking the OS */
    llv_sampler *s;
    llv_status st = llv_sampler_create(&q, n_vocab, &s, err);
    if (st) return st;
    process(s, logits, prompt, n_prompt, generated, n_generated);
    llv_sampler_free(s);
    return LLV_OK;
}

int32_t llv_sampler_sample(llv_sampler *s, float *logits, const int32_t *prompt, size_t n_prompt,
                           const int32_t *generated, size_t n_generated) {
    const int32_t n = s->n_vocab;
    process(s, logits, prompt, n_prompt, generated, n_generated);
    if (s->p.temperature == 0.0f) return llv_argmax_f32(logits, n);
    const int32_t top = llv_argmax_f32(logits, n);
    const double mx = logits[top];
    if (!(mx > -INFINITY)) return top;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        if (logits[i] > -INFINITY) sum += exp((double)logits[i] - mx);
    const double target = rng_uniform(s->rng) * sum;
    double cum = 0.0;
    int32_t last = top;
    for (int32_t i = 0; i < n; i++) {
        if (!(logits[i] > -INFINITY)) continue;
        cum += exp((double)logits[i] - mx);
        last = i;
        if (cum > target) return i;
    }
    return last; /* rounding left target at the very end */
}

/* ------------------------------------------------------------------------- */
/* Log-probabilities                                                         */
/* ------------------------------------------------------------------------- */

/* a before b in the top list: higher logit, then lower id */
static bool lp_before(float va, int32_t ia, float vb, int32_t ib) { return va > vb || (va == vb && ia < ib); }

void llv_logprobs_fill(const float *logits, int32_t n, int32_t chosen, int32_t k, llv_logprob_entry *e) {
    if (k > LLV_SAMPLING_TOP_LOGPROBS_MAX) k = LLV_SAMPLING_TOP_LOGPROBS_MAX;
    if (k > n) k = n;
    if (k < 0) k = 0;
    /* log-softmax in double: x - max - log(sum exp(x - max)); NaN entries are
     * left out of the sum and of the top list */
    double mx = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0.0;
    if (mx > -INFINITY)
        for (int32_t i = 0; i < n; i++)
            if (logits[i] > -INFINITY) sum += exp((double)logits[i] - mx);
    const double lse = mx > -INFINITY ? mx + log(sum) : INFINITY; /* all -inf: every logprob -inf */
    /* the k best by a bounded insertion (log-softmax keeps the order of the
     * logits): one pass, no sort of the vocabulary */
    llv_token_logprob top[LLV_SAMPLING_TOP_LOGPROBS_MAX];
    float tv[LLV_SAMPLING_TOP_LOGPROBS_MAX];
    int32_t m = 0;
    for (int32_t i = 0; i < n && k > 0; i++) {
        float v = logits[i];
        if (v != v) continue;
        if (m == k && !lp_before(v, i, tv[k - 1], top[k - 1].token)) continue;
        int32_t j = m < k ? m++ : k - 1;
        while (j > 0 && lp_before(v, i, tv[j - 1], top[j - 1].token)) {
            tv[j] = tv[j - 1];
            top[j] = top[j - 1];
            j--;
        }
        tv[j] = v;
        top[j].token = i;
    }
    memset(e, 0, sizeof *e);
    for (int32_t j = 0; j < m; j++) {
        e->top[j].token = top[j].token;
        e->top[j].logprob = (float)((double)tv[j] - lse);
    }
    e->n_top = m;
    e->chosen.token = chosen;
    e->chosen.logprob = chosen >= 0 && chosen < n ? (float)((double)logits[chosen] - lse) : -INFINITY;
}
