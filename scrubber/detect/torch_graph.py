"""An ONNX network run in torch, node by node: DB's graph and weights on a GPU.

onnxruntime (the CPU build that scrubber installs) runs DB on the CPU only; on a CUDA device that
left DB, which reads every whole image and most crops, on the host's cores while the card ran
CRAFT's few closer looks. The packaged DB file is the model: its graph holds fourteen kinds of
node (convolutions, batch norm, pointwise arithmetic, nearest-neighbour upsampling), each one a
torch function here, so the same weights run on the card, batched (``Gather``), with no second
model file and no converter package. A graph with any other kind of node is refused
(ModelError), never run in part. Chains of small nodes are fused first (``fused``: 330 steps ->
178 for DB), as each step is a kernel launch on a GPU. The output matches onnxruntime's to float
rounding (tests/test_db.py).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

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
        "HardSwish": lambda at: F.hardswish,
        "Affine": lambda at: (lambda x, scale, shift: torch.addcmul(shift, x, scale)),
        "GlobalAveragePool": lambda at: (lambda x: x.mean(dim=(2, 3), keepdim=True)),
        "Concat": lambda at: (lambda *xs: torch.cat(xs, dim=at.get("axis", 0))),
    }


@dataclass
class Node:
    """One step: an ONNX node's op type, the names of the values it reads and writes, and its
    attributes (or a fused step's: HardSwish, Affine)."""

    op: str
    inputs: list[str]
    output: str
    attributes: dict


def fused(nodes: list[Node], consts: dict[str, np.ndarray], keep: str) -> list[Node]:
    """``nodes`` in fewer steps, as each step is one torch call (on a GPU, a kernel launch at
    least): a convolution's scale and shift by scalar constants folded into its weights and bias
    (PP-LCNetV3's learnable affine blocks), x * clip(x + 3, 0, 6) / 6 as one HardSwish, and a scale
    and shift by scalar constants as one Affine. A chain is fused only through values that nothing
    else reads and that are not ``keep`` (the graph's output); new constants go into ``consts``."""
    readers: dict[str, list[Node]] = {}
    for node in nodes:
        for name in node.inputs:
            readers.setdefault(name, []).append(node)
    out: list[Node] = []
    gone: set[str] = set()  # outputs of nodes fused into an earlier step

    def next_of(node: Node) -> Node | None:
        """The one node that reads ``node``'s output, where nothing else does."""
        found = readers.get(node.output, [])
        return found[0] if len(found) == 1 and node.output != keep else None

    def scalar(name: str, value: float | None = None) -> bool:
        return name in consts and consts[name].size == 1 and (value is None or consts[name].item() == value)

    def by_scalar(node: Node | None, op: str) -> str | None:
        """The scalar constant operand of ``node`` when it is ``op`` of a value and a scalar constant."""
        if node is None or node.op != op or len(node.inputs) != 2:
            return None
        return next((name for name in node.inputs if scalar(name)), None)

    def hard_swish(add: Node) -> Node | None:
        """The last node of x * clip(x + 3, 0, 6) / 6 when ``add`` is its first, else None."""
        if by_scalar(add, "Add") != add.inputs[1] or not scalar(add.inputs[1], 3.0):
            return None
        clip = next_of(add)
        mul = next_of(clip) if clip is not None and clip.op == "Clip" else None
        div = next_of(mul) if mul is not None and mul.op == "Mul" else None
        if (div is None or div.op != "Div" or len(clip.inputs) != 3 or not scalar(clip.inputs[1], 0.0)
                or not scalar(clip.inputs[2], 6.0) or sorted(mul.inputs) != sorted([add.inputs[0], clip.output])
                or div.inputs != [mul.output, div.inputs[1]] or not scalar(div.inputs[1], 6.0)):
            return None
        gone.update((clip.output, mul.output))
        return div

    for node in nodes:
        if node.output in gone:
            continue
        after = next_of(node)
        constant_weights = all(name in consts for name in node.inputs[1:])
        if node.op == "Conv" and constant_weights and (scale := by_scalar(after, "Mul")) is not None:
            factor = np.float32(consts[scale].item())
            weight = consts[node.inputs[1]] * factor
            bias = (consts[node.inputs[2]] if len(node.inputs) > 2 else np.zeros(weight.shape[0], np.float32)) * factor
            last = after
            shift = by_scalar(next_of(last), "Add")
            if shift is not None:
                bias = bias + np.float32(consts[shift].item())
                last = next_of(last)
            gone.update({after.output, last.output})
            consts[node.output + ".w"], consts[node.output + ".b"] = weight.astype(np.float32), bias.astype(np.float32)
            out.append(Node("Conv", [node.inputs[0], node.output + ".w", node.output + ".b"], last.output,
                            node.attributes))
        elif node.op == "Add" and (last := hard_swish(node)) is not None:
            gone.add(last.output)
            out.append(Node("HardSwish", [node.inputs[0]], last.output, {}))
        elif (scale := by_scalar(node, "Mul")) is not None and (shift := by_scalar(after, "Add")) is not None:
            gone.add(after.output)
            out.append(Node("Affine", [next(n for n in node.inputs if n != scale), scale, shift], after.output, {}))
        else:
            out.append(node)
    return out


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
        consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        nodes: list[Node] = []
        for node in graph.node:
            if node.op_type == "Constant":
                consts[node.output[0]] = numpy_helper.to_array(_attributes(node)["value"])
            elif len(node.output) != 1:
                raise ModelError(f"an ONNX node of type {node.op_type} with {len(node.output)} outputs cannot run "
                                 "in torch here")
            else:
                nodes.append(Node(node.op_type, list(node.input), node.output[0], _attributes(node)))
        nodes = fused(nodes, consts, self.output)
        makers = _ops()
        steps: list[tuple[Op, list[str], str]] = []
        for node in nodes:
            if node.op not in makers:
                raise ModelError(f"an ONNX node of type {node.op} cannot run in torch here")
            if node.op == "Resize":  # its scales are a constant input, read once here
                if len(node.inputs) != 3 or node.inputs[2] not in consts:
                    raise ModelError("only a Resize by constant scales can run in torch here")
                node.attributes["scales"], node.inputs = consts[node.inputs[2]].tolist(), node.inputs[:1]
            steps.append((makers[node.op](node.attributes), node.inputs, node.output))
        used = {name for _, inputs, _ in steps for name in inputs}
        self.values: dict[str, object] = {
            name: torch.from_numpy(np.array(value)).to(device) for name, value in consts.items() if name in used}
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
