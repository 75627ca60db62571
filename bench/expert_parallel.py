#!/usr/bin/env python3
"""Expert parallelism over MPI: `mpirun -np N mhmoe-run --expert-parallel` for N = 1, 2, 4.

For each token count and N: the median forward time (`--bench`, rank 0), whether the output equals
the one-process output byte for byte, and from each rank's `--stats` the all-to-all traffic per
layer: rows that leave their rank, bytes sent in the dispatch (a row is the sub-token plus its
weight and expert: (d + 2) * 4 bytes) and in the combine (d * 4 bytes), and the time in the
exchanges. The traffic is set beside the analytic value: k * h * d * 4 bytes per token per
direction if every (sub-token, choice) left its rank, times (N - 1) / N for uniform routing.

On this 2-core machine N = 4 oversubscribes the cores (one thread per rank): the times show the cost
of the exchange on one host, not a cluster's scaling; docs/distributed.md turns the measured volume
into an estimate for many hosts. bench/README.md describes it; not part of the test suite.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(cmd, env=e, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("failed (rc %d): %s\n%s%s" % (p.returncode, " ".join(cmd), p.stdout, p.stderr))
    return p


def traffic(stats, layers):
    """Per layer: rows leaving their rank, dispatch and combine bytes sent, and the slowest rank's
    exchange milliseconds (dispatch + combine), from rank 0's --stats."""
    per = stats["expert_parallel"]["per_rank"]
    out = []
    for l in range(layers):
        d = [r["layers"][l]["dispatch"] for r in per]
        c = [r["layers"][l]["combine"] for r in per]
        out.append({
            "rows_leaving": sum(x["rows_sent"] for x in d),
            "dispatch_bytes": sum(x["bytes_sent"] for x in d),
            "combine_bytes": sum(x["bytes_sent"] for x in c),
            "exchange_ms_max_rank": max(a["ms"] + b["ms"] for a, b in zip(d, c)),
        })
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tools", default=os.path.join(ROOT, "build", "bin"))
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--experts", type=int, default=40)
    p.add_argument("--top-k", type=int, default=2)
    p.add_argument("--ffn", type=int, default=768)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--tokens", default="8,512,2048")
    p.add_argument("--ranks", default="1,2,4")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--json", default=os.path.join(HERE, "results", "expert_parallel.json"))
    a = p.parse_args()
    mpirun = shutil.which("mpirun")
    if not mpirun:
        sys.exit("bench: mpirun not found (scripts/setup.sh installs openmpi-bin)")
    cores = os.cpu_count() or 1
    env = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    tmp = tempfile.mkdtemp(prefix="mhmoe-ep-bench-")
    model = os.path.join(tmp, "model")
    run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "make_model.py"), model,
         "--hidden-size", str(a.hidden), "--layers", str(a.layers), "--heads", str(a.heads),
         "--experts", str(a.experts), "--top-k", str(a.top_k), "--ffn", str(a.ffn), "--seed", "7"])
    d = a.hidden // a.heads
    rows = []
    print("D%d-h%d-E%d-k%d-F%d, %d layers, %d cores; analytic all-to-all volume per token per "
          "direction if every choice leaves its rank: k*h*d*4 = %d bytes" % (
              a.hidden, a.heads, a.experts, a.top_k, a.ffn, a.layers, cores,
              a.top_k * a.heads * d * 4))
    print("%7s %3s %10s %6s %12s %14s %14s %14s %12s" % (
        "tokens", "N", "median ms", "same", "leave/token", "dispatch B/tok", "combine B/tok",
        "analytic B/tok", "exch ms/layer"))
    for n_tok in [int(t) for t in a.tokens.split(",")]:
        x = os.path.join(tmp, "x%d.npy" % n_tok)
        run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "make_model.py"), model + "-in",
             "--hidden-size", str(a.hidden), "--layers", "1", "--heads", str(a.heads),
             "--experts", str(a.experts), "--top-k", str(a.top_k), "--ffn", "8",
             "--tokens", str(n_tok), "--seed", "11"])
        shutil.move(os.path.join(model + "-in", "input.npy"), x)
        shutil.rmtree(model + "-in")
        ref = None
        for n in [int(r) for r in a.ranks.split(",")]:
            out = os.path.join(tmp, "y%d-%d.npy" % (n_tok, n))
            st = os.path.join(tmp, "s%d-%d.json" % (n_tok, n))
            threads = max(1, cores // n)
            cmd = [os.path.join(a.tools, "mhmoe-run"), model, "--input", x, "--output", out,
                   "--stats", st, "--bench", str(a.runs), "--threads", str(threads)]
            if n > 1:
                cmd = [mpirun, "--oversubscribe", "-np", str(n)] + cmd + ["--expert-parallel"]
            run(cmd, env)
            stats = json.load(open(st))
            y = open(out, "rb").read()
            ref = ref if ref is not None else y
            row = {"tokens": n_tok, "ranks": n, "threads_per_rank": threads,
                   "median_ms": stats["timings_ms"].get("steady_run"), "identical": y == ref}
            if n > 1:
                t = traffic(stats, a.layers)
                row["layers"] = t
                leave = sum(l["rows_leaving"] for l in t) / a.layers / n_tok
                disp = sum(l["dispatch_bytes"] for l in t) / a.layers / n_tok
                comb = sum(l["combine_bytes"] for l in t) / a.layers / n_tok
                analytic = a.top_k * a.heads * d * 4 * (n - 1) / n
                exch = sum(l["exchange_ms_max_rank"] for l in t) / a.layers
                row.update({"rows_leaving_per_token": leave, "dispatch_bytes_per_token": disp,
                            "combine_bytes_per_token": comb,
                            "analytic_bytes_per_token_uniform": analytic,
                            "exchange_ms_per_layer": exch})
                print("%7d %3d %10.3f %6s %12.2f %14.0f %14.0f %14.0f %12.3f" % (
                    n_tok, n, row["median_ms"], row["identical"], leave, disp, comb, analytic, exch))
            else:
                print("%7d %3d %10.3f %6s" % (n_tok, n, row["median_ms"], row["identical"]))
            rows.append(row)
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({"config": vars(a), "cores": cores, "rows": rows}, f, indent=1)
    log("bench: wrote %s" % a.json)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
