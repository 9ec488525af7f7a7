#!/usr/bin/env python3
"""PEFT and transformers as the referees of what the project writes and reads (run by CTest in the reference
environment: tests/reference/run.sh test_peft.py SAFEERASER_CLI).

  ours → PEFT        an adapter written by `safeeraser unlearn` loads in PeftModel.from_pretrained and gives the
                     log-probabilities `safeeraser score --adapter` gives
  PEFT → ours        adapters PeftModel.save_pretrained writes (SafeEraser's targets, the projector in
                     modules_to_save, non-zero B, rsLoRA off and on) read by `score --adapter` with PEFT's numbers
  merged folders     `safeeraser merge-adapter` (both weight namings) loads with from_pretrained and scores the same;
                     PEFT's merge_and_unload() gives the same weights
  transformers 5     a folder save_pretrained writes (tokenizer.json only, processor_config.json) works in every
                     command: ask, score, quick-eval, unlearn, merge-adapter, evaluate
  Qwen2-VL           the same three ways for the tiny Qwen2-VL and Qwen2.5-VL folders of tests/qwen2vl/make_models.py:
                     a PO+PD run's adapter in PEFT (LoRA on the language model only, the merger saved whole), PEFT's
                     adapters in `score --adapter`, and merge-adapter's folders in from_pretrained
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
LLAVA = os.path.join(os.path.dirname(HERE), "llava")
IMAGES = os.path.join(LLAVA, "images")
CLI = None
TOL = 1e-4
QUESTION, ANSWER, IMAGE = "What colour is the circle?", "The circle is red.", "wide.png"


def cli(*args, check=True):
    r = subprocess.run([CLI, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"safeeraser {' '.join(args)}: exit {r.returncode}\n{r.stderr}")
    return r


def score_cli(model, adapter=None, image=IMAGE, question=QUESTION, answer=ANSWER):
    args = ["score", "--model", model, "--image", os.path.join(IMAGES, image), "--question", question,
            "--answer", answer, "--json"]
    if adapter:
        args += ["--adapter", adapter]
    return json.loads(cli(*args).stdout)


def logprobs(model, input_ids, answer_start, image=IMAGE, folder=None):
    """log p(input_ids[t]) for t from answer_start, from a transformers / PEFT model, with the PIL image processor."""
    from PIL import Image
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    pixels = CLIPImageProcessorPil.from_pretrained(folder)(Image.open(os.path.join(IMAGES, image)),
                                                           return_tensors="pt").pixel_values
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([input_ids]), pixel_values=pixels).logits[0]
    lp = torch.log_softmax(logits.double(), -1)
    return [float(lp[t - 1, input_ids[t]]) for t in range(answer_start, len(input_ids))]


def load(folder):
    from transformers import LlavaForConditionalGeneration
    return LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()


def close(a, b, tol=TOL):
    return len(a) == len(b) and max((abs(x - y) for x, y in zip(a, b)), default=0) < tol


class PeftRoundTrips(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="peft-")
        t = cls.tmp.name
        cls.v5, cls.v4, cls.bench = (os.path.join(t, n) for n in ("v5", "v4", "bench"))
        make = os.path.join(LLAVA, "make_tiny_llava.py")
        subprocess.run([sys.executable, make, cls.v5], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([sys.executable, make, cls.v4, "--naming", "v4", "--shards", "2"], check=True,
                       stdout=subprocess.DEVNULL)
        cli("make-benchmark", "--out", cls.bench, "--records", "12", "--image-size", "64")
        # A run's adapter: PO+PD, a few steps (B moves away from zero, the projector from the base's).
        cls.ours = os.path.join(t, "po_pd.adapter")
        cli("unlearn", "--data", cls.bench, "--model", cls.v5, "--method", "po", "--pd", "--steps", "3", "--batch",
            "2", "--out", cls.ours)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_our_adapter_loads_in_peft(self):
        from peft import PeftModel
        ours = score_cli(self.v5, self.ours)
        for base in (self.v5, self.v4):
            model = PeftModel.from_pretrained(load(base), self.ours).eval()
            theirs = logprobs(model, ours["input_ids"], ours["answer_start"], folder=base)
            self.assertTrue(close(theirs, ours["logprobs"]), f"{base}: {theirs} vs {ours['logprobs']}")
        # The run changed the model: the adapter is not a no-op.
        plain = score_cli(self.v5)
        self.assertFalse(close(plain["logprobs"], ours["logprobs"], 1e-3))

    def test_peft_adapters_read_by_score(self):
        from peft import LoraConfig, get_peft_model
        for rslora in (False, True):
            torch.manual_seed(7 + rslora)
            config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, use_rslora=rslora,
                                target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|"
                                               r"down_proj)",
                                modules_to_save=["multi_modal_projector"], task_type="CAUSAL_LM")
            model = get_peft_model(load(self.v5), config)
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if "lora_B" in name:
                        p.normal_(0, 0.05)  # PEFT starts B at zero: make the adapter do something
                    elif "modules_to_save" in name:
                        p.add_(torch.randn_like(p) * 0.01)
            out = os.path.join(self.tmp.name, f"peft-rslora{int(rslora)}")
            model.save_pretrained(out)
            model.eval()
            for base in (self.v5, self.v4):
                ours = score_cli(base, out)
                theirs = logprobs(model, ours["input_ids"], ours["answer_start"], folder=base)
                self.assertTrue(close(theirs, ours["logprobs"]), f"rslora {rslora}, {base}: {theirs} vs {ours}")

    def test_merged_folders_load_in_transformers(self):
        from peft import PeftModel
        peft_model = PeftModel.from_pretrained(load(self.v5), self.ours).eval()
        reference = peft_model.merge_and_unload().state_dict()
        for base in (self.v5, self.v4):
            out = os.path.join(self.tmp.name, "merged-" + os.path.basename(base))
            cli("merge-adapter", "--model", base, "--adapter", self.ours, "--out", out)
            merged = load(out)
            # PEFT's own merge gives the same weights (W + s·B·A in float32 either way).
            state = merged.state_dict()
            self.assertEqual(set(state), set(reference))
            worst = max(float((state[k] - reference[k]).abs().max()) for k in state)
            self.assertLess(worst, 1e-5, base)
            ours = score_cli(out)
            theirs = logprobs(merged, ours["input_ids"], ours["answer_start"], folder=out)
            self.assertTrue(close(theirs, ours["logprobs"]), base)
            self.assertTrue(close(ours["logprobs"], score_cli(self.v5, self.ours)["logprobs"]), base)

    def test_folder_saved_by_transformers5_in_every_command(self):
        from transformers import AutoProcessor
        saved = os.path.join(self.tmp.name, "saved5")
        load(self.v5).save_pretrained(saved)
        AutoProcessor.from_pretrained(self.v5).save_pretrained(saved)
        files = set(os.listdir(saved))
        self.assertIn("tokenizer.json", files)
        self.assertNotIn("tokenizer.model", files)
        self.assertNotIn("preprocessor_config.json", files)
        ours = score_cli(saved)
        theirs = logprobs(load(saved), ours["input_ids"], ours["answer_start"], folder=saved)
        self.assertTrue(close(theirs, ours["logprobs"]))
        image = os.path.join(IMAGES, IMAGE)
        answer = cli("ask", "--model", saved, "--image", image, "--question", QUESTION, "--greedy",
                     "--max-new-tokens", "6", "--json")
        self.assertIn("answer_ids", json.loads(answer.stdout))
        cli("quick-eval", "--model", saved, "--data", self.bench, "--val", "--limit", "1")
        adapter = os.path.join(self.tmp.name, "from-saved.adapter")
        cli("unlearn", "--data", self.bench, "--model", saved, "--method", "ga", "--steps", "1", "--batch", "2",
            "--out", adapter)
        cli("merge-adapter", "--model", saved, "--adapter", adapter, "--out", os.path.join(self.tmp.name, "m5"))
        store = os.path.join(self.tmp.name, "runs.sqlite")
        cli("evaluate", "--store", store, "--data", self.bench, "--model", saved, "--subset", "1", "--greedy",
            "--max-new-tokens", "4")


QWEN = os.path.join(os.path.dirname(HERE), "qwen2vl")


def qwen_load(folder):
    from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration
    kind = AutoConfig.from_pretrained(folder).model_type
    cls = Qwen2_5_VLForConditionalGeneration if kind == "qwen2_5_vl" else Qwen2VLForConditionalGeneration
    return cls.from_pretrained(folder, dtype=torch.float32).eval()


def qwen_logprobs(model, input_ids, answer_start, folder, image=IMAGE):
    from PIL import Image
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    px = Qwen2VLImageProcessorPil.from_pretrained(folder)(images=[Image.open(os.path.join(IMAGES, image)).convert(
        "RGB")], return_tensors="pt")
    ids = torch.tensor([input_ids])
    with torch.no_grad():
        logits = model(input_ids=ids, pixel_values=px["pixel_values"], image_grid_thw=px["image_grid_thw"],
                       mm_token_type_ids=(ids == 518).int()).logits[0]
    lp = torch.log_softmax(logits.double(), -1)
    return [float(lp[t - 1, input_ids[t]]) for t in range(answer_start, len(input_ids))]


class Qwen2VlPeftRoundTrips(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="peft-qwen-")
        t = cls.tmp.name
        subprocess.run([sys.executable, os.path.join(QWEN, "make_models.py"), t], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.bench = os.path.join(t, "bench")
        cli("make-benchmark", "--out", cls.bench, "--records", "12", "--image-size", "64")
        cls.ours = {}
        for name in ("qwen2vl", "qwen25vl"):
            cls.ours[name] = os.path.join(t, name + ".adapter")
            cli("unlearn", "--data", cls.bench, "--model", os.path.join(t, name), "--method", "po", "--pd", "--steps",
                "3", "--batch", "2", "--out", cls.ours[name])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def folder(self, name):
        return os.path.join(self.tmp.name, name)

    def test_our_adapter_loads_in_peft(self):
        from peft import PeftModel
        for name in ("qwen2vl", "qwen25vl"):
            base = self.folder(name)
            with open(os.path.join(self.ours[name], "adapter_config.json")) as f:
                self.assertIn("visual", json.load(f)["target_modules"])  # excluded by the regex
            ours = score_cli(base, self.ours[name])
            model = PeftModel.from_pretrained(qwen_load(base), self.ours[name]).eval()
            adapted = [n for n, _ in model.named_modules() if n.endswith(".lora_A")]
            self.assertTrue(adapted and all("visual" not in n for n in adapted), name)
            theirs = qwen_logprobs(model, ours["input_ids"], ours["answer_start"], base)
            self.assertTrue(close(theirs, ours["logprobs"]), f"{name}: {theirs} vs {ours['logprobs']}")
            self.assertFalse(close(score_cli(base)["logprobs"], ours["logprobs"], 1e-3), name)  # the run did something

    def test_peft_adapters_read_by_score(self):
        from peft import LoraConfig, get_peft_model
        for name in ("qwen2vl", "qwen25vl"):
            base = self.folder(name)
            torch.manual_seed(11)
            config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0,
                                target_modules=r"^(?!.*visual).*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|"
                                               r"down_proj)$",
                                modules_to_save=["merger.mlp"], task_type="CAUSAL_LM")
            model = get_peft_model(qwen_load(base), config)
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if "lora_B" in n:
                        p.normal_(0, 0.05)
                    elif "modules_to_save" in n:
                        p.add_(torch.randn_like(p) * 0.01)
            out = os.path.join(self.tmp.name, "peft-" + name)
            model.save_pretrained(out)
            model.eval()
            for folder in ((base, self.folder("qwen2vl-452")) if name == "qwen2vl" else (base,)):
                ours = score_cli(folder, out)
                theirs = qwen_logprobs(model, ours["input_ids"], ours["answer_start"], folder)
                self.assertTrue(close(theirs, ours["logprobs"]), f"{name} on {folder}: {theirs} vs {ours}")

    def test_merged_folders_load_in_transformers(self):
        from peft import PeftModel
        for name in ("qwen2vl", "qwen25vl"):
            base = self.folder(name)
            reference = PeftModel.from_pretrained(qwen_load(base), self.ours[name]).eval().merge_and_unload()
            reference = reference.state_dict()
            out = os.path.join(self.tmp.name, "merged-" + name)
            cli("merge-adapter", "--model", base, "--adapter", self.ours[name], "--out", out)
            merged = qwen_load(out)
            state = merged.state_dict()
            self.assertEqual(set(state), set(reference))
            self.assertLess(max(float((state[k] - reference[k]).abs().max()) for k in state), 1e-5, name)
            ours = score_cli(out)
            self.assertTrue(close(qwen_logprobs(merged, ours["input_ids"], ours["answer_start"], out),
                                  ours["logprobs"]), name)
            self.assertTrue(close(ours["logprobs"], score_cli(base, self.ours[name])["logprobs"]), name)


if __name__ == "__main__":
    CLI = sys.argv.pop(1)
    unittest.main(verbosity=2)
