#!/usr/bin/python3
"""Reference for tests/bench/bench_engine.cpp: the same training step of the same model card (builtin-tiny by
default) in PyTorch eager, written the way a PyTorch user would, on Debian's python3-torch (same LibTorch,
same OpenBLAS). Prints one JSON object. Threads: --threads N gives OpenBLAS N threads and LibTorch one
intra-op thread (the engine's setting); --torch-threads N instead gives LibTorch N threads and OpenBLAS one.

    /usr/bin/python3 tests/bench/reference_step.py --card models/builtin-tiny.json --batch 32 --seq 64
"""
import argparse
import ctypes
import ctypes.util
import json
import math
import os
import resource
import sys
import time


def set_blas_threads(n):
    # The OpenBLAS inside libblas.so.3 is already loaded by torch; set its pool through its own entry point.
    for name in ("libblas.so.3", "libopenblas.so.0"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_set_num_threads(ctypes.c_int(n))
            return True
        except (OSError, AttributeError):
            continue
    return False


def blas_core():
    for name in ("libblas.so.3", "libopenblas.so.0"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return "?"


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--card", default=os.path.join(here, "..", "..", "models", "builtin-tiny.json"))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=600)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--torch-threads", type=int, default=0)
    a = ap.parse_args()

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    cores = os.cpu_count() or 1
    if a.torch_threads > 0:
        torch.set_num_threads(a.torch_threads)
        set_blas_threads(1)
        threads = "LibTorch %d, OpenBLAS 1" % a.torch_threads
    else:
        n = a.threads or cores
        torch.set_num_threads(1)
        set_blas_threads(n)
        threads = "OpenBLAS %d, LibTorch 1" % n

    threads += ", %s kernels" % blas_core()
    card = json.load(open(a.card))
    S, stages, vw = card["image_size"], card["vision_stages"], card["vision_width"]
    d, L, H, ff, max_seq = card["d_model"], card["layers"], card["heads"], card["ff_mult"], card["max_seq"]
    n_img = (S >> stages) ** 2

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
            self.fc1, self.fc2 = nn.Linear(d, ff * d), nn.Linear(ff * d, d)

        def forward(self, x, mask):
            B, T, _ = x.shape
            h = self.ln1(x)
            sp = lambda t: t.view(B, T, H, d // H).transpose(1, 2)
            q, k, v = sp(self.q(h)), sp(self.k(h)), sp(self.v(h))
            att = (q @ k.transpose(-2, -1)) / math.sqrt(d // H) + mask
            ctx = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, d)
            x = x + self.o(ctx)
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            convs, cin = [], 3
            for s in range(stages):
                cout = vw >> (stages - 1 - s)
                convs += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.GELU()]
                cin = cout
            self.vision = nn.Sequential(*convs)
            self.proj1, self.proj2 = nn.Linear(vw, d), nn.Linear(d, d)
            self.tok, self.pos = nn.Embedding(a.vocab, d), nn.Embedding(max_seq, d)
            self.layers = nn.ModuleList(Layer() for _ in range(L))
            self.lnf = nn.LayerNorm(d)

        def forward(self, ids, images):
            B, T = ids.shape
            f = self.vision(images).flatten(2).transpose(1, 2)
            feats = self.proj2(F.gelu(self.proj1(f)))
            x = self.tok(ids)
            x = x.masked_scatter((ids == 4).unsqueeze(-1).expand_as(x), feats)
            x = x + self.pos(torch.arange(T).unsqueeze(0).expand(B, T))
            mask = torch.zeros(T, T).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), -1e9)
            for l in self.layers:
                x = l(x, mask)
            return self.lnf(x) @ self.tok.weight.t()

    torch.manual_seed(0)
    B, T = a.batch, a.seq
    model = Model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    ids = torch.randint(7, a.vocab, (B, T))
    ids[:, 1:1 + n_img] = 4
    labels = ids.roll(-1, 1).clone()
    labels[:, : T // 2] = -100  # prompt+image half, answer half, as bench_engine.cpp
    labels[:, -1] = -100
    images = torch.rand(B, 3, S, S)

    def step():
        logits = model(ids, images)
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), labels.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = (time.perf_counter() - t0) / a.steps
    print(json.dumps({"impl": "pytorch-eager", "torch": torch.__version__, "threads": threads, "batch": B, "seq": T,
                      "step_ms": dt * 1e3, "steps_per_s": 1.0 / dt, "samples_per_s": B / dt,
                      "params": sum(p.numel() for p in model.parameters()),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))


if __name__ == "__main__":
    sys.exit(main())
