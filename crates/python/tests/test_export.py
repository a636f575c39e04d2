"""`mnv2 export` run by other runtimes. ONNX in ONNX Runtime: logits within 1e-4 of mnv2's own,
for a TFLite float model (TensorFlow's asymmetric padding), a torchvision model (symmetric
padding) and a quantized model written dequantized. TFLite in LiteRT and tflite-runtime 2.14:
float exports within 1e-4 (of mnv2 and of PyTorch), integer exports byte for byte."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import mnv2
from conftest import FLOAT, MODELS, PTQ, QUANT, REFERENCE, SHARED, run_cli

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("model", [FLOAT, MODELS / "torchvision_mobilenet_v2_random.pth", QUANT], ids=lambda m: m.name)
def test_exported_onnx_runs_in_onnx_runtime(model, tmp_path):
    out = tmp_path / "model.onnx"
    run_cli("export", "--model", str(model), "-o", str(out))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    c = mnv2.Classifier(model, threads=2, precision="f32")
    x = np.stack([np.fromfile(REFERENCE / "float" / f"input{n}.f32", dtype=np.float32).reshape(224, 224, 3) for n in range(3)])
    ours = c.logits(x)
    theirs = session.run(None, {"input": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0]
    assert theirs.shape == ours.shape == (3, c.classes)
    worst = float(np.abs(ours - theirs).max())
    print(f"\n{model.name}: |mnv2 - ONNX Runtime on the export| {worst:.2e}")
    assert worst < 1e-4


# --- TFLite, run by LiteRT (ai-edge-litert) and by tflite-runtime 2.14 -------------------
# tflite-runtime 2.14 made ../shared/reference; it needs numpy 1, so it lives in a venv of its
# own (crates/python/test.sh makes it and names its python in $MNV2_TFLITE_PYTHON).

RUNNER = Path(__file__).with_name("tflite_runner.py")
IMAGENET = REFERENCE / "imagenet100" / "inputs"
# Integer kernels are slow in TFLite's reference build (~0.2 s an image): a spread of 25 images.
INT8_IMAGES = sorted(IMAGENET.glob("*.png"))[::4]


def litert(model, inputs, kernels="auto"):
    """Outputs of ai-edge-litert, in this process."""
    pytest.importorskip("ai_edge_litert")
    import tflite_runner

    assert tflite_runner.RUNTIME == "ai-edge-litert"
    return tflite_runner.run(model, inputs, kernels)


def tflite_214(model, inputs, kernels, tmp_path):
    """Outputs of tflite-runtime 2.14, run in its own venv."""
    python = os.environ.get("MNV2_TFLITE_PYTHON")
    if not python:
        pytest.skip("MNV2_TFLITE_PYTHON is not set (crates/python/test.sh sets it)")
    np.save(tmp_path / "tflite_in.npy", inputs)
    out = tmp_path / "tflite_out.npy"
    done = subprocess.run([python, str(RUNNER), str(model), str(tmp_path / "tflite_in.npy"), str(out), kernels], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("tflite-runtime 2.14"), done.stdout
    return np.load(out)


@pytest.mark.parametrize("model", [FLOAT, MODELS / "torchvision_mobilenet_v2_random.pth"], ids=lambda m: m.name)
def test_exported_float_tflite_runs_in_litert(model, tmp_path):
    out = tmp_path / "model.tflite"
    run_cli("export", "--model", str(model), "-o", str(out))
    c = mnv2.Classifier(model, threads=2, precision="f32")
    x = np.stack([np.fromfile(REFERENCE / "float" / f"input{n}.f32", dtype=np.float32).reshape(224, 224, 3) for n in range(3)])
    ours = c.logits(x)
    theirs = litert(out, x)
    worst = float(np.abs(ours - theirs).max())
    print(f"\n{model.name}: |mnv2 - LiteRT on the export| {worst:.2e}")
    assert theirs.shape == ours.shape and worst < 1e-4


def test_exported_torchvision_tflite_gives_pytorchs_logits(tmp_path):
    """Symmetric padding written as PAD + VALID: LiteRT gives what PyTorch gave."""
    out = tmp_path / "tv.tflite"
    run_cli("export", "--model", str(MODELS / "torchvision_mobilenet_v2_random.pth"), "-o", str(out))
    ref = REFERENCE / "torchvision"
    nchw = [np.fromfile(ref / f"input{n}.f32", dtype=np.float32).reshape(3, 224, 224) for n in range(5)]
    theirs = litert(out, np.stack([x.transpose(1, 2, 0) for x in nchw]))
    torch = np.stack([np.fromfile(ref / f"input{n}.pytorch.f32", dtype=np.float32) for n in range(5)])
    worst = float(np.abs(theirs - torch).max())
    print(f"\n|LiteRT on the export - PyTorch| {worst:.2e}")
    assert worst < 1e-4


@pytest.fixture(scope="module")
def uint8_inputs():
    from PIL import Image

    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in INT8_IMAGES])


def reference_bytes(model):
    return np.stack([np.fromfile(IMAGENET / f"{p.stem}.{model.stem}.u8", dtype=np.uint8) for p in INT8_IMAGES])


def mnv2_int8_outputs(model, inputs, tmp_path):
    """`mnv2 run`'s raw output bytes for a batch of uint8 images."""
    npy_in, npy_out = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(npy_in, inputs)
    run_cli("run", "--model", str(model), "--input", str(npy_in), "--output", str(npy_out), "--threads", "2")
    return np.load(npy_out)


def same_bytes(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    return float((a == b).mean())


def test_exported_uint8_qat_model_reproduces_tflites_reference_bytes(uint8_inputs, tmp_path):
    out = tmp_path / "qat.tflite"
    run_cli("export", "--model", str(QUANT), "-o", str(out))
    theirs = litert(out, uint8_inputs, "reference")
    ours = mnv2_int8_outputs(out, uint8_inputs, tmp_path)
    print(f"\nexport in LiteRT's reference kernels: {same_bytes(theirs, reference_bytes(QUANT)):.5f} of bytes as the reference, {same_bytes(theirs, ours):.5f} as mnv2")
    assert same_bytes(theirs, reference_bytes(QUANT)) >= 0.999 and same_bytes(theirs, ours) >= 0.999


def test_exported_int8_ptq_model_is_the_same_graph(uint8_inputs, tmp_path):
    """TFLite's own int8 model read and written by mnv2: the same bytes as the original, in the
    same kernels (those of the reference build, whose rounding differs from the built-in ones)."""
    out = tmp_path / "ptq.tflite"
    run_cli("export", "--model", str(PTQ), "-o", str(out))
    assert np.array_equal(litert(out, uint8_inputs, "reference"), litert(PTQ, uint8_inputs, "reference"))


@pytest.fixture(scope="module")
def quantized_by_mnv2(tmp_path_factory):
    """`mnv2 quantize` (16 flowers images) then `mnv2 export`: (safetensors, tflite)."""
    d = tmp_path_factory.mktemp("q")
    q, out = d / "q.safetensors", d / "q.tflite"
    flowers = SHARED / "datasets" / "flowers" / "train"
    run_cli("quantize", "--model", str(QUANT), "--images", str(flowers), "--count", "16", "-o", str(q))
    run_cli("export", "--model", str(q), "-o", str(out))
    return q, out


def test_int8_export_gives_mnv2s_bytes_in_litert(quantized_by_mnv2, uint8_inputs, tmp_path):
    q, out = quantized_by_mnv2
    ours = mnv2_int8_outputs(q, uint8_inputs, tmp_path)
    builtin = same_bytes(litert(out, uint8_inputs, "builtin"), ours)
    reference = same_bytes(litert(out, uint8_inputs, "reference"), ours)
    # TFLite's own int8 model against its reference outputs (made by tflite-runtime 2.14's
    # built-in kernels) in the same reference kernels: the kernels' own disagreement.
    own = same_bytes(litert(PTQ, uint8_inputs, "reference"), reference_bytes(PTQ))
    print(f"\nmnv2 int8 export, bytes equal to mnv2's of {ours.size}: LiteRT built-in kernels {builtin:.5f}, reference kernels {reference:.5f} (TFLite's own int8 model vs its reference bytes there: {own:.5f})")
    assert builtin >= 0.999
    assert reference >= own - 0.001


def test_int8_export_gives_mnv2s_bytes_in_tflite_214(quantized_by_mnv2, uint8_inputs, tmp_path):
    """tflite-runtime 2.14's built-in integer kernels (those the reference outputs come from)."""
    q, out = quantized_by_mnv2
    ours = mnv2_int8_outputs(q, uint8_inputs, tmp_path)
    for kernels in ["builtin", "auto"]:
        share = same_bytes(tflite_214(out, uint8_inputs, kernels, tmp_path), ours)
        print(f"\nmnv2 int8 export in tflite-runtime 2.14 ({kernels}): {share:.5f} of bytes equal to mnv2's")
        assert share >= 0.999
