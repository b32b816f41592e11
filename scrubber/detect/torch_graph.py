"""An ONNX network run in torch, node by node: DB's graph and weights on a GPU.

onnxruntime (the CPU build that scrubber installs) runs DB on the CPU only; on a CUDA device that
left DB, which reads every whole image and most crops, on the host's cores while the card ran
CRAFT's few closer looks. The packaged DB file is the model: its graph holds fourteen kinds of
node (convolutions, batch norm, pointwise arithmetic, nearest-neighbour upsampling), each one a
torch function here, so the same weights run on the card, batched (``Gather``), with no second
model file and no converter package. A graph with any other kind of node is refused
(ModelError), never run in part. The output matches onnxruntime's to float rounding (tests/test_db.py).
"""
from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from .models import ModelError

Op = Callable[..., object]


def _attributes(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _symmetric(pads: list[int], op: str) -> list[int]:
    """ONNX pads (begins then ends) as torch's one padding per side, which must be symmetric."""
    half = len(pads) // 2
    if list(pads[:half]) != list(pads[half:]):
        raise ModelError(f"{op} with asymmetric padding {pads} is not supported")
    return list(pads[:half])


def _ops() -> dict[str, Callable[[dict], Op]]:
    """ONNX op type -> a maker that takes the node's attributes and returns the torch function."""
    import torch
    import torch.nn.functional as F

    def conv(at: dict) -> Op:
        if at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise ModelError("Conv with auto_pad is not supported")
        pads = _symmetric(at.get("pads", [0, 0, 0, 0]), "Conv")
        return lambda x, w, b=None: F.conv2d(x, w, b, at.get("strides", 1), pads, at.get("dilations", 1),
                                             at.get("group", 1))

    def conv_transpose(at: dict) -> Op:
        if at.get("output_shape") or at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise ModelError("ConvTranspose with output_shape or auto_pad is not supported")
        pads = _symmetric(at.get("pads", [0, 0, 0, 0]), "ConvTranspose")
        return lambda x, w, b=None: F.conv_transpose2d(x, w, b, at.get("strides", 1), pads,
                                                       at.get("output_padding", 0), at.get("group", 1),
                                                       at.get("dilations", 1))

    def batch_norm(at: dict) -> Op:
        eps = at.get("epsilon", 1e-5)
        return lambda x, scale, bias, mean, var: F.batch_norm(x, mean, var, scale, bias, False, 0.0, eps)

    def hard_sigmoid(at: dict) -> Op:
        alpha, beta = at.get("alpha", 0.2), at.get("beta", 0.5)
        return lambda x: torch.clamp(x * alpha + beta, 0.0, 1.0)

    def resize(at: dict) -> Op:
        if (at.get("mode") not in (b"nearest", "nearest")
                or at.get("coordinate_transformation_mode") not in (b"asymmetric", "asymmetric")
                or at.get("nearest_mode", b"round_prefer_floor") not in (b"floor", "floor")):
            raise ModelError(f"Resize {at} is not supported (nearest, asymmetric, floor only)")
        factors = [float(f) for f in at["scales"]]
        if factors[:2] != [1.0, 1.0]:
            raise ModelError("Resize over batch or channels is not supported")
        return lambda x: F.interpolate(x, scale_factor=factors[2:], mode="nearest")  # torch's: asymmetric, floor

    def clip(at: dict) -> Op:
        return lambda x, low=None, high=None: torch.clamp(x, low, high)

    return {
        "Conv": conv, "ConvTranspose": conv_transpose, "BatchNormalization": batch_norm,
        "HardSigmoid": hard_sigmoid, "Resize": resize, "Clip": clip,
        "Add": lambda at: torch.add, "Mul": lambda at: torch.mul, "Div": lambda at: torch.div,
        "Relu": lambda at: torch.relu, "Sigmoid": lambda at: torch.sigmoid,
        "GlobalAveragePool": lambda at: (lambda x: x.mean(dim=(2, 3), keepdim=True)),
        "Concat": lambda at: (lambda *xs: torch.cat(xs, dim=at.get("axis", 0))),
    }


class TorchGraph:
    """Callable: (N, C, H, W) float32 array in, the graph's one output as an array out, run on
    ``device`` (torch). Built from the bytes of an ONNX file with one input and one output."""

    def __init__(self, data: bytes, device: str = "cpu") -> None:
        try:
            import onnx
            from onnx import numpy_helper
        except ImportError:
            raise ModelError("running DB in torch needs the onnx package to read its graph; install scrubber's "
                             "dependencies (pip install onnx) or use backend onnx") from None
        import torch

        model = onnx.load_from_string(data)
        graph = model.graph
        if len(graph.input) != 1 or len(graph.output) != 1:
            raise ModelError("only a graph with one input and one output runs in torch")
        self.device = device
        self.input, self.output = graph.input[0].name, graph.output[0].name
        self.values: dict[str, object] = {
            init.name: torch.from_numpy(numpy_helper.to_array(init).copy()).to(device) for init in graph.initializer}
        makers = _ops()
        steps: list[tuple[Op, list[str], str]] = []
        for node in graph.node:
            if node.op_type == "Constant":
                value = numpy_helper.to_array(_attributes(node)["value"]).copy()
                self.values[node.output[0]] = torch.from_numpy(value).to(device)
                continue
            if node.op_type not in makers or len(node.output) != 1:
                raise ModelError(f"an ONNX node of type {node.op_type} cannot run in torch here")
            attributes, inputs = _attributes(node), list(node.input)
            if node.op_type == "Resize":  # its scales are a constant input, read once here
                if len(inputs) != 3 or inputs[2] not in self.values:
                    raise ModelError("only a Resize by constant scales can run in torch here")
                attributes["scales"], inputs = self.values[inputs[2]].tolist(), inputs[:1]
            steps.append((makers[node.op_type](attributes), inputs, node.output[0]))
        last = {name: index for index, (_, inputs, _) in enumerate(steps) for name in inputs}
        # each step with the values it reads for the last time: freed as the pass goes (a whole
        # image's activations would otherwise all stay on the card until the end)
        self.steps = [(op, inputs, output, [n for n in set(inputs) if n and last[n] == index and n not in self.values])
                      for index, (op, inputs, output) in enumerate(steps)]
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with self._lock, torch.inference_mode():
            values = dict(self.values)
            values[self.input] = torch.from_numpy(np.ascontiguousarray(batch, np.float32)).to(self.device)
            for op, inputs, output, done in self.steps:
                values[output] = op(*(values[name] if name else None for name in inputs))
                for name in done:
                    del values[name]
            return values[self.output].float().cpu().numpy()
