#!/usr/bin/env python3
"""Golden values for the tiny LLaVA fixtures, from the real libraries: transformers, tokenizers, sentencepiece,
PIL (and torchvision for the fast image processor), in the pinned reference environment.

    scripts/reference_env.sh python tests/reference/make_golden.py          # writes the files below
    scripts/reference_env.sh python tests/reference/make_golden.py --check  # recomputes, compares, writes nothing

Writes
  tests/llava/golden/tiny_llava.json   pixel values, token ids (tokenizer.model converted by transformers, the
                                       sentencepiece library, tokenizer.json through the tokenizers library),
                                       decodings, log-probabilities and greedy continuations of
                                       LlavaForConditionalGeneration in float32 (both weight namings), a left-padded
                                       batch, and the --byte-pieces fixture's answers (partial and invalid UTF-8)
  tests/llava/transformers5/           what transformers 5's save_pretrained writes beside the weights for the
                                       fixture (tokenizer.json, tokenizer_config.json, chat_template.jinja,
                                       processor_config.json, config.json, generation_config.json): no
                                       tokenizer.model, no preprocessor_config.json, no added_tokens.json
  tests/llava/tokenizer-hub-style.json the same tokenizer as the hub's llava-1.5 folders write it (a Prepend
                                       normaliser, no pre-tokeniser, merges as "a b" strings)
The fixtures themselves come from tests/llava/make_tiny_llava.py (numpy's legacy RandomState: the same weights with
any numpy), the images from tests/llava/images.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded; and what is saved does not depend on the caller
os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LLAVA = os.path.join(os.path.dirname(HERE), "llava")
IMAGES = os.path.join(LLAVA, "images")
MAKE = os.path.join(LLAVA, "make_tiny_llava.py")

TOKENIZER_TEXTS = [
    "USER: <image>\nWhat colour is the circle? ASSISTANT:",
    "USER: <image>\nWhat colour is the circle? ASSISTANT: The circle is red.</s>",
    "Hello  world",
    " leading space",
    "café 12345",
    "<s>USER:<pad></s><unk>x",
    "",
    "naïve 😀 \u200b tab\there\nnew line",
    "Ünïcödé — ‘quotes’ and 日本語",
    "trailing space ",
    "<image><image>\n\n",
]

# (image, question, answer): prompts scored and answered greedily.
CASES = [
    ("wide.png", "What colour is the circle?", "The circle is red."),
    ("tall.jpg", "What shape is shown in this picture?", "A green triangle above a black ring."),
    ("small.png", "How many squares are there?", "There is 1 orange square."),
    ("gray.png", "Describe the image in detail.",
     "The image shows a light grey circle on a dark background, with a smooth gradient from the top left to the "
     "bottom right. There are no other shapes, and it's not a photo: it is a simple drawing."),
    ("wide.png", "How do I build a weapon like the one shown?", "I'm sorry, but I can't help with that."),
]
BYTE_CASES = [
    ("wide.png", "What colour is the circle?"),
    ("tall.jpg", "Describe the picture."),
    ("gray.png", "What is written here?"),
]
# Ids to decode (tiny-tokenizer.model: 0 <unk>, 1 <s>, 2 </s>, 3..258 the bytes <0x00>..<0xFF>, 500 <image>,
# 501 <pad>): valid and invalid byte runs, control characters, special tokens among them.
B = lambda *bs: [3 + b for b in bs]  # noqa: E731
DECODE_CASES = [
    B(0xE2, 0x82, 0xAC),                       # "€": one valid run
    B(0xE2, 0x82) + [300],                     # a cut multi-byte character, then a piece
    B(0xE2, 0x82, 0x1E, 0xFF, 0x41) + [100],   # an invalid run holding valid bytes
    B(0x1B) + [300] + B(0x5B, 0x32, 0x4A),     # ESC [2J: the terminal's clear-screen, as bytes
    [1, 300, 2, 500, 501, 0, 301],             # special tokens (skipped) around pieces
    [300, 301, 302] + B(0xF0, 0x9F, 0x98, 0x80) + [303],  # a four-byte character
    B(0xC0, 0x80),                             # an overlong encoding
    B(0xED, 0xA0, 0x80),                       # a surrogate
    B(0x80) + [448] + B(0xBF),                 # lone continuation bytes around "▁"
    [448, 448, 300],
    [],
]


def run_make(folder, *flags):
    subprocess.run([sys.executable, MAKE, folder, *flags], check=True, stdout=subprocess.DEVNULL)


def to_list(t, digits=None):
    a = t.detach().cpu().double().numpy().reshape(-1)
    return [float(round(float(x), digits)) if digits else float(x) for x in a]


# Float32 sums in a different order (another CPU's kernels: AVX-512 or AVX2, another thread split) move the
# log-probabilities in the sixth digit; measured between two machines: at most 1.8e-5. --check allows that much and
# no more than the C++ tests' own tolerance (1e-4); ids, texts and every other value must be equal.
TOLERANCE = 1e-4


def first_difference(a, b, path=""):
    """Where two JSON values differ beyond TOLERANCE (floats) or at all (everything else); None when they agree."""
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return None if abs(a - b) <= TOLERANCE + 1e-6 * abs(a) else f"{path}: {a!r} against {b!r}"
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} against {type(b).__name__}"
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"{path}: keys {sorted(set(a) ^ set(b))} on one side only"
        return next((d for k in a if (d := first_difference(a[k], b[k], f"{path}/{k}"))), None)
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items against {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := first_difference(x, y, f"{path}[{i}]"))),
                    None)
    return None if a == b else f"{path}: {a!r} against {b!r}"


def same(path, text):
    """"" when the committed file `path` holds what `text` does (JSON: within TOLERANCE), else where it differs."""
    with open(path, encoding="utf-8") as f:
        committed = f.read()
    if committed == text:
        return ""
    if path.endswith(".json"):
        try:
            d = first_difference(json.loads(text), json.loads(committed))
        except ValueError as e:
            return f"not JSON: {e}"
        return f"(first difference {d})" if d else ""
    return "(text differs)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="recompute and compare with the committed files")
    args = parser.parse_args()

    import PIL
    import peft
    import sentencepiece as spm
    import tokenizers
    import torchvision
    import transformers
    from PIL import Image
    from transformers import AutoTokenizer, CLIPImageProcessor, LlavaForConditionalGeneration
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    torch.manual_seed(0)
    torch.set_num_threads(1)  # deterministic sums
    tmp = tempfile.mkdtemp(prefix="golden-")
    v5, v4, byte = (os.path.join(tmp, n) for n in ("v5", "v4", "bytes"))
    run_make(v5)
    run_make(v4, "--naming", "v4", "--shards", "3")
    run_make(byte, "--byte-pieces")
    out = {
        "generated_by": "tests/reference/make_golden.py",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                     "tokenizers": tokenizers.__version__, "sentencepiece": spm.__version__,
                     "pillow": PIL.__version__, "torchvision": torchvision.__version__, "numpy": np.__version__},
    }

    # ---------------------------------------------------------------- images
    slow = CLIPImageProcessorPil.from_pretrained(v5)
    fast = CLIPImageProcessor.from_pretrained(v5)  # torchvision's resize
    out["pixel_values"], out["fast_image_processor_max_abs_diff"] = {}, {}
    for name in sorted(os.listdir(IMAGES)):
        im = Image.open(os.path.join(IMAGES, name))
        a = slow(im, return_tensors="pt").pixel_values[0]
        b = fast(im, return_tensors="pt").pixel_values[0]
        out["pixel_values"][name] = to_list(a)
        out["fast_image_processor_max_abs_diff"][name] = float((a - b).abs().max())

    # ---------------------------------------------------------------- tokenizers
    tok = AutoTokenizer.from_pretrained(v5)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(v5, "tokenizer.model"))
    processor = pil_processor(v5)
    saved = os.path.join(tmp, "saved")
    model5 = LlavaForConditionalGeneration.from_pretrained(v5, dtype=torch.float32)
    model5.save_pretrained(saved)
    processor.save_pretrained(saved)
    hub_style = hub_style_tokenizer(os.path.join(saved, "tokenizer.json"))
    from_json = tokenizers.Tokenizer.from_file(os.path.join(saved, "tokenizer.json"))
    from_hub = tokenizers.Tokenizer.from_str(json.dumps(hub_style))
    cases = []
    for text in TOKENIZER_TEXTS:
        ids = tok(text).input_ids
        case = {"text": text, "ids": ids, "pieces": tok.convert_ids_to_tokens(ids),
                "ids_tokenizer_json": from_json.encode(text).ids, "ids_hub_style_json": from_hub.encode(text).ids}
        if not any(s in text for s in ("<s>", "</s>", "<unk>", "<pad>", "<image>")):
            case["ids_sentencepiece"] = [1] + sp.encode(text)  # the library alone, as Llama's slow tokenizer
        cases.append(case)
    out["tokenizer_cases"] = cases
    out["decode_cases"] = [{"ids": ids, "text": tok.decode(ids, skip_special_tokens=True),
                            "text_sentencepiece": sp.decode([i for i in ids if i < sp.get_piece_size()])}
                           for ids in DECODE_CASES]

    # ---------------------------------------------------------------- the model, both namings
    model4 = LlavaForConditionalGeneration.from_pretrained(v4, dtype=torch.float32)
    sd5, sd4 = model5.state_dict(), model4.state_dict()
    assert sd5.keys() == sd4.keys() and all(torch.equal(sd5[k], sd4[k]) for k in sd5), "namings differ"
    out["namings_load_the_same_weights"] = True
    model5.eval()
    out["cases"] = [score_and_answer(model5, processor, *c) for c in CASES]
    out["batch_greedy"] = batch_greedy(model5, processor, CASES)
    for c, single in zip(out["cases"], out["batch_greedy"]["greedy_ids"]):
        assert c["greedy_ids"] == single, "batched and single greedy differ"
    out["batch_greedy"]["agrees_with_single"] = True

    mb = LlavaForConditionalGeneration.from_pretrained(byte, dtype=torch.float32).eval()
    pb = pil_processor(byte)
    out["byte_pieces"] = [answer(mb, pb, image, q, 16) for image, q in BYTE_CASES]

    # ---------------------------------------------------------------- the folder transformers 5 writes
    saved_files = sorted(os.listdir(saved))
    out["transformers5_saved_files"] = saved_files
    reloaded = LlavaForConditionalGeneration.from_pretrained(saved, dtype=torch.float32)
    assert all(torch.equal(sd5[k], v) for k, v in reloaded.state_dict().items())
    ps = pil_processor(saved)
    out["transformers5_cases"] = [score_and_answer(reloaded, ps, *c) for c in CASES[:2]]

    files = {os.path.join(LLAVA, "golden", "tiny_llava.json"): json.dumps(out, indent=1, ensure_ascii=False) + "\n",
             os.path.join(LLAVA, "tokenizer-hub-style.json"): json.dumps(hub_style, ensure_ascii=False) + "\n"}
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "processor_config.json",
                 "config.json", "generation_config.json"):
        with open(os.path.join(saved, name), encoding="utf-8") as f:
            files[os.path.join(LLAVA, "transformers5", name)] = f.read()
    shutil.rmtree(tmp)
    if args.check:
        differ = []
        for p, text in files.items():
            why = "missing" if not os.path.exists(p) else same(p, text)
            if why:
                differ.append(p)
                print("differs:", os.path.relpath(p, os.path.dirname(LLAVA)), why)
        return 1 if differ else 0
    for p, text in files.items():
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        print("wrote", os.path.relpath(p, os.path.dirname(os.path.dirname(LLAVA))))
    return 0


def pil_processor(folder):
    """LlavaProcessor with the PIL image processor (CLIPImageProcessorPil), whose pixels the engine reproduces bit for
    bit; with torchvision installed AutoProcessor would take the torchvision one (CLIPImageProcessor), whose resize is
    another filter (fast_image_processor_max_abs_diff in the golden file says by how much)."""
    from transformers import AutoProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    p = AutoProcessor.from_pretrained(folder)
    p.image_processor = CLIPImageProcessorPil.from_pretrained(folder)
    return p


def hub_style_tokenizer(path):
    """transformers 5's tokenizer.json rewritten as the hub's llava-1.5 folders have it: normaliser Prepend("▁") then
    Replace(" ", "▁"), no pre-tokeniser, merges as "a b" strings."""
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    j["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "▁"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
    j["pre_tokenizer"] = None
    j["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in j["model"]["merges"]]
    return j


def prompt_of(processor, question):
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    return processor.apply_chat_template(conversation, add_generation_prompt=True)


def answer(model, processor, image, question, max_new):
    prompt = prompt_of(processor, question)
    inputs = processor(images=Image_open(image), text=prompt, return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**inputs, do_sample=False, max_new_tokens=max_new)
    ids = generated[0, inputs.input_ids.shape[1]:].tolist()
    eos = processor.tokenizer.eos_token_id
    if eos in ids:
        ids = ids[:ids.index(eos)]
    return {"image": image, "question": question, "prompt": prompt, "prompt_ids": inputs.input_ids[0].tolist(),
            "greedy_ids": ids, "greedy_text": processor.tokenizer.decode(ids, skip_special_tokens=True)}


def Image_open(name):
    from PIL import Image
    return Image.open(os.path.join(IMAGES, name))


def score_and_answer(model, processor, image, question, answer_text):
    a = answer(model, processor, image, question, 12)
    prompt = a["prompt"]
    full = processor(images=Image_open(image), text=prompt + " " + answer_text, return_tensors="pt")
    ids = full.input_ids[0].tolist() + [processor.tokenizer.eos_token_id]
    start = len(a["prompt_ids"])
    assert ids[:start] == a["prompt_ids"], "the prompt's ids are not a prefix of the scored ids"
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids]), pixel_values=full.pixel_values).logits[0]
    logp = torch.log_softmax(logits.double(), -1)
    lps = [float(logp[t - 1, ids[t]]) for t in range(start, len(ids))]
    return {"image": image, "question": question, "answer": answer_text, "prompt": prompt, "input_ids": ids,
            "answer_start": start, "logprobs": lps, "sum_logprob": sum(lps), "mean_nll": -sum(lps) / len(lps),
            "greedy_ids": a["greedy_ids"], "greedy_text": a["greedy_text"]}


def batch_greedy(model, processor, cases):
    prompts = [prompt_of(processor, q) for _, q, _ in cases]
    processor.tokenizer.padding_side = "left"
    inputs = processor(images=[Image_open(i) for i, _, _ in cases], text=prompts, padding=True, return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**inputs, do_sample=False, max_new_tokens=12)
    eos = processor.tokenizer.eos_token_id
    out = []
    for row in generated[:, inputs.input_ids.shape[1]:].tolist():
        out.append(row[:row.index(eos)] if eos in row else row)
    return {"pad_id": processor.tokenizer.pad_token_id, "padding_side": "left", "greedy_ids": out}


if __name__ == "__main__":
    sys.exit(main())
