/* hparams.c - the one validation of the model's structural hyperparameters.
 * The converter (from an HF config.json) and the loader (from GGUF keys) both
 * fill an llv_hparams and call these, so a rule cannot differ between them. */
#include "model.h"

llv_status llv_hparams_check_text(const llv_hparams *hp, llv_error *err) {
    if (hp->n_head_kv < 1 || hp->n_head % hp->n_head_kv != 0)
        return llv_err(err, LLV_ERR_FORMAT, "attention heads %d not a multiple of key/value heads %d", hp->n_head,
                       hp->n_head_kv);
    if (hp->n_cross < 0 || hp->n_cross > LLV_MAX_CROSS)
        return llv_err(err, LLV_ERR_FORMAT, "%d cross_attention_layers (max %d)", hp->n_cross, LLV_MAX_CROSS);
    for (int i = 0; i < hp->n_cross; i++)
        if (hp->cross_layers[i] < 0 || hp->cross_layers[i] >= hp->n_layer ||
            (i && hp->cross_layers[i] <= hp->cross_layers[i - 1]))
            return llv_err(err, LLV_ERR_FORMAT,
                           "cross_attention_layers[%d] = %d invalid for %d layers (must increase, each < layers)", i,
                           hp->cross_layers[i], hp->n_layer);
    return LLV_OK;
}

llv_status llv_hparams_check_vision(const llv_hparams *hp, llv_error *err) {
    if (hp->v_n_head < 1 || hp->v_n_embd % hp->v_n_head != 0)
        return llv_err(err, LLV_ERR_FORMAT, "vision hidden size %d not a multiple of head count %d", hp->v_n_embd,
                       hp->v_n_head);
    if (hp->v_patch_size < 1 || hp->v_image_size % hp->v_patch_size != 0)
        return llv_err(err, LLV_ERR_FORMAT, "vision image_size %d not a multiple of patch_size %d", hp->v_image_size,
                       hp->v_patch_size);
    if (hp->v_n_interm < 0 || hp->v_n_interm > LLV_MAX_INTERMEDIATE)
        return llv_err(err, LLV_ERR_FORMAT, "%d intermediate_layers_indices (max %d)", hp->v_n_interm,
                       LLV_MAX_INTERMEDIATE);
    /* HF collects num_hidden_layers + 1 states (layer 0's input .. the last layer's
     * output), so an index equal to the layer count is valid. */
    for (int i = 0; i < hp->v_n_interm; i++)
        if (hp->v_interm[i] < 0 || hp->v_interm[i] > hp->v_n_layer)
            return llv_err(err, LLV_ERR_FORMAT, "intermediate_layers_indices[%d] = %d outside [0, %d]", i,
                           hp->v_interm[i], hp->v_n_layer);
    return LLV_OK;
}
