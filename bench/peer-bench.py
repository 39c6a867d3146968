"""llv against llama.cpp on the same GGUF file, side by side on this machine.

    PY=$(sh tools/peer/setup.sh | head -1)
    $PY bench/peer-bench.py [--model FILE] [--threads 2] [--runs 5] [--prompt 512] [--gen 64]

Runs are interleaved (llv, llama.cpp, llv, ...) so that both see the same
machine minute by minute. llv is measured by build/bin/llv-bench (one run per
call); llama.cpp by llama-cpp-python (tools/peer/requirements.txt, built from
source for this CPU by tools/peer/setup.sh): the same prompt length in
batches of 512, then greedy-free decoding of --gen tokens one at a time
(llama_decode on a fixed token: the arithmetic and memory traffic of a decode
step, without sampling on either side; llv-bench decodes the same way).
Prints the medians and their ratios llv / llama.cpp (above 1 = llv faster).
Without --model it measures SmolLM2-135M-Instruct Q4_1 from tools/peer/setup.sh.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def llv_run(bin_dir, model, threads, prompt, gen):
    out = subprocess.run([os.path.join(bin_dir, "llv-bench"), "-m", model, "-t", str(threads), "--runs", "1",
                          "--prompt", str(prompt), "--gen", str(gen), "--no-vision", "--no-ceilings",
                          "--streams", "0", "--json"], check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    return r["prompt_tokens_per_s"], r["decode_tokens_per_s"], r.get("isa", "?")


class Peer:
    def __init__(self, model, threads, prompt):
        import llama_cpp
        self.lc = llama_cpp
        self.llm = llama_cpp.Llama(model_path=model, n_ctx=prompt + 1024, n_batch=512, n_ubatch=512,
                                   n_threads=threads, n_threads_batch=threads, verbose=False)
        n_vocab = self.llm.n_vocab()
        self.prompt = [(7 * i + 13) % (n_vocab - 300) + 200 for i in range(prompt)]

    def run(self, gen):
        llm = self.llm
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(self.prompt)
        t1 = time.perf_counter()
        llm.reset()  # decode after a 16-token prompt, as llv-bench measures it
        llm.eval(self.prompt[:16])
        tok = self.prompt[-1]
        t2 = time.perf_counter()
        for _ in range(gen):
            llm.eval([tok])
        t3 = time.perf_counter()
        return len(self.prompt) / (t1 - t0), gen / (t3 - t2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--llv-bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--gen", type=int, default=64)
    args = ap.parse_args()
    model = args.model
    if model is None:
        lines = subprocess.run(["sh", os.path.join(ROOT, "tools", "peer", "setup.sh")], check=True,
                               capture_output=True, text=True).stdout.split()
        model = lines[1]
    peer = Peer(model, args.threads, args.prompt)
    peer.run(4)  # warm-up: page the file in, build llama.cpp's graphs
    llv_run(args.llv_bin, model, args.threads, 16, 4)
    rows = {"llv": [], "llama.cpp": []}
    isa = "?"
    for r in range(args.runs):
        p, d, isa = llv_run(args.llv_bin, model, args.threads, args.prompt, args.gen)
        rows["llv"].append((p, d))
        rows["llama.cpp"].append(peer.run(args.gen))
        print(f"run {r + 1}/{args.runs}: llv {p:.1f} / {d:.1f}, llama.cpp {rows['llama.cpp'][-1][0]:.1f} / "
              f"{rows['llama.cpp'][-1][1]:.1f} tokens/s (prompt / decode)", file=sys.stderr)
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in rows.items()}
    print(f"model: {os.path.basename(model)}, {args.threads} threads, prompt {args.prompt} tokens, "
          f"decode {args.gen} tokens, {args.runs} interleaved runs, llv kernels {isa}")
    print(f"{'':12}{'prompt tokens/s':>18}{'decode tokens/s':>18}")
    for k in ("llv", "llama.cpp"):
        print(f"{k:12}{med[k][0]:18.1f}{med[k][1]:18.1f}")
    print(f"{'llv / peer':12}{med['llv'][0] / med['llama.cpp'][0]:18.2f}{med['llv'][1] / med['llama.cpp'][1]:18.2f}")


if __name__ == "__main__":
    main()
