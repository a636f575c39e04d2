"""`mnv2 export` to ONNX, run by ONNX Runtime: logits within 1e-4 of mnv2's own, for a TFLite
float model (TensorFlow's asymmetric padding), a torchvision model (symmetric padding) and a
quantized model written dequantized."""

import numpy as np
import pytest

import mnv2
from conftest import FLOAT, MODELS, QUANT, REFERENCE, run_cli

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
