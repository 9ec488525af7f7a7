"""Golden values of Qwen2-VL's image preprocessing, by transformers' own processor (the reference environment):

    tests/reference/run.sh ../qwen2vl/make_image_golden.py tests/qwen2vl/golden_images.json

Qwen2VLImageProcessorPil (Pillow's bicubic resampling, as the hub's processor did in transformers 4) on a picture of
random pixels (tests/qwen2vl/noise.png, 61 x 47, written once by this script) and the PNG pictures of
tests/llava/images, with the hub's pixel bounds and with bounds that force smart_resize's two other
branches (shrinking below max_pixels, growing above min_pixels). For each: the grid, the shape of pixel_values, its
sum and absolute sum, and 64 values at seeded positions (the whole array is megabytes).
"""

import json
import os
import random
import sys

import numpy as np
from PIL import Image
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil, smart_resize

HUB_MIN, HUB_MAX = 3136, 12845056

CASES = [
    ("noise.png", HUB_MIN, HUB_MAX),  # every pixel its own: a patch out of place changes the values
    ("noise.png", 28 * 28, 28 * 28 * 2),
    ("noise.png", 28 * 28 * 30, HUB_MAX),
    ("wide.png", HUB_MIN, HUB_MAX),
    ("small.png", HUB_MIN, HUB_MAX),
    ("gray.png", HUB_MIN, HUB_MAX),
    ("wide.png", 28 * 28, 28 * 28 * 4),  # shrinks: β = √(h·w / max_pixels)
    ("small.png", 28 * 28 * 40, HUB_MAX),  # grows: β = √(min_pixels / (h·w))
]


def main():
    out = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(here, "..", "llava", "images")
    noise = os.path.join(here, "noise.png")
    if not os.path.exists(noise):
        rng = np.random.default_rng(2025)
        Image.fromarray(rng.integers(0, 256, size=(47, 61, 3), dtype=np.uint8)).save(noise)
    cases = []
    for name, lo, hi in CASES:
        image = Image.open(noise if name == "noise.png" else os.path.join(root, name))  # the processor converts
        p = Qwen2VLImageProcessorPil(min_pixels=lo, max_pixels=hi)
        r = p(images=[image], return_tensors="np")
        pv, grid = r["pixel_values"].astype(np.float64), r["image_grid_thw"].tolist()[0]
        rng = random.Random(len(cases))
        flat = pv.reshape(-1)
        positions = [0, flat.size - 1] + [rng.randrange(flat.size) for _ in range(62)]
        h, w = smart_resize(image.height, image.width, 28, lo, hi)
        cases.append({"image": name, "size": [image.height, image.width], "min_pixels": lo, "max_pixels": hi,
                      "resized": [h, w], "grid_thw": grid, "shape": list(pv.shape), "sum": float(flat.sum()),
                      "abs_sum": float(np.abs(flat).sum()),
                      "samples": [[i, float(flat[i])] for i in positions]})
    # smart_resize alone on sizes whose division by 28 ties (Python rounds half to even) and extreme ones.
    sizes = [(14, 14), (42, 42), (70, 98), (126, 154), (56, 11200), (100, 19999), (4000, 3000), (1, 1), (10, 2100)]
    resized = []
    for h, w in sizes:
        try:
            resized.append({"size": [h, w], "resized": list(smart_resize(h, w, 28, HUB_MIN, HUB_MAX))})
        except ValueError as e:
            resized.append({"size": [h, w], "error": str(e)})
    with open(out, "w") as f:
        json.dump({"made_by": "tests/qwen2vl/make_image_golden.py", "cases": cases, "smart_resize": resized}, f,
                  indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
