# test-bench.sh - llv-bench works and reports what it promises: --help vs
# README, bad arguments, the --json fields on the demo model (the 11B figures
# come from the same code path on a bigger file), and --kernels. No timing is
# asserted: figures only have to be present, finite and positive.
set -u
SRC=${LLV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${LLV_BIN_DIR:-$SRC/build/bin}
BENCH=$BIN/llv-bench
[ -x "$BENCH" ] || { echo "skip: $BENCH not built"; exit 77; }
MODEL=$SRC/models/demo.gguf
[ -f "$MODEL" ] || { echo "skip: no models/demo.gguf"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fails=0
passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { if eval "$1"; then ok; else bad "$2"; fi; }
# jcheck FILE PYTHON-EXPR MESSAGE: the expression over d (the parsed JSON) is true
jcheck() {
    python3 -c "import json,math,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1" 2>/dev/null \
        && ok || bad "$3"
}

# --- help and README ------------------------------------------------------
"$BENCH" --help >"$TMP/help" 2>"$TMP/err"
check '[ $? -eq 0 ] && [ -s "$TMP/help" ]' "--help exits 0 and prints to stdout"
opts=$(grep -oE '^ +(-[a-z], )?--[a-z][a-z-]*' "$TMP/help" | grep -oE -- '--?[a-z][a-z-]*' | sort -u)
check '[ $(echo "$opts" | wc -l) -ge 15 ]' "--help lists the options ($(echo $opts))"
for o in $opts; do
    grep -qE -- "(^|[^a-z-])$o([^a-z-]|\$)" "$SRC/README.md" || bad "option $o of --help is not in README.md"
done

# --- bad arguments: exit 1, a message, no output --------------------------
for args in "--no-such-option" "--runs 0" "--threads 0" "--streams 0,99" "--kernels --kernel-rows 9" \
    "--kernels --kernel-types iq4_xs" "--kernels --kernel-mib 8" "--kernels --kernel-types q4_0,,q8_0" "--type"; do
    # shellcheck disable=SC2086
    "$BENCH" $args >"$TMP/out" 2>"$TMP/err"
    rc=$?
    check '[ $rc -eq 1 ] && [ -s "$TMP/err" ] && [ ! -s "$TMP/out" ]' "'$args': exit 1 ($rc) with a message only"
done
"$BENCH" -m "$TMP/missing.gguf" --runs 1 --no-vision --streams 0 --no-ceilings >"$TMP/out" 2>"$TMP/err"
check '[ $? -eq 2 ] && [ -s "$TMP/err" ]' "a missing model exits 2 with a message"

# --- a model run: every field of the issue, in one JSON object -------------
"$BENCH" -m "$MODEL" --image "$SRC/models/demo.png" --runs 1 --prompt 8 --gen 4 --streams 1,2 --json >"$TMP/m.json" 2>"$TMP/err"
check '[ $? -eq 0 ]' "model run exits 0 ($(tail -1 "$TMP/err"))"
jcheck "$TMP/m.json" 'all(k in d for k in ["load_s","prompt_tokens_per_s","decode_tokens_per_s","vision_s_per_tile",
    "time_to_first_token_s","peak_rss_bytes","mem_read_gbs","decode_bw_efficiency","gemm_peak_gflops",
    "prefill_gemm_efficiency","vision_gemm_efficiency","threads","isa","type"])' "model run: every required field"
jcheck "$TMP/m.json" 'all(isinstance(d[k],(int,float)) and math.isfinite(d[k]) and d[k]>0 for k in ["load_s",
    "prompt_tokens_per_s","decode_tokens_per_s","vision_s_per_tile","time_to_first_token_s",
    "decode_image_tokens_per_s","peak_rss_bytes","mem_read_gbs","decode_bw_efficiency","gemm_peak_gflops"])' \
    "model run: figures finite and positive"
jcheck "$TMP/m.json" '[s["n"] for s in d["streams"]]==[1,2] and all(s["tokens_per_s"]>0 for s in d["streams"])' \
    "model run: one streams entry per --streams count"
jcheck "$TMP/m.json" 'd["isa"] in ("ref","avx2","avx512","neon","neon-dotprod","neon-i8mm") and d["threads"]>=1' "model run: isa and threads"
LLV_ISA=ref "$BENCH" -m "$MODEL" --runs 1 --prompt 4 --gen 2 --no-vision --streams 0 --no-ceilings --json \
    >"$TMP/ref.json" 2>/dev/null
jcheck "$TMP/ref.json" 'd["isa"]=="ref" and d["vision_s_per_tile"] is None and d["decode_image_tokens_per_s"] is None
    and d["streams"]==[]' \
    "LLV_ISA=ref is reported; --no-vision and --streams 0 leave those figures out"

# --- --stalls-only: the gap figures and what held the engine in the worst ---
"$BENCH" -m "$MODEL" --image "$SRC/models/demo.png" --prompt 16 --stalls-only --json >"$TMP/s.json" 2>"$TMP/err"
check '[ $? -eq 0 ]' "--stalls-only exits 0 ($(tail -1 "$TMP/err"))"
jcheck "$TMP/s.json" 'd["stall_pieces"]>0 and 0<=d["stall_gap_p50_s"]<=d["stall_gap_p99_s"]<=d["stall_max_gap_s"]
    and 0<=d["stall_gaps_over_1s"]<=d["stall_pieces"] and d["stall_other_ttft_s"]>0 and
    (d["stall_worst_in"] in ("pass","idle","encode end") or d["stall_worst_in"].startswith(("vision","projector","cross")))
    and "prompt_tokens_per_s" not in d' "--stalls-only: ordered gap figures, the worst one's hold, no other figure"
check 'grep -qE "worst gap 1 of 3\): [0-9.]+ s" "$TMP/err" && grep -qE "^ +[-+][0-9.]+ s +[0-9.]+ s +(pass|encode)" "$TMP/err"' \
    "--stalls-only: the holds of the worst gap on stderr"

# --- --kernels -------------------------------------------------------------
"$BENCH" --kernels --kernel-mib 16 --runs 1 --kernel-types q4_0,q4_1,q5_0,q5_1,q8_0,q2_k,q3_k,q4_k,q5_k,q6_k,f16,bf16,f32 \
    --kernel-rows 1,3 --json >"$TMP/k.json" 2>"$TMP/err"
check '[ $? -eq 0 ]' "--kernels exits 0 ($(tail -1 "$TMP/err"))"
jcheck "$TMP/k.json" '[(k["type"],k["rows"]) for k in d["kernels"]]==[(t,r) for t in
    ["q4_0","q4_1","q5_0","q5_1","q8_0","q2_k","q3_k","q4_k","q5_k","q6_k","f16","bf16","f32"] for r in (1,3)]' "--kernels: one entry per type and row count"
jcheck "$TMP/k.json" 'all(k[f]>0 and math.isfinite(k[f]) for k in d["kernels"] for f in ("gbs","read_gbs","ratio"))' \
    "--kernels: figures finite and positive"
"$BENCH" --kernels --kernel-mib 16 --runs 1 --kernel-types q4_k --kernel-rows 1 >"$TMP/k.txt" 2>&1
check 'grep -qE "^q4_k +1 +[0-9.]+ +[0-9.]+ +[0-9.]+$" "$TMP/k.txt"' "--kernels table row"

echo "test-bench: $passes passed, $fails failed"
[ $fails -eq 0 ]
