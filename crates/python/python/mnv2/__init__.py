"""MobileNetV2 in Rust, from Python.

>>> import mnv2
>>> classifier = mnv2.Classifier("mobilenet_v2_1.0_224_quant.tflite")
>>> classifier.classify("cat.jpg", top=3)
[{'index': 286, 'label': 'Egyptian cat', 'score': 0.55}, ...]

``Classifier``, ``Segmenter`` and ``Detector`` take images as paths, encoded bytes, numpy
uint8 arrays (H, W, 3) or (N, H, W, 3), or PIL images; one image gives one result, a list or a
batch gives a list. Every call that runs a network, decodes or trains releases the GIL, so
Python threads run models in parallel. Errors of the library raise ``mnv2.Error`` (a missing
file raises ``FileNotFoundError``). ``mnv2.ray`` runs a classifier over a Ray Data dataset.
"""

from ._native import Classifier, Detector, Error, Segmenter, __version__, info, train

__all__ = ["Classifier", "Detector", "Error", "Segmenter", "__version__", "info", "train"]
