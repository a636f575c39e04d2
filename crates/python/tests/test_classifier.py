"""mnv2.Classifier against TFLite's reference bytes, the CLI and the Rust library."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mnv2
from conftest import FLOAT, IMAGES, PTQ, QUANT, REFERENCE, cli_json_lines, run_cli

INPUTS = sorted((REFERENCE / "imagenet100" / "inputs").glob("*.png"))


def pixels(png: Path) -> np.ndarray:
    return np.asarray(Image.open(png).convert("RGB"))


@pytest.mark.parametrize("model", [QUANT, PTQ], ids=lambda m: m.stem)
def test_int8_bytes_equal_cli_and_tflite_reference(model, tmp_path):
    """The 100 ImageNet inputs' output bytes: identical to `mnv2 run` (the CLI), and to the TFLite
    reference interpreter's as the Rust library's are (all but a few softmax bytes of the uint8
    model, which round one unit apart; never the top-1)."""
    assert len(INPUTS) == 100
    c = mnv2.Classifier(model, threads=2)
    assert c.precision == "int8"
    batch = np.stack([pixels(p) for p in INPUTS])
    out = c.output_bytes(batch)
    assert out.shape == (100, 1001) and out.dtype == np.uint8
    np.save(tmp_path / "batch.npy", batch)
    run_cli("run", "--model", str(model), "--input", str(tmp_path / "batch.npy"), "--output", str(tmp_path / "out.npy"))
    assert np.array_equal(out, np.load(tmp_path / "out.npy"))
    ref = np.stack([np.fromfile(p.with_suffix(f".{model.stem}.u8"), dtype=np.uint8) for p in INPUTS])
    differ = out != ref
    assert differ.mean() <= 0.001, f"{differ.sum()} bytes differ"
    assert np.abs(out.astype(int) - ref).max() <= 1
    assert np.array_equal(out.argmax(axis=1), ref.argmax(axis=1))
    if model == PTQ:
        assert not differ.any()


def test_classify_equals_cli_on_jpegs():
    """From the JPEG files through decode, crop and resize: the same top-5 as `mnv2 classify --json`."""
    originals = REFERENCE / "imagenet100" / "originals"
    cli = {Path(r["path"]).name: r["top"] for r in cli_json_lines("classify", "--json", "--model", str(QUANT), str(originals))}
    files = sorted(originals.iterdir())
    ours = mnv2.Classifier(QUANT, threads=2).classify([str(f) for f in files], top=5)
    assert len(cli) == len(files) == 100
    for f, top in zip(files, ours):
        theirs = cli[f.name]
        assert [p["index"] for p in top] == [p["index"] for p in theirs], f.name
        assert [p["label"] for p in top] == [p["label"] for p in theirs], f.name
        assert np.array_equal(np.float32([p["score"] for p in top]), np.float32([p["score"] for p in theirs])), f.name


def test_fp32_logits_equal_rust_library(tmp_path):
    """The float model's logits for the reference float inputs: identical to `mnv2 run` (the Rust
    library) and within 1e-4 of Keras's."""
    c = mnv2.Classifier(FLOAT, threads=1)
    assert c.precision == "f32" and c.classes == 1000
    for n in range(5):
        x = np.fromfile(REFERENCE / "float" / f"input{n}.f32", dtype=np.float32).reshape(1, 224, 224, 3)
        ours = c.logits(x)
        assert ours.shape == (1, 1000) and ours.dtype == np.float32
        np.save(tmp_path / "in.npy", x)
        run_cli("run", "--model", str(FLOAT), "--threads", "1", "--input", str(tmp_path / "in.npy"), "--output", str(tmp_path / "out.npy"))
        theirs = np.load(tmp_path / "out.npy").reshape(1, 1000)
        assert np.array_equal(ours, theirs), n
        keras = np.fromfile(REFERENCE / "float" / f"input{n}.keras.f32", dtype=np.float32)
        assert np.abs(ours[0] - keras).max() < 1e-4, n


def test_inputs_of_every_kind_agree():
    """Path, bytes, PIL image, HWC array, NHWC batch and a non-contiguous view give one answer."""
    c = mnv2.Classifier(QUANT, threads=1)
    path = IMAGES / "cat.bmp"
    array = np.asarray(Image.open(path).convert("RGB"))
    expected = c.classify(str(path), top=3)
    assert expected[0]["label"] == "Egyptian cat"
    assert c.classify(path, top=3) == expected  # pathlib
    assert c.classify(path.read_bytes(), top=3) == expected
    assert c.classify(Image.open(path), top=3) == expected
    assert c.classify(array, top=3) == expected
    assert c.classify([array, str(path)], top=3) == [expected, expected]
    assert c.classify(np.stack([array, array]), top=3) == [expected, expected]
    flipped = array[:, ::-1]  # a strided view, read as the caller sees it
    assert c.classify(flipped, top=3) == c.classify(np.ascontiguousarray(flipped), top=3)
    assert c.classify([], top=3) == []


def test_numpy_shapes_and_dtypes():
    c = mnv2.Classifier(PTQ, threads=1, precision="f32")
    images = [str(IMAGES / "cat.bmp"), str(IMAGES / "bird.bmp"), str(IMAGES / "owl.jpg")]
    batch = c.preprocess(images)
    assert batch.shape == (3, 224, 224, 3) and batch.dtype == np.uint8 and batch.flags.c_contiguous
    logits = c.logits(batch)
    assert logits.shape == (3, 1001) and logits.dtype == np.float32
    probs = c.probabilities(batch)
    assert probs.shape == (3, 1001) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    features = c.features(batch)
    assert features.shape == (3, 1280) and features.dtype == np.float32
    assert features.flags.owndata or features.base is not None  # handed over, not copied back
    one = c.logits(batch[0])
    assert one.shape == (1, 1001)
    assert np.array_equal(one[0], logits[0])
    assert len(c.labels) == 1001 and c.labels[0] == "background"
    assert c.input_size == 224


def test_errors_are_exceptions(tmp_path):
    c = mnv2.Classifier(QUANT, threads=1)
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        c.classify(str(tmp_path / "nope.jpg"))
    with pytest.raises(FileNotFoundError):
        mnv2.Classifier(tmp_path / "nope.tflite")
    with pytest.raises(mnv2.Error, match="cannot decode"):
        c.classify(b"not an image")
    truncated = tmp_path / "cut.tflite"
    truncated.write_bytes(QUANT.read_bytes()[:100_000])
    with pytest.raises(mnv2.Error):
        mnv2.Classifier(truncated)
    with pytest.raises(TypeError, match="uint8"):
        c.classify(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        c.classify(np.zeros((10, 10), np.uint8))
    with pytest.raises(TypeError, match="expected an image"):
        c.classify(42)
    with pytest.raises(ValueError, match="precision"):
        mnv2.Classifier(QUANT, precision="int4")
    with pytest.raises(ValueError, match="top"):
        c.classify(str(IMAGES / "cat.bmp"), top=0)
    with pytest.raises(ValueError, match=r"\(224, 224, 3\)"):
        c.output_bytes(np.zeros((1, 100, 100, 3), np.uint8))
    with pytest.raises(mnv2.Error, match="f32"):
        c.features(np.zeros((1, 224, 224, 3), np.uint8))
    with pytest.raises(mnv2.Error, match="int8"):
        mnv2.Classifier(FLOAT, threads=1).output_bytes(np.zeros((1, 224, 224, 3), np.uint8))
    with pytest.raises(mnv2.Error, match="segmentation"):
        mnv2.Classifier(REFERENCE.parent / "models" / "deeplabv3_mnv2_dm05_pascal_quant.tflite")
    assert issubclass(mnv2.Error, Exception)


def test_info_is_table_2():
    info = mnv2.info(1.0, 224)
    assert info["resolution"] == 224 and info["width"] == 1.0
    assert 3.4e6 < info["params"] < 3.6e6  # the paper's 3.4M (+ the 1001-way classifier)
    assert 290e6 < info["macs"] < 310e6  # the paper's 300M multiply-adds
    with pytest.raises(ValueError, match="task"):
        mnv2.info(task="pose")
    assert json.dumps(mnv2.info(0.35, 96, task="segment"))


# (width, height, PIL save options): the layouts libjpeg writes. Never tall enough for Pillow's
# resize to start with the vertical pass, whose order changed in Pillow 13: any Pillow agrees.
JPEG_CASES = [
    (224, 224, {"quality": 90, "subsampling": 0}),  # no resize: the decoded bytes themselves
    (224, 224, {"quality": 75, "subsampling": 2}),
    (300, 200, {"quality": 50, "subsampling": 2}),
    (301, 223, {"quality": 95, "subsampling": 1}),
    (640, 480, {"quality": 85, "subsampling": 2, "restart_marker_rows": 1}),
    (333, 250, {"quality": 100, "subsampling": 0, "restart_marker_blocks": 7}),
    (37, 23, {"quality": 80, "subsampling": 2}),  # smaller than an MCU row's width twice over
]


@pytest.mark.parametrize("width,height,options", JPEG_CASES, ids=lambda c: str(c))
def test_jpeg_preparation_equals_pils(width, height, options):
    """Bytes of a JPEG in, the input PIL (libjpeg-turbo, bilinear resize) makes: byte for byte."""
    import io

    c = mnv2.Classifier(QUANT, threads=1, crop=1.0)
    picture = Image.open(IMAGES / "grace_hopper.bmp").convert("RGB").resize((width, height), Image.LANCZOS)
    for mode in ["RGB", "L"]:
        buf = io.BytesIO()
        picture.convert(mode).save(buf, "JPEG", **options)
        data = buf.getvalue()
        want = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((224, 224), Image.BILINEAR))
        got = c.preprocess(data)[0]
        assert np.array_equal(got, want), f"{mode}: {np.count_nonzero(got != want)} bytes differ"
