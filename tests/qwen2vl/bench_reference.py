"""transformers' own figures for tests/qwen2vl/bench.sh, on the machine and threads the engine's were measured on:

    tests/reference/run.sh ../qwen2vl/bench_reference.py FOLDER IMAGE [--new-tokens N] [--repeats N] [--threads N]

prefill: one forward pass over image, prompt and answer (the question and answer bench_engine_llava scores), seconds
and tokens/s, the median of --repeats after a warm-up; decode: greedy generation of exactly --new-tokens at batch 1
(no stop token), seconds per new token with the prompt's pass taken out. float32 on the CPU, eager attention.
"""

import argparse
import statistics
import time

import torch
from PIL import Image
from transformers import AutoConfig, AutoTokenizer, Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

QUESTION = "What is shown in this picture, and is any of it dangerous?"
ANSWER = "The picture shows a kitchen with a knife on the table; nothing in it is dangerous."


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("image")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    kind = AutoConfig.from_pretrained(a.folder).model_type
    cls = Qwen2_5_VLForConditionalGeneration if kind == "qwen2_5_vl" else Qwen2VLForConditionalGeneration
    model = cls.from_pretrained(a.folder, dtype=torch.float32, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(a.folder)
    px = Qwen2VLImageProcessorPil.from_pretrained(a.folder)(images=[Image.open(a.image).convert("RGB")],
                                                            return_tensors="pt")
    pad = model.config.image_token_id
    tokens = int(px["image_grid_thw"].prod()) // 4
    prompt = (f"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
              f"<|vision_start|><|image_pad|><|vision_end|>{QUESTION}<|im_end|>\n<|im_start|>assistant\n")
    ids = []
    for i in tok.encode(prompt):
        ids.extend([pad] * tokens if i == pad else [i])
    full = ids + tok.encode(ANSWER) + [tok.convert_tokens_to_ids("<|im_end|>")]

    def forward(seq):
        t = torch.tensor([seq])
        return model(input_ids=t, pixel_values=px["pixel_values"], image_grid_thw=px["image_grid_thw"],
                     mm_token_type_ids=(t == pad).int())

    times = []
    with torch.no_grad():
        forward(full)
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            forward(full)
            times.append(time.perf_counter() - t0)
    s = statistics.median(times)
    print(f"transformers prefill: {len(full)} tokens in {s:.3f} s: {len(full) / s:.1f} tokens/s (threads {a.threads})")

    def generate(n):
        t = torch.tensor([ids])
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.generate(input_ids=t, attention_mask=torch.ones_like(t), pixel_values=px["pixel_values"],
                                 image_grid_thw=px["image_grid_thw"], mm_token_type_ids=(t == pad).int(),
                                 do_sample=False, max_new_tokens=n, min_new_tokens=n, eos_token_id=None,
                                 pad_token_id=0)
        assert out.shape[1] - len(ids) == n
        return time.perf_counter() - t0

    generate(2)
    per = []
    for _ in range(a.repeats):
        per.append((generate(a.new_tokens) - generate(1)) / (a.new_tokens - 1))
    p = statistics.median(per)
    print(f"transformers decode: {p:.4f} s per new token ({1 / p:.1f} new tokens/s) at batch 1")


if __name__ == "__main__":
    main()
