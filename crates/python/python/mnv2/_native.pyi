"""Type stubs of the extension module (the classes are re-exported by ``mnv2``)."""

import os
from typing import Any, Callable, Optional, Sequence, TypedDict, Union, overload

import numpy as np
import numpy.typing as npt

__version__: str

_Path = Union[str, "os.PathLike[str]"]
# A path, encoded file bytes (JPEG, PNG, BMP, WebP), a uint8 array (H, W, 3) or a PIL image.
Image = Union[_Path, bytes, npt.NDArray[np.uint8], Any]
Images = Union[Sequence[Image], npt.NDArray[np.uint8]]

class Prediction(TypedDict):
    index: int
    label: str
    score: float

class ClassShare(TypedDict):
    # "class" is a keyword: read it as d["class"].
    label: str
    fraction: float

class Detection(TypedDict):
    box: list[float]
    label: str
    score: float

class Error(Exception):
    """An error of the mnv2 library; the message says what and where."""

class Classifier:
    """A classification model loaded and compiled once.

    ``path``: a TFLite, mnv2 safetensors or TensorFlow frozen-graph file (None: the default
    ImageNet model, found through MNV2_MODEL, MNV2_MODEL_DIR or ../shared/models).
    ``threads``: worker threads (0: one per core). ``precision``: "auto" (int8 for quantized
    models), "f32" or "int8". ``crop``: the fraction of each side the centre crop keeps.
    ``labels``: a labels file overriding the model's. ``preprocess``: "auto" (the model's:
    crop then resize for TensorFlow models, resize then crop for PyTorch ones), "crop-resize"
    or "resize-crop".
    """

    def __init__(
        self,
        path: Optional[_Path] = None,
        *,
        threads: int = 0,
        precision: str = "auto",
        crop: float = 0.875,
        labels: Optional[_Path] = None,
        preprocess: str = "auto",
    ) -> None: ...
    @overload
    def classify(self, images: Sequence[Image], top: int = 5) -> list[list[Prediction]]: ...
    @overload
    def classify(self, images: Image, top: int = 5) -> list[Prediction]: ...
    def preprocess(self, images: Union[Image, Images]) -> npt.NDArray[np.uint8]:
        """The network's inputs: centre crop and resize, uint8 (N, S, S, 3)."""
    def logits(self, batch: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """The network's output, float32 (N, classes), for a prepared batch (uint8 pixel bytes,
        or float32 normalised inputs for float engines): logits, or probabilities for models
        ending in a softmax."""
    def probabilities(self, batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Softmax probabilities, float32 (N, classes)."""
    def output_bytes(self, batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """The int8 engine's raw output bytes (N, classes), as TFLite's kernels give them."""
    def features(self, batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The backbone's pooled features, float32 (N, 1280 for width <= 1); precision "f32"."""
    @property
    def labels(self) -> list[str]: ...
    @property
    def input_size(self) -> int: ...
    @property
    def classes(self) -> int: ...
    @property
    def precision(self) -> str: ...
    @property
    def path(self) -> str: ...

class Segmenter:
    """A Mobile DeepLabv3 segmentation model (None: the default PASCAL VOC model)."""

    def __init__(
        self,
        path: Optional[_Path] = None,
        *,
        threads: int = 0,
        precision: str = "auto",
        labels: Optional[_Path] = None,
    ) -> None: ...
    @overload
    def segment(self, images: Sequence[Image]) -> list[npt.NDArray[np.uint8]]: ...
    @overload
    def segment(self, images: Image) -> npt.NDArray[np.uint8]: ...
    def summary(self, class_map: npt.NDArray[np.uint8]) -> list[ClassShare]:
        """The classes present, largest first: [{"class", "label", "fraction"}, ...]."""
    def overlay(self, image: Image, class_map: Optional[npt.NDArray[np.uint8]] = None) -> npt.NDArray[np.uint8]:
        """The image with the classes tinted and a legend, uint8 (H, W, 3)."""
    @property
    def labels(self) -> list[str]: ...
    @property
    def precision(self) -> str: ...

class Detector:
    """An SSDLite detector, run in float32 (None: the default pedestrian model)."""

    def __init__(self, path: Optional[_Path] = None, *, threads: int = 0, labels: Optional[_Path] = None) -> None: ...
    @overload
    def detect(self, images: Sequence[Image], score_threshold: float = 0.3) -> list[list[Detection]]: ...
    @overload
    def detect(self, images: Image, score_threshold: float = 0.3) -> list[Detection]: ...
    def draw(self, image: Image, score_threshold: float = 0.3) -> npt.NDArray[np.uint8]:
        """The image with the boxes drawn and labelled, uint8 (H, W, 3)."""
    @property
    def labels(self) -> list[str]: ...

def info(width: float = 1.0, resolution: int = 224, classes: int = 1001, task: str = "classify") -> dict[str, Any]:
    """The architecture as Table 2 lays it out (task: "classify", "segment" or "detect")."""

def train(
    data: _Path,
    val: _Path,
    output: _Path,
    *,
    init: Optional[_Path] = None,
    freeze_backbone: bool = False,
    width: float = 1.0,
    resolution: int = 224,
    label_smoothing: float = 0.1,
    min_crop_area: Optional[float] = None,
    epochs: int = 15,
    batch: int = 32,
    optimizer: str = "adamw",
    lr: float = 1e-3,
    schedule: str = "cosine",
    weight_decay: float = 4e-5,
    ema: Optional[float] = None,
    seed: int = 1,
    threads: int = 0,
    resume: bool = False,
    allow_changes: bool = False,
    stop_after: Optional[int] = None,
    progress: Optional[Callable[[dict[str, Any]], None]] = None,
) -> Optional[str]:
    """Trains a classifier on an image folder (one sub-folder per class), as `mnv2 train` does.

    ``progress`` is called with events: {"event": "start", "total", "what"}, {"event":
    "advance", "steps", "status"}, {"event": "finish"}, {"event": "note", "line"}. An exception
    it raises, or Ctrl-C, stops training after the current step and is raised here. Returns the
    summary line (None when a resumed run had nothing left to do).
    """
