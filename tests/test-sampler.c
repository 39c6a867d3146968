/* test-sampler.c - sampling parameters, each processor on hand-made logits,
 * determinism of the seeded sampler, frequency sanity, and the golden HF
 * logits-processor data (through the llv-golden checker, included here). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"
#include "testing.h"

/* the golden checker (its reporting helpers: tests/helpers/golden-report.c) */
#include "golden/golden-sampler.c"

static llv_sampling_params base(void) {
    llv_sampling_params p = llv_sampling_default_params();
    p.temperature = 1.0f;
    p.seed = 42;
    return p;
}

static void test_defaults_and_validate(void) {
    if (!llv_test_case("validate")) return;
    llv_sampling_params p = llv_sampling_default_params();
    llv_error err;
    CHECK_EQ_I(p.max_tokens, 256);
    CHECK_CLOSE(p.temperature, 0.6, 1e-7);
    CHECK_CLOSE(p.top_p, 1.0, 0);
    CHECK_EQ_I(p.top_k, 0);
    CHECK_CLOSE(p.repetition_penalty, 1.0, 0);
    CHECK_OK(llv_sampling_params_validate(&p, &err), &err);
    CHECK_STATUS(llv_sampling_params_validate(NULL, &err), LLV_ERR_INVALID_ARGUMENT, &err);

#define EXPECT_BAD(field, stmt)                                                                       \
    do {                                                                                             \
        llv_sampling_params q = llv_sampling_default_params();                                       \
        stmt;                                                                                        \
        memset(&err, 0, sizeof err);                                                                 \
        CHECK_STATUS(llv_sampling_params_validate(&q, &err), LLV_ERR_INVALID_ARGUMENT, &err);        \
        CHECK_MSG(strstr(err.message, field) != NULL, "message names %s: %s", field, err.message);   \
    } while (0)
#define EXPECT_OK(stmt)                                                                              \
    do {                                                                                             \
        llv_sampling_params q = llv_sampling_default_params();                                       \
        stmt;                                                                                        \
        CHECK_OK(llv_sampling_params_validate(&q, &err), &err);                                      \
    } while (0)
    EXPECT_BAD("max_tokens", q.max_tokens = 0);
    EXPECT_BAD("max_tokens", q.max_tokens = -5);
    EXPECT_BAD("max_tokens", q.max_tokens = 131073);
    EXPECT_BAD("temperature", q.temperature = -0.1f);
    EXPECT_BAD("temperature", q.temperature = 5.01f);
    EXPECT_BAD("temperature", q.temperature = NAN);
    EXPECT_BAD("temperature", q.temperature = INFINITY);
    EXPECT_BAD("top_p", q.top_p = -0.01f);
    EXPECT_BAD("top_p", q.top_p = 2.5f);
    EXPECT_BAD("top_p", q.top_p = NAN);
    EXPECT_BAD("top_k", q.top_k = -1);
    EXPECT_BAD("top_k", q.top_k = 51);
    EXPECT_BAD("min_p", q.min_p = -1);
    EXPECT_BAD("min_p", q.min_p = 1.5f);
    EXPECT_BAD("seed", q.seed = 10000000000ull);
    EXPECT_BAD("repetition_penalty", q.repetition_penalty = 2.1f);
    EXPECT_BAD("repetition_penalty", q.repetition_penalty = NAN);
    EXPECT_BAD("frequency_penalty", q.frequency_penalty = -0.5f);
    EXPECT_BAD("presence_penalty", q.presence_penalty = 3);
    EXPECT_BAD("timeout_ms", q.timeout_ms = -1);
    EXPECT_BAD("top_logprobs", q.top_logprobs = 21);
    EXPECT_BAD("top_logprobs", q.top_logprobs = -1);
    EXPECT_BAD("top_logprobs", (q.logprobs = true, q.top_logprobs = 21));
    EXPECT_OK((q.logprobs = true, q.top_logprobs = 20));
    EXPECT_OK((q.logprobs = true, q.top_logprobs = 0));
    CHECK(!p.logprobs && p.top_logprobs == 0);
    EXPECT_OK(q.temperature = 0);
    EXPECT_OK(q.temperature = 5);
    EXPECT_OK(q.top_p = 2);
    EXPECT_OK(q.top_p = 0);
    EXPECT_OK(q.top_k = 50);
    EXPECT_OK(q.top_k = 1);
    EXPECT_OK(q.seed = 9999999999ull);
    EXPECT_OK(q.repetition_penalty = 0);
    EXPECT_OK(q.repetition_penalty = 2);
    EXPECT_OK(q.max_tokens = 1);
    EXPECT_OK(q.max_tokens = 131072);

    llv_sampler *s = NULL;
    llv_sampling_params q = llv_sampling_default_params();
    q.top_k = 99;
    CHECK_STATUS(llv_sampler_create(&q, 10, &s, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK(s == NULL);
    q = llv_sampling_default_params();
    CHECK_STATUS(llv_sampler_create(&q, 0, &s, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_OK(llv_sampler_create(NULL, 10, &s, &err), &err); /* defaults, random seed */
    llv_sampler_free(s);
    llv_sampler_free(NULL);
}

/* log-softmax in double over the whole array, the order of the top list */
static void test_logprobs_fill(void) {
    if (!llv_test_case("logprobs")) return;
    enum { N = 1000 };
    static float l[N];
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        l[i] = (float)((x >> 40) % 2000) / 100.0f - 10.0f; /* many ties: 2000 values over 1000 ids */
    }
    l[7] = l[900] = l[31] = 25.0f; /* a tie at the top: ids 7, 31, 900 in that order */
    llv_logprob_entry e;
    llv_logprobs_fill(l, N, 900, 20, &e);
    double mx = 25.0, sum = 0;
    for (int i = 0; i < N; i++) sum += exp((double)l[i] - mx);
    double lse = mx + log(sum);
    CHECK_EQ_I(e.n_top, 20);
    CHECK_EQ_I(e.chosen.token, 900);
    CHECK_CLOSE(e.chosen.logprob, 25.0 - lse, 1e-6);
    CHECK(e.top[0].token == 7 && e.top[1].token == 31 && e.top[2].token == 900);
    bool sorted = true, exact = true;
    for (int j = 0; j < e.n_top; j++) {
        exact &= fabs((double)e.top[j].logprob - ((double)l[e.top[j].token] - lse)) < 1e-6;
        if (j) sorted &= e.top[j - 1].logprob > e.top[j].logprob ||
                         (e.top[j - 1].logprob == e.top[j].logprob && e.top[j - 1].token < e.top[j].token);
    }
    CHECK_MSG(sorted, "top list ordered by logprob, then id");
    CHECK_MSG(exact, "top logprobs = logit - logsumexp");
    /* nothing left out: every id not listed is below the last listed (or tied with a higher id) */
    bool complete = true;
    for (int i = 0; i < N; i++) {
        bool listed = false;
        for (int j = 0; j < e.n_top; j++) listed |= e.top[j].token == i;
        const llv_token_logprob *last = &e.top[e.n_top - 1];
        if (!listed) complete &= l[i] < l[last->token] || (l[i] == l[last->token] && i > last->token);
    }
    CHECK_MSG(complete, "the top 20 are the 20 largest");
    /* the whole distribution sums to 1 (a vocabulary of 20, all listed) */
    llv_logprobs_fill(l, 20, 3, 20, &e);
    double p = 0;
    for (int j = 0; j < e.n_top; j++) p += exp((double)e.top[j].logprob);
    CHECK_CLOSE(p, 1.0, 1e-6);
    /* k above the vocabulary or the maximum, k = 0, -inf entries */
    llv_logprobs_fill(l, 5, 0, 20, &e);
    CHECK_EQ_I(e.n_top, 5);
    llv_logprobs_fill(l, N, 0, 99, &e);
    CHECK_EQ_I(e.n_top, LLV_SAMPLING_TOP_LOGPROBS_MAX);
    llv_logprobs_fill(l, N, 5, 0, &e);
    CHECK_EQ_I(e.n_top, 0);
    CHECK_EQ_I(e.chosen.token, 5);
    float t[4] = {-INFINITY, 0.0f, -INFINITY, 0.0f};
    llv_logprobs_fill(t, 4, 2, 4, &e);
    CHECK(e.top[0].token == 1 && e.top[1].token == 3 && e.top[2].token == 0 && e.top[3].token == 2);
    CHECK_CLOSE(e.top[0].logprob, -log(2.0), 1e-7);
    CHECK(isinf(e.chosen.logprob) && e.chosen.logprob < 0);
}

static void test_processors(void) {
    if (!llv_test_case("processors")) return;
    llv_error err;
    /* repetition penalty: each distinct id once, sign-aware, out-of-range ids skipped */
    {
        float l[6] = {2.0f, -2.0f, 0.0f, 4.0f, 1.0f, -1.0f};
        int32_t prompt[] = {0, 0, 1, 2, 99, -3};
        int32_t gen[] = {3, 0};
        llv_sampling_params p = base();
        p.temperature = 0;
        p.repetition_penalty = 2.0f;
        CHECK_OK(llv_sampler_process(&p, l, 6, prompt, 6, gen, 2, &err), &err);
        CHECK_CLOSE(l[0], 1.0, 0);
        CHECK_CLOSE(l[1], -4.0, 0);
        CHECK_CLOSE(l[2], 0.0, 0);
        CHECK_CLOSE(l[3], 2.0, 0);
        CHECK_CLOSE(l[4], 1.0, 0);
        CHECK_CLOSE(l[5], -1.0, 0);
        /* 0 and 1 are "off" */
        float m[2] = {2.0f, -2.0f};
        p.repetition_penalty = 0.0f;
        CHECK_OK(llv_sampler_process(&p, m, 2, prompt, 3, NULL, 0, &err), &err);
        CHECK(m[0] == 2.0f && m[1] == -2.0f);
    }
    /* frequency / presence over generated tokens only */
    {
        float l[4] = {1, 1, 1, 1};
        int32_t prompt[] = {3, 3, 3};
        int32_t gen[] = {0, 0, 0, 1, 7};
        llv_sampling_params p = base();
        p.temperature = 0;
        p.frequency_penalty = 0.5f;
        p.presence_penalty = 0.25f;
        CHECK_OK(llv_sampler_process(&p, l, 4, prompt, 3, gen, 5, &err), &err);
        CHECK_CLOSE(l[0], 1 - 1.5 - 0.25, 1e-7);
        CHECK_CLOSE(l[1], 1 - 0.5 - 0.25, 1e-7);
        CHECK_CLOSE(l[2], 1, 0);
        CHECK_CLOSE(l[3], 1, 0);
    }
    /* temperature, top-k with ties at the k-th value */
    {
        float l[6] = {1, 3, 2, 3, 0.5f, 2};
        llv_sampling_params p = base();
        p.temperature = 2.0f;
        p.top_k = 3;
        CHECK_OK(llv_sampler_process(&p, l, 6, NULL, 0, NULL, 0, &err), &err);
        CHECK(isinf(l[0]) && l[1] == 1.5f && l[2] == 1.0f && l[3] == 1.5f && isinf(l[4]) && l[5] == 1.0f);
        float k1[4] = {0, 5, 5, 1};
        p.temperature = 1;
        p.top_k = 1;
        CHECK_OK(llv_sampler_process(&p, k1, 4, NULL, 0, NULL, 0, &err), &err);
        CHECK(isinf(k1[0]) && k1[1] == 5 && k1[2] == 5 && isinf(k1[3]));
    }
    /* top-p: probs 0.5, 0.25, 0.125, 0.125 (logs) */
    {
        float l[4] = {logf(0.5f), logf(0.25f), logf(0.125f), logf(0.125f)};
        float keep[4];
        llv_sampling_params p = base();
        p.top_p = 0.7f; /* drop while ascending cum <= 0.3: 0.125, 0.25 -> keeps {0, 1} */
        memcpy(keep, l, sizeof l);
        CHECK_OK(llv_sampler_process(&p, keep, 4, NULL, 0, NULL, 0, &err), &err);
        CHECK(!isinf(keep[0]) && !isinf(keep[1]) && isinf(keep[2]) && isinf(keep[3]));
        p.top_p = 0.0f; /* keeps only the largest */
        memcpy(keep, l, sizeof l);
        CHECK_OK(llv_sampler_process(&p, keep, 4, NULL, 0, NULL, 0, &err), &err);
        CHECK(!isinf(keep[0]) && isinf(keep[1]) && isinf(keep[2]) && isinf(keep[3]));
        p.top_p = 1.5f; /* >= 1: off */
        memcpy(keep, l, sizeof l);
        CHECK_OK(llv_sampler_process(&p, keep, 4, NULL, 0, NULL, 0, &err), &err);
        CHECK(!isinf(keep[3]));
        /* min-p 0.3: drops p < 0.15 */
        p.top_p = 1.0f;
        p.min_p = 0.3f;
        memcpy(keep, l, sizeof l);
        CHECK_OK(llv_sampler_process(&p, keep, 4, NULL, 0, NULL, 0, &err), &err);
        CHECK(!isinf(keep[0]) && !isinf(keep[1]) && isinf(keep[2]) && isinf(keep[3]));
    }
    /* softmax over kept; argmax first index on ties */
    {
        float l[4] = {0, -INFINITY, 0, -INFINITY}, pr[4];
        llv_softmax_kept(l, 4, pr);
        CHECK(pr[0] == 0.5f && pr[1] == 0 && pr[2] == 0.5f && pr[3] == 0);
        float a[5] = {1, 7, NAN, 7, 2};
        CHECK_EQ_I(llv_argmax_f32(a, 5), 1);
        float z[2] = {-INFINITY, -INFINITY};
        llv_softmax_kept(z, 2, pr);
        CHECK(pr[0] == 0 && pr[1] == 0);
    }
}

#define NV 64

static void fill_logits(float *l, int n) {
    for (int i = 0; i < n; i++) l[i] = (float)sin(i * 1.7) * 2.0f;
}

static void run_sequence(const llv_sampling_params *p, int32_t *out, int n_steps) {
    llv_sampler *s;
    llv_error err;
    CHECK_OK(llv_sampler_create(p, NV, &s, &err), &err);
    if (!s) return;
    float l[NV];
    for (int t = 0; t < n_steps; t++) {
        fill_logits(l, NV);
        out[t] = llv_sampler_sample(s, l, NULL, 0, out, (size_t)t);
        CHECK(out[t] >= 0 && out[t] < NV);
    }
    llv_sampler_free(s);
}

static void test_determinism(void) {
    if (!llv_test_case("determinism")) return;
    enum { T = 200 };
    int32_t a[T], b[T], c[T];
    llv_sampling_params p = base();
    p.seed = 1234;
    p.frequency_penalty = 0.1f;
    run_sequence(&p, a, T);
    run_sequence(&p, b, T);
    CHECK(memcmp(a, b, sizeof a) == 0);
    p.seed = 1235;
    run_sequence(&p, c, T);
    CHECK(memcmp(a, c, sizeof a) != 0);
    /* seed 0 = random: two runs differ (probability of equality ~0) */
    p.seed = 0;
    run_sequence(&p, b, T);
    run_sequence(&p, c, T);
    CHECK(memcmp(b, c, sizeof b) != 0);
    /* temperature 0 ignores the seed and takes the argmax */
    p = base();
    p.temperature = 0;
    p.seed = 1;
    run_sequence(&p, a, 10);
    p.seed = 999;
    run_sequence(&p, b, 10);
    CHECK(memcmp(a, b, 10 * sizeof *a) == 0);
    float l[NV];
    fill_logits(l, NV);
    CHECK_EQ_I(a[0], llv_argmax_f32(l, NV));
    /* top_k = 1 is greedy too */
    p = base();
    p.top_k = 1;
    run_sequence(&p, c, 10);
    CHECK_EQ_I(c[0], a[0]);
}

/* sampling frequencies on a fixed distribution follow the probabilities */
static void test_frequencies(void) {
    if (!llv_test_case("frequencies")) return;
    const float probs[5] = {0.4f, 0.3f, 0.15f, 0.1f, 0.05f};
    llv_sampling_params p = base();
    p.seed = 7;
    llv_sampler *s;
    llv_error err;
    CHECK_OK(llv_sampler_create(&p, 5, &s, &err), &err);
    if (!s) return;
    enum { N = 100000 };
    long cnt[5] = {0};
    for (int t = 0; t < N; t++) {
        float l[5];
        for (int i = 0; i < 5; i++) l[i] = logf(probs[i]) + 3.0f;
        cnt[llv_sampler_sample(s, l, NULL, 0, NULL, 0)]++;
    }
    double chi2 = 0;
    for (int i = 0; i < 5; i++) {
        double e = N * (double)probs[i];
        chi2 += (cnt[i] - e) * (cnt[i] - e) / e;
    }
    /* 4 degrees of freedom: P(chi2 > 18.47) = 0.001 */
    CHECK_MSG(chi2 < 18.47, "chi-square %.2f over counts %ld %ld %ld %ld %ld", chi2, cnt[0], cnt[1], cnt[2], cnt[3],
              cnt[4]);
    /* with top_k 2 only ids 0 and 1 ever come out, in ratio 4:3 */
    llv_sampler_free(s);
    p.top_k = 2;
    CHECK_OK(llv_sampler_create(&p, 5, &s, &err), &err);
    if (!s) return;
    long c2[5] = {0};
    for (int t = 0; t < 20000; t++) {
        float l[5];
        for (int i = 0; i < 5; i++) l[i] = logf(probs[i]);
        c2[llv_sampler_sample(s, l, NULL, 0, NULL, 0)]++;
    }
    CHECK(c2[2] == 0 && c2[3] == 0 && c2[4] == 0);
    CHECK_CLOSE((double)c2[0] / 20000.0, 4.0 / 7.0, 0.02);
    llv_sampler_free(s);
}


/* reference top-p: HF's algorithm over a full ascending sort */
typedef struct { float v; int32_t i; } ref_pair;
static int ref_cmp(const void *a, const void *b) {
    const ref_pair *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->i < y->i) - (x->i > y->i);
}
static void ref_top_p(float *l, int n, float top_p) {
    ref_pair *a = malloc((size_t)n * sizeof *a);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (l[i] > -INFINITY) a[m++] = (ref_pair){l[i], i};
    qsort(a, (size_t)m, sizeof *a, ref_cmp);
    double sum = 0, cum = 0;
    for (int j = 0; j < m; j++) sum += expf(a[j].v - a[m - 1].v);
    for (int j = 0; j + 1 < m; j++) {
        cum += (double)(float)(expf(a[j].v - a[m - 1].v) / sum);
        if ((float)cum <= (float)(1.0 - (double)top_p)) l[a[j].i] = -INFINITY;
    }
    free(a);
}

/* the partial-selection path for large vocabularies equals a full sort */
static void test_top_p_large(void) {
    if (!llv_test_case("top_p_large")) return;
    enum { N = 128256 };
    float *l = malloc(N * sizeof *l), *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    uint64_t x = 12345;
    const float scales[3] = {1.0f, 4.0f, 12.0f};
    const float tps[5] = {0.0f, 0.3f, 0.9f, 0.99f, 0.999f};
    int mismatches = 0, kept_total = 0;
    for (int sc = 0; sc < 3; sc++) {
        for (int i = 0; i < N; i++) { /* sum of uniforms ~ gaussian; some exact ties */
            double g = 0;
            for (int k = 0; k < 4; k++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                g += (double)(x >> 11) * 0x1.0p-53 - 0.5;
            }
            l[i] = (float)(g * scales[sc]);
            if (i % 97 == 0) l[i] = roundf(l[i]);
        }
        for (int t = 0; t < 5; t++) {
            memcpy(a, l, N * sizeof *a);
            memcpy(b, l, N * sizeof *b);
            llv_sampling_params p = base();
            p.top_p = tps[t];
            llv_error err;
            CHECK_OK(llv_sampler_process(&p, a, N, NULL, 0, NULL, 0, &err), &err);
            ref_top_p(b, N, tps[t]);
            for (int i = 0; i < N; i++) {
                mismatches += (a[i] > -INFINITY) != (b[i] > -INFINITY);
                kept_total += a[i] > -INFINITY;
            }
        }
    }
    CHECK_MSG(mismatches == 0, "top-p kept sets equal to the full-sort reference (%d mismatches, %d kept)", mismatches,
              kept_total);
    free(l), free(a), free(b);
}

static void test_golden(void) {
    if (!llv_test_case("golden")) return;
    const char *shared = llv_test_shared_dir();
    if (!shared) {
        printf("golden: no shared dir, skipped\n");
        return;
    }
    char *root = llv_test_path(shared, "golden");
    cJSON *man = golden_manifest(root);
    if (!man) {
        printf("golden: no manifest, skipped\n");
        free(root);
        return;
    }
    golden_ctx ctx = {.root = root};
    int found = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, man) {
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "kind"));
        if (kind && strcmp(kind, "sampler") == 0) {
            found++;
            int fails = golden_check_sampler(&ctx, e);
            CHECK_MSG(fails == 0, "golden sampler: %d failed quantities", fails);
        }
    }
    CHECK_MSG(found == 1, "one sampler entry in the manifest (found %d)", found);
    CHECK_MSG(ctx.n_pass >= 18 * 3, "golden sampler: %d quantities passed", ctx.n_pass);
    cJSON_Delete(man);
    free(root);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    test_defaults_and_validate();
    test_processors();
    test_logprobs_fill();
    test_determinism();
    test_frequencies();
    test_top_p_large();
    test_golden();
    return llv_test_finish();
}
