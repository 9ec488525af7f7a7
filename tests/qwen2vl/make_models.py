"""Tiny random Qwen2-VL and Qwen2.5-VL folders written by transformers itself, and what transformers computes on them:

    tests/reference/run.sh ../qwen2vl/make_models.py OUT_DIR [--mid]

writes, under OUT_DIR:
  qwen2vl/      Qwen2VLForConditionalGeneration.save_pretrained, untied lm_head: transformers 5's config (text_config,
                rope_parameters) and the hub's tensor names (`model.layers.*`, `visual.*`), which it writes back
  qwen2vl-452/  the same weights as transformers 4.52-4.57 named them (`model.language_model.*`, `model.visual.*`) with
                the flat config of the hub's files (`rope_scaling` {"type": "mrope"}); transformers must load it to the
                same numbers
  qwen25vl/     Qwen2_5_VLForConditionalGeneration.save_pretrained, tied embeddings, window attention
  golden.json   per folder and case: the prompt's and the example's ids, the answer's start, the image grid, the 3-D
                positions, the answer's log-probabilities (float32) and a greedy continuation; a batch of two prompts
                of different lengths generated together (left padding)

Each folder holds the tokenizer of ./tokenizer (special ids 0, 514-518), Qwen2VLImageProcessorPil's settings with
pixel bounds that make the test pictures 4-9 merged cells a side (several windows for Qwen2.5-VL, one of them
ragged), generation_config.json (stop on <|im_end|> or <|endoftext|>). The weights are drawn from torch's generator
seeded per folder, scaled so that logits differ by more than rounding (transformers' 0.02 init makes every next
token nearly a tie). Deterministic for the pinned versions; takes a few seconds.
"""

import json
import math
import os
import shutil
import sys

import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import (AutoTokenizer, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLConfig,
                          Qwen2VLForConditionalGeneration)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(HERE, "..", "llava", "images")
MIN_PIXELS, MAX_PIXELS = 28 * 28 * 30, 28 * 28 * 200
SYSTEM = "You are a helpful assistant."
IMAGE_PAD, VISION_START, VISION_END, IM_START, IM_END, ENDOFTEXT = 518, 516, 517, 514, 515, 0

TEXT = dict(vocab_size=520, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=2048, rms_norm_eps=1e-6, hidden_act="silu",
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
            bos_token_id=None, eos_token_id=IM_END, pad_token_id=ENDOFTEXT)
TOKENS = dict(image_token_id=IMAGE_PAD, video_token_id=519, vision_start_token_id=VISION_START,
              vision_end_token_id=VISION_END)

CASES = [  # image, question, answer
    ("wide.png", "What is in the picture?", "A small red cup on a table."),
    ("tall.jpg", "Describe the image in detail.", "It shows a tall window, and the light is green."),
    ("../../qwen2vl/noise.png", "Is there any text?", "No."),
]


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if p.dim() == 1 and ("norm" in name or "ln_q" in name):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))


def write_folder(model, out, tokenizer, processor):
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    processor.save_pretrained(out)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": [IM_END, ENDOFTEXT], "pad_token_id": ENDOFTEXT, "do_sample": False,
                   "max_new_tokens": 32}, f, indent=2)


def prompt_text(question):
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
            f"{question}<|im_end|>\n<|im_start|>assistant\n")


def expand(ids, tokens):
    out = []
    for i in ids:
        out.extend([IMAGE_PAD] * tokens if i == IMAGE_PAD else [i])
    return out


def rope_index(model, ids, grid, mask=None):
    inner = model.model
    types = (ids == IMAGE_PAD).int()
    pos, delta = inner.get_rope_index(ids, types, image_grid_thw=grid, attention_mask=mask)
    return pos, delta


def cases_of(model, tokenizer, processor):
    out = []
    for image_name, question, answer in CASES:
        image = Image.open(os.path.join(IMAGES, image_name)).convert("RGB")
        px = processor(images=[image], return_tensors="pt")
        grid = px["image_grid_thw"]
        tokens = int(grid.prod()) // 4
        prompt = expand(tokenizer.encode(prompt_text(question)), tokens)
        example = prompt + tokenizer.encode(answer) + [IM_END]
        ids = torch.tensor([example])
        with torch.no_grad():
            logits = model(input_ids=ids, pixel_values=px["pixel_values"], image_grid_thw=grid,
                           mm_token_type_ids=(ids == IMAGE_PAD).int()).logits[0].float()
        logp = torch.log_softmax(logits, -1)
        start = len(prompt)
        answer_logp = [float(logp[t - 1, example[t]]) for t in range(start, len(example))]
        pos, delta = rope_index(model, ids, grid)
        p = torch.tensor([prompt])
        with torch.no_grad():
            gen = model.generate(input_ids=p, pixel_values=px["pixel_values"], image_grid_thw=grid,
                                 mm_token_type_ids=(p == IMAGE_PAD).int(), attention_mask=torch.ones_like(p),
                                 do_sample=False, max_new_tokens=8, eos_token_id=[IM_END, ENDOFTEXT],
                                 pad_token_id=ENDOFTEXT)[0, len(prompt):].tolist()
        out.append({"image": image_name, "question": question, "answer": answer, "grid_thw": grid[0].tolist(),
                    "prompt_ids": prompt, "ids": example, "answer_start": start,
                    "positions": pos[:, 0].tolist(), "rope_delta": int(delta.reshape(-1)[0]),
                    "answer_logprobs": answer_logp, "greedy": gen})
    # Two prompts of different lengths generated together (left padding).
    images = [Image.open(os.path.join(IMAGES, CASES[i][0])).convert("RGB") for i in (0, 1)]
    px = processor(images=images, return_tensors="pt")
    grids = px["image_grid_thw"]
    prompts = [expand(tokenizer.encode(prompt_text(CASES[i][1])), int(grids[i].prod()) // 4) for i in (0, 1)]
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[ENDOFTEXT] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.no_grad():
        gen = model.generate(input_ids=ids, attention_mask=mask, pixel_values=px["pixel_values"], image_grid_thw=grids,
                             mm_token_type_ids=(ids == IMAGE_PAD).int(), do_sample=False, max_new_tokens=8,
                             eos_token_id=[IM_END, ENDOFTEXT], pad_token_id=ENDOFTEXT)[:, width:].tolist()
    batch = [[t for t in row] for row in gen]
    for row in batch:  # what follows the first stop token is padding
        for k, t in enumerate(row):
            if t in (IM_END, ENDOFTEXT):
                del row[k:]
                break
    return out, {"images": [CASES[0][0], CASES[1][0]], "questions": [CASES[0][1], CASES[1][1]], "greedy": batch}


def to_452(src, dst):
    """The hub's flat config with rope_scaling, and transformers 4.52's `model.language_model.*` / `model.visual.*`."""
    shutil.copytree(src, dst)
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    text = config.pop("text_config")
    rope = text.pop("rope_parameters")
    for key, value in text.items():
        if key not in ("model_type", "architectures", "dtype"):
            config.setdefault(key, value)
    config["rope_theta"] = rope["rope_theta"]
    config["rope_scaling"] = {"type": "mrope", "mrope_section": rope["mrope_section"]}
    config.get("vision_config", {}).pop("rope_parameters", None)
    config["torch_dtype"] = config.pop("dtype", "float32")
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    tensors = load_file(os.path.join(src, "model.safetensors"))
    renamed = {}
    for name, t in tensors.items():
        if name.startswith("visual."):
            name = "model." + name
        elif name.startswith("model."):
            name = "model.language_model." + name[len("model."):]
        renamed[name] = t.contiguous()
    save_file(renamed, os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})


def mid(out, tokenizer):
    """A mid-size random Qwen2-VL (about 120 M parameters: Qwen2 8 x 1024, ViT 8 x 512) for tests/qwen2vl/bench.sh,
    with the hub's pixel bounds; no golden values."""
    text = dict(TEXT, hidden_size=1024, intermediate_size=2816, num_hidden_layers=8, num_attention_heads=16,
                num_key_value_heads=4, rope_parameters=dict(TEXT["rope_parameters"], mrope_section=[8, 12, 12]))
    model = Qwen2VLForConditionalGeneration(Qwen2VLConfig(
        text_config=text, vision_config=dict(depth=8, embed_dim=512, hidden_size=1024, num_heads=8, mlp_ratio=4),
        tie_word_embeddings=False, **TOKENS)).eval()
    randomise(model, 7)
    shutil.rmtree(out, ignore_errors=True)
    write_folder(model, out, tokenizer, Qwen2VLImageProcessorPil(min_pixels=3136, max_pixels=12845056))
    g = torch.Generator().manual_seed(640)  # a 640 x 480 picture: 391 image tokens (SPEC §10's example)
    pixels = (torch.rand(480, 640, 3, generator=g) * 255).to(torch.uint8).numpy()
    Image.fromarray(pixels).save(os.path.join(os.path.dirname(out), "picture-640x480.png"))
    print(f"wrote {out}")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(os.path.join(HERE, "tokenizer"))
    if "--mid" in sys.argv:
        return mid(os.path.join(out, "qwen2vl-mid"), tokenizer)
    processor = Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    golden = {"transformers": __import__("transformers").__version__, "torch": torch.__version__, "folders": {}}

    q2 = Qwen2VLForConditionalGeneration(Qwen2VLConfig(
        text_config=TEXT, vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2,
                                             hidden_act="quick_gelu", patch_size=14, spatial_merge_size=2,
                                             temporal_patch_size=2),
        tie_word_embeddings=False, **TOKENS)).eval()
    randomise(q2, 2)
    q25 = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config=TEXT, vision_config=dict(depth=4, hidden_size=32, intermediate_size=48, num_heads=2,
                                             out_hidden_size=64, window_size=112, fullatt_block_indexes=[1, 3],
                                             hidden_act="silu", patch_size=14, spatial_merge_size=2,
                                             temporal_patch_size=2, tokens_per_second=2),
        tie_word_embeddings=True, **TOKENS)).eval()
    randomise(q25, 25)

    for name, model in (("qwen2vl", q2), ("qwen25vl", q25)):
        folder = os.path.join(out, name)
        shutil.rmtree(folder, ignore_errors=True)
        write_folder(model, folder, tokenizer, processor)
        cases, batch = cases_of(model, tokenizer, processor)
        golden["folders"][name] = {"cases": cases, "batch": batch}
    alt = os.path.join(out, "qwen2vl-452")
    shutil.rmtree(alt, ignore_errors=True)
    to_452(os.path.join(out, "qwen2vl"), alt)
    reloaded = Qwen2VLForConditionalGeneration.from_pretrained(alt).eval()
    cases, batch = cases_of(reloaded, tokenizer, processor)
    for a, b in zip(cases, golden["folders"]["qwen2vl"]["cases"]):
        assert a["greedy"] == b["greedy"], "transformers read the 4.52 layout differently"
        assert max(abs(x - y) for x, y in zip(a["answer_logprobs"], b["answer_logprobs"])) < 1e-5
    golden["folders"]["qwen2vl-452"] = golden["folders"]["qwen2vl"]
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
    print(f"wrote {out}: qwen2vl, qwen2vl-452, qwen25vl and golden.json")


if __name__ == "__main__":
    main()
