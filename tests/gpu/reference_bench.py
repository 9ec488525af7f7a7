#!/usr/bin/env python3
"""transformers + PEFT doing what the engine does, on the same machine, for tests/gpu/device.sh's table.

  train     PO+PD optimiser steps the way a PyTorch user writes them with transformers and PEFT: LoRA r 32, alpha 256,
            dropout 0.05 on the language model's seven projections, the projector trained (modules_to_save),
            activation checkpointing (non-reentrant), AdamW, gradient clipping at 1; each step three forwards (the
            forget questions answered with a refusal, retain, Prompt Decouple), one backward of their sum. Prints the
            median time of the steps after the first and the peak memory since the first step began.
  generate  greedy generation of exactly --new-tokens per answer with model.generate (the official ckpt_infer.py
            answers one question at a time: batch 1), then one left-padded batch.

Inputs come from tests/gpu/prepare.sh, so that both sides see the same numbers: examples.json (token ids as the
engine's LLaVA chat format writes them, which the golden tests check against transformers' processor) and a pack of
pixel values (`safeeraser pack-images --model`, CLIP preprocessing). One JSON object per line on stdout.

    reference_bench.py --model DIR --examples examples.json --pixels images.safetensors --device cuda \\
        --dtype bfloat16 --micro-batches 1,2 --steps 6 --gen-batch 8 --new-tokens 32
"""
import argparse
import json
import os
import statistics
import time

import torch

SEVEN = r"^(?!.*vision_tower).*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        with open("/proc/self/clear_refs", "w") as f:  # VmHWM back to the resident memory now (as the engine does)
            f.write("5")


def peak(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device), "CUDA allocator peak"
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024, "peak resident memory"
    return 0, "?"


def load_model(folder, dtype, device):
    import transformers
    from transformers import LlavaForConditionalGeneration
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    model = LlavaForConditionalGeneration.from_pretrained(folder, **{key: dtype})
    return model.to(device)


def pad_left(rows, pad_id):
    n = max(len(r) for r in rows)
    ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, n - len(r):] = torch.tensor(r)
        mask[i, n - len(r):] = 1
    return ids, mask


def batch_of(examples, pixels, pad_id, device, dtype):
    """Right-padded training batch: input ids, attention mask, labels (-100 outside the answers), pixel values."""
    n = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), n), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, e in enumerate(examples):
        row = torch.tensor(e["input_ids"])
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
        labels[i, e["answer_start"]:len(row)] = row[e["answer_start"]:]
    px = torch.stack([pixels[e["image"]] for e in examples]).to(dtype)
    return ids.to(device), mask.to(device), labels.to(device), px.to(device)


def nll(model, batch):
    ids, mask, labels, px = batch
    logits = model(input_ids=ids, attention_mask=mask, pixel_values=px).logits
    # the answer tokens' mean negative log-likelihood (a token predicts the next)
    return torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)),
                                             labels[:, 1:].reshape(-1), ignore_index=-100)


def train(args, ex, pixels, device, dtype):
    from peft import LoraConfig, get_peft_model
    for mb in [int(x) for x in args.micro_batches.split(",")]:
        model = load_model(args.model, dtype, device)
        model.config.use_cache = False
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model = get_peft_model(model, LoraConfig(r=32, lora_alpha=256, lora_dropout=0.05, target_modules=SEVEN,
                                                 modules_to_save=["multi_modal_projector"]))
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else None
        pad = ex["pad_id"]
        sets = [ex["refusal"], ex["retain"], ex["pd"]]
        times = []
        sync(device)
        reset_peak(device)
        for step in range(args.steps):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            batches = [batch_of([s[(step * mb + i) % len(s)] for i in range(mb)], pixels, pad, device, dtype)
                       for s in sets]
            if autocast:
                with autocast:
                    loss = sum(nll(model, b) for b in batches)
            else:
                loss = sum(nll(model, b) for b in batches)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sync(device)
            times.append(time.perf_counter() - t0)
            if not torch.isfinite(loss):
                raise SystemExit(f"reference_bench: loss is {float(loss)} at step {step + 1}")
        bytes_, what = peak(device)
        print(json.dumps({"what": "train", "impl": "transformers+peft", "micro_batch": mb, "steps": args.steps,
                          "median_step_s": statistics.median(times[1:] or times), "first_step_s": times[0],
                          "peak_bytes": bytes_, "peak_what": what, "final_loss": float(loss),
                          "trainable": sum(p.numel() for p in params)}), flush=True)
        del model, opt, params
        if device.type == "cuda":
            torch.cuda.empty_cache()


def generate(args, ex, pixels, device, dtype):
    model = load_model(args.model, dtype, device).eval()
    prompts = ex["prompts"]
    for b in (1, args.gen_batch):
        rows = [prompts[i % len(prompts)] for i in range(b)]
        ids, mask = pad_left([r["input_ids"] for r in rows], ex["pad_id"])
        px = torch.stack([pixels[r["image"]] for r in rows]).to(dtype).to(device)
        kw = dict(input_ids=ids.to(device), attention_mask=mask.to(device), pixel_values=px, do_sample=False,
                  max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, pad_token_id=ex["pad_id"])
        with torch.no_grad():
            model.generate(**kw)  # warm-up
            sync(device)
            t0 = time.perf_counter()
            tokens = 0
            for _ in range(args.repeats):
                out = model.generate(**kw)
                tokens += (out.shape[1] - ids.shape[1]) * b
            sync(device)
            s = time.perf_counter() - t0
        print(json.dumps({"what": "generate", "impl": "transformers", "batch": b, "tokens": tokens, "seconds": s,
                          "tokens_per_s": tokens / s}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--examples", required=True)
    ap.add_argument("--pixels", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("--what", default="train,generate")
    ap.add_argument("--micro-batches", default="1,2")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--gen-batch", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from safetensors.torch import load_file
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    with open(args.examples) as f:
        ex = json.load(f)
    pixels = load_file(args.pixels)
    torch.manual_seed(233)
    print(json.dumps({"what": "versions", "torch": torch.__version__, "transformers": __import__("transformers").__version__,
                      "peft": __import__("peft").__version__, "device": str(device),
                      "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else os.uname().machine}),
          flush=True)
    if "train" in args.what:
        train(args, ex, pixels, device, dtype)
    if "generate" in args.what:
        generate(args, ex, pixels, device, dtype)


if __name__ == "__main__":
    main()
