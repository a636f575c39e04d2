"""Runs a .tflite file on a batch of inputs, one image at a time, in whichever TFLite runtime
this Python has (tflite-runtime, else ai-edge-litert); prints the runtime's name and version.

    python tflite_runner.py MODEL INPUTS.npy OUTPUTS.npy [reference|builtin|auto]

`reference`: TFLite's reference kernels (BUILTIN_REF); `builtin`: its optimized built-in
kernels without the default XNNPACK delegate; `auto`: what a user gets by default.
It runs in its own interpreter so a test can use a runtime built for another numpy.
"""

import sys
from importlib import metadata

import numpy as np

try:
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    RUNTIME = "tflite-runtime"
except ImportError:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    RUNTIME = "ai-edge-litert"

KERNELS = {
    "reference": OpResolverType.BUILTIN_REF,
    "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    "auto": OpResolverType.AUTO,
}


def run(model, inputs, kernels):
    it = Interpreter(model_path=str(model), experimental_op_resolver_type=KERNELS[kernels], num_threads=2)
    it.allocate_tensors()
    (i,), (o,) = it.get_input_details(), it.get_output_details()
    outputs = []
    for x in inputs:
        it.set_tensor(i["index"], x[None].astype(i["dtype"]))
        it.invoke()
        outputs.append(it.get_tensor(o["index"])[0].copy())
    return np.stack(outputs)


if __name__ == "__main__":
    model, inputs, outputs = sys.argv[1:4]
    kernels = sys.argv[4] if len(sys.argv) > 4 else "auto"
    np.save(outputs, run(model, np.load(inputs), kernels))
    print(f"{RUNTIME} {metadata.version(RUNTIME)}")
