"""What a decode step costs on this machine, by batch size: measured once on the loaded model.

Speculative decoding verifies k drafted tokens in a batch of 1 + k, and whether that pays depends on
what such a batch costs against a one-token step. That is the kernels' business, not a constant:
llama.cpp's repacked Q4_K weights run their GEMV once per row for batches of 2 and 3 (about 2-3
one-token steps) and a GEMM from 4 rows on. So the backend times one decode step of each batch size
on its own model, in its own compute thread, and keeps the table for the model's lifetime."""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("ossdoc.llm")

# Rounds over every batch size (after one warm-up step of the largest): the cost of a size is its
# fastest round.
# Other processes on the cores only ever add time (a descheduled OpenMP thread stalls the whole
# step), so the minimum is the kernels' own cost; a median follows the neighbours' load instead.
ROUNDS = 3
# Seconds spent measuring at most (about 1 s for the 0.5B on 2 idle cores). On cores shared with
# other busy processes a step can take 100 times as long: the sizes not reached by then are left out
# of the table, and drafts that long are not verified.
BUDGET = 5.0
_TEXT = b"The harbour master wrote the date, the tide and the ships in the log, as every evening."


def measure(llm: Any, most: int, rounds: int = ROUNDS, budget: float = BUDGET) -> tuple[float, ...]:
    """The time of a decode step of 1 + k tokens (logits at every row, as a verification computes
    them) relative to a one-token step, for k = 0 … ``most``: ``costs[k]``. Runs in the thread that
    computes with ``llm`` (llama.cpp's OpenMP team is per thread), at the positions after the KV
    cache's ``n_tokens``, whose entries it removes again; the logits it leaves are garbage."""
    start = llm.n_tokens
    most = max(0, min(most, llm.n_ctx() - start - 1))
    tokens = llm.tokenize(_TEXT, add_bos=False, special=False)
    tokens = (tokens * (most // len(tokens) + 1))[: most + 1]
    sizes = range(1, most + 2)
    best = dict.fromkeys(sizes, float("inf"))
    began = time.perf_counter()
    # Alternate the order, so a slow spell of the machine does not fall on the same sizes.
    order = [size for r in range(rounds) for size in (reversed(sizes) if r % 2 else sizes)]
    if budget > 0:
        _step(llm, start, tokens)  # warms up: the weights' pages, the largest compute buffers
    for size in order:
        if time.perf_counter() - began >= budget:
            break
        best[size] = min(best[size], _step(llm, start, tokens[:size]))
    llm._ctx.kv_cache_seq_rm(-1, start, -1)
    measured = [size for size in sizes if best[size] < float("inf")]  # the first round's ascending
    costs = tuple(max(best[size] / best[1], 1.0) for size in measured) or (1.0,)
    log.info(
        "decode step costs by batch size, in one-token steps of %.1f ms (measured in %.2f s): %s",
        best[1] * 1000,
        time.perf_counter() - began,
        " ".join(f"{k + 1}:{cost:.2f}" for k, cost in enumerate(costs)),
    )
    return costs


def _step(llm: Any, start: int, batch: list[int]) -> float:
    """The seconds one decode step of ``batch`` at position ``start`` takes."""
    llm._ctx.kv_cache_seq_rm(-1, start, -1)
    llm._batch.set_batch(batch=batch, n_past=start, logits_all=True)
    before = time.perf_counter()
    llm._ctx.decode(llm._batch)
    return time.perf_counter() - before
