"""The ONNX Runtime Web peer's int8 model: torchvision's MobileNetV2 (../shared/models) quantized
by ONNX Runtime's own static quantization (QDQ, int8 weights per channel, calibrated on the
reference images prepared as torchvision does), as an ORT user would make it.

    python bench/web/quantize_onnx.py SHARED_DIR OUT.onnx
"""

import sys
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def torchvision_input(path):
    """Resize the shorter side to 256, centre-crop 224, normalise; NCHW."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = 256 / min(w, h)
    img = img.resize((max(224, round(w * s)), max(224, round(h * s))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    x = np.asarray(img.crop((left, top, left + 224, top + 224)), np.float32) / 255.0
    return ((x - MEAN) / STD).transpose(2, 0, 1)[None]


class Images(CalibrationDataReader):
    def __init__(self, paths):
        self.inputs = iter([{"input": torchvision_input(p)} for p in paths])

    def get_next(self):
        return next(self.inputs, None)


def main():
    shared, out = Path(sys.argv[1]), Path(sys.argv[2])
    model = shared / "models" / "torchvision_mobilenet_v2_random.onnx"
    images = sorted(p for p in (shared / "images").iterdir() if p.suffix in (".bmp", ".jpg") and "mask" not in p.name)
    prepared = out.with_suffix(".pre.onnx")
    quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(out),
        Images(images),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    prepared.unlink()
    print(f"{out}: {out.stat().st_size} bytes, calibrated on {len(images)} images")


if __name__ == "__main__":
    main()
