/* golden-text.c - text quantities of "model_case" entries (every layer's
 * hidden states, final norm, logits of every row, greedy generation with the
 * KV cache) and the "rope" tables. */
#include "golden.h"

#include "model.h"
#include "safetensors.h"
#include "text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int golden_check_text_case(golden_ctx *ctx, const cJSON *entry, llv_model *m) {
    const cJSON *jpath = cJSON_GetObjectItemCaseSensitive(entry, "path");
    const cJSON *jcfg = cJSON_GetObjectItemCaseSensitive(entry, "config");
    const cJSON *jcase = cJSON_GetObjectItemCaseSensitive(entry, "case");
    char cname[160];
    snprintf(cname, sizeof cname, "%s/%s", cJSON_IsString(jcfg) ? jcfg->valuestring : "?",
             cJSON_IsString(jcase) ? jcase->valuestring : "?");
    int fail0 = ctx->n_fail;
    if (!cJSON_IsString(jpath)) {
        golden_record(ctx, cname, "text", false, "manifest entry has no path");
        return 1;
    }
    llv_st *st = golden_open(ctx, cname, "text", jpath->valuestring);
    if (!st) return 1;
    llv_error err = {0};
    const llv_hparams *hp = &m->hp;
    const int32_t D = hp->n_embd, V = hp->n_vocab, NL = hp->n_layer;
    double atol_h, rtol_h, atol_l, rtol_l;
    golden_tolerance(entry, "hidden_states", &atol_h, &rtol_h);
    golden_tolerance(entry, "logits", &atol_l, &rtol_l);

    int64_t T = 0, n_ref_new = 0, n_cs = 0, n_mask = 0, n_nt = 0;
    int64_t *ids = golden_read_i64(st, "input_ids", &T);
    int64_t *ref_new = golden_read_i64(st, "gen.new_tokens", &n_ref_new);
    float *ref_hidden = golden_read_f32(st, "text.hidden_states", NULL);
    float *ref_last = golden_read_f32(st, "last_hidden_state", NULL);
    float *ref_logits = golden_read_f32(st, "logits", NULL);
    float *ref_gen_logits = golden_read_f32(st, "gen.logits", NULL);
    float *cstates = golden_read_f32(st, "cross_attention_states", &n_cs);
    int64_t *cmask = golden_read_i64(st, "cross_attention_mask", &n_mask);
    int64_t *num_tiles = golden_read_i64(st, "num_tiles", &n_nt);
    int32_t *tokens = NULL;
    uint64_t *rows = NULL;
    float *hidden = NULL, *logits = NULL, *gen_logits = NULL;
    llv_text_state *ts = NULL;
    llv_cross_kv *kvs[64] = {0};
    int32_t M = 0;
    if (!ids || !ref_new || !ref_hidden || !ref_last || !ref_logits || !ref_gen_logits) {
        golden_record(ctx, cname, "text", false, "case file lacks a text tensor");
        goto done;
    }
    const int32_t max_new = 8; /* generation_config max_new_tokens */
    tokens = malloc(sizeof(int32_t) * (size_t)(T + max_new + 1));
    rows = calloc((size_t)(T + 1), sizeof(uint64_t));
    hidden = malloc(sizeof(float) * (size_t)((NL + 1) * T * D));
    logits = malloc(sizeof(float) * (size_t)(T * V));
    gen_logits = malloc(sizeof(float) * (size_t)V * max_new); /* one row per generated token */
    if (!tokens || !rows || !hidden || !logits || !gen_logits) {
        golden_record(ctx, cname, "text", false, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < T; i++) tokens[i] = (int32_t)ids[i];

    /* images: HF's cross_attention_states [M*4, P, Dt] split per image */
    if (cstates && cmask && num_tiles) {
        const llv_st_tensor *tcs = llv_st_find(st, "cross_attention_states");
        const llv_st_tensor *tcm = llv_st_find(st, "cross_attention_mask");
        int64_t tiles = tcs->shape[0], P = tcs->shape[1];
        M = (int32_t)n_nt;
        int64_t mt = tcm->shape[3];
        if (M <= 0 || M > 64 || tiles != (int64_t)M * mt || tcs->shape[2] != D) {
            golden_record(ctx, cname, "cross_attention_states", false, "unexpected shapes");
            goto done;
        }
        for (int32_t i = 0; i < M; i++) {
            if (llv_cross_kv_compute(m, NULL, NULL,
                                     &(llv_cross_kv_input){.states = cstates + (size_t)i * mt * P * D, .n_tok = (int32_t)(mt * P), .n_tiles = (int32_t)num_tiles[i], .tile_tokens = (int32_t)P},
                                     LLV_KV_F32, &kvs[i], &err) != LLV_OK) {
                golden_record(ctx, cname, "cross_kv", false, "%s", err.message);
                goto done;
            }
        }
        golden_mask_rows(cmask, T, M, mt, rows);
    }

    if (llv_text_state_create(m, (int32_t)(T + max_new + 1), 128, LLV_KV_F32, &ts, &err) != LLV_OK) {
        golden_record(ctx, cname, "text", false, "state: %s", err.message);
        goto done;
    }
    llv_text_batch b = {.tokens = tokens, .n = (int32_t)T, .images = (const llv_cross_kv *const *)kvs,
                        .n_images = M, .row_images = rows, .logits = logits, .logits_all = true, .hidden = hidden};
    if (llv_text_forward(m, ts, NULL, &b, &err) != LLV_OK) {
        golden_record(ctx, cname, "forward", false, "%s", err.message);
        goto done;
    }
    for (int32_t l = 0; l <= NL; l++) {
        char q[64];
        snprintf(q, sizeof q, "text.hidden_states[%d]", l);
        golden_compare(ctx, cname, q, hidden + (size_t)l * T * D, ref_hidden + (size_t)l * T * D, T * D, atol_h,
                       rtol_h);
    }
    golden_compare(ctx, cname, "last_hidden_state", hidden + (size_t)NL * T * D, ref_last, T * D, atol_h, rtol_h);
    golden_compare(ctx, cname, "logits", logits, ref_logits, T * V, atol_l, rtol_l);

    /* greedy generation with the KV cache: step 0 = the prompt's last row */
    int64_t gen[16];
    int32_t n_gen = 0;
    llv_status gs = golden_greedy(m, ts, NULL, kvs, M, rows[T - 1], logits + (size_t)(T - 1) * V, max_new, gen,
                                  gen_logits, &n_gen, &err);
    for (int32_t i = 0; i < n_gen && i < n_ref_new; i++) {
        char q[64];
        snprintf(q, sizeof q, "gen.logits[%d]", i);
        golden_compare(ctx, cname, q, gen_logits + (size_t)i * V, ref_gen_logits + (size_t)i * V, V, atol_l, rtol_l);
    }
    if (gs != LLV_OK) {
        golden_record(ctx, cname, "gen", false, "decode step %d: %s", n_gen, err.message);
        goto done;
    }
    if (n_gen != n_ref_new)
        golden_record(ctx, cname, "gen.new_tokens", false, "generated %d tokens, reference %lld", n_gen,
                      (long long)n_ref_new);
    else
        golden_compare_i64(ctx, cname, "gen.new_tokens", gen, ref_new, n_gen);
done:
    for (int32_t i = 0; i < 64; i++) llv_cross_kv_free(kvs[i]);
    llv_text_state_free(ts);
    free(ids);
    free(ref_new);
    free(ref_hidden);
    free(ref_last);
    free(ref_logits);
    free(ref_gen_logits);
    free(cstates);
    free(cmask);
    free(num_tiles);
    free(tokens);
    free(rows);
    free(hidden);
    free(logits);
    free(gen_logits);
    llv_st_close(st);
    return ctx->n_fail - fail0;
}

int golden_check_rope(golden_ctx *ctx, const cJSON *entry) {
    int fail0 = ctx->n_fail;
    const cJSON *jpath = cJSON_GetObjectItemCaseSensitive(entry, "path");
    const cJSON *cfgs = cJSON_GetObjectItemCaseSensitive(entry, "configs");
    if (!cJSON_IsString(jpath) || !cfgs) {
        golden_record(ctx, "rope", "rope", false, "manifest entry lacks path/configs");
        return 1;
    }
    double atol = 1e-6;
    const cJSON *tol = cJSON_GetObjectItemCaseSensitive(entry, "tolerance");
    const cJSON *ja = tol ? cJSON_GetObjectItemCaseSensitive(tol, "atol") : NULL;
    if (cJSON_IsNumber(ja)) atol = ja->valuedouble;
    llv_st *st = golden_open(ctx, "rope", "rope", jpath->valuestring);
    if (!st) return 1;
    const cJSON *c;
    cJSON_ArrayForEach(c, cfgs) {
        char cname[96], key[128];
        snprintf(cname, sizeof cname, "rope/%s", c->string);
        llv_hparams hp;
        memset(&hp, 0, sizeof hp);
        const cJSON *jhd = cJSON_GetObjectItemCaseSensitive(c, "head_dim");
        const cJSON *jth = cJSON_GetObjectItemCaseSensitive(c, "rope_theta");
        const cJSON *rs = cJSON_GetObjectItemCaseSensitive(c, "rope_scaling");
        if (!cJSON_IsNumber(jhd) || !cJSON_IsNumber(jth) || jhd->valueint <= 0 || jhd->valueint > LLV_MAX_HEAD_DIM) {
            golden_record(ctx, cname, "config", false, "bad head_dim/rope_theta");
            continue;
        }
        hp.head_dim = jhd->valueint;
        hp.rope_theta = (float)jth->valuedouble;
        const cJSON *rt = rs ? cJSON_GetObjectItemCaseSensitive(rs, "rope_type") : NULL;
        if (cJSON_IsString(rt) && !strcmp(rt->valuestring, "llama3")) {
            hp.rope_llama3 = true;
            hp.rope_factor = (float)cJSON_GetObjectItemCaseSensitive(rs, "factor")->valuedouble;
            hp.rope_low_freq_factor = (float)cJSON_GetObjectItemCaseSensitive(rs, "low_freq_factor")->valuedouble;
            hp.rope_high_freq_factor = (float)cJSON_GetObjectItemCaseSensitive(rs, "high_freq_factor")->valuedouble;
            hp.rope_orig_ctx = cJSON_GetObjectItemCaseSensitive(rs, "original_max_position_embeddings")->valueint;
        }
        const int nf = hp.head_dim / 2, hd = hp.head_dim;
        float inv[LLV_MAX_HEAD_DIM / 2];
        llv_rope_inv_freq(&hp, inv);
        snprintf(key, sizeof key, "%s.inv_freq", c->string);
        float *ref_inv = golden_read_f32(st, key, NULL);
        snprintf(key, sizeof key, "%s.positions", c->string);
        int64_t np = 0;
        int64_t *pos = golden_read_i64(st, key, &np);
        snprintf(key, sizeof key, "%s.cos", c->string);
        float *ref_cos = golden_read_f32(st, key, NULL);
        snprintf(key, sizeof key, "%s.sin", c->string);
        float *ref_sin = golden_read_f32(st, key, NULL);
        float *cs = malloc(sizeof(float) * (size_t)(np * hd + 1)), *sn = malloc(sizeof(float) * (size_t)(np * hd + 1));
        if (ref_inv && pos && ref_cos && ref_sin && cs && sn) {
            golden_compare(ctx, cname, "inv_freq", inv, ref_inv, nf, 0, 1e-6);
            for (int64_t p = 0; p < np; p++) {
                llv_rope_cos_sin(inv, nf, pos[p], cs + p * hd, sn + p * hd);
                memcpy(cs + p * hd + nf, cs + p * hd, sizeof(float) * (size_t)nf);
                memcpy(sn + p * hd + nf, sn + p * hd, sizeof(float) * (size_t)nf);
            }
            golden_compare(ctx, cname, "cos", cs, ref_cos, np * hd, atol, 0);
            golden_compare(ctx, cname, "sin", sn, ref_sin, np * hd, atol, 0);
        } else {
            golden_record(ctx, cname, "tables", false, "tensors missing");
        }
        free(ref_inv);
        free(pos);
        free(ref_cos);
        free(ref_sin);
        free(cs);
        free(sn);
    }
    llv_st_close(st);
    return ctx->n_fail - fail0;
}
