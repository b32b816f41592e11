"""ONNX graphs run in torch (scrubber/detect/torch_graph.py): the same numbers as onnxruntime,
with chains of small nodes fused only where nothing else reads what a fusion removes.

DB's own graph against onnxruntime on real images is in tests/test_db.py; here small graphs of
the patterns the fusion looks for, run by onnxruntime itself, check each rule and its limits.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from scrubber.detect.models import ModelError
from scrubber.detect.torch_graph import TorchGraph

RNG = np.random.default_rng(7)


def _const(name: str, value) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, np.float32), name))


def _graph(nodes: list[onnx.NodeProto], output: str, channels: int = 4) -> bytes:
    weight = RNG.standard_normal((channels, 3, 3, 3)).astype(np.float32)
    bias = RNG.standard_normal(channels).astype(np.float32)
    graph = helper.make_graph(
        [_const("w", weight), _const("b", bias), _const("two", [2.0]), _const("quarter", [0.25]),
         _const("three", [3.0]), _const("zero", 0.0), _const("six", 6.0), _const("six1", [6.0]), *nodes],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)], ir_version=7).SerializeToString()


def _same_as_onnxruntime(data: bytes) -> TorchGraph:
    ours = TorchGraph(data)
    batch = RNG.standard_normal((2, 3, 20, 24)).astype(np.float32) * 3
    theirs = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": batch})[0]
    found = ours(batch)
    assert found.shape == theirs.shape
    np.testing.assert_allclose(found, theirs, rtol=1e-5, atol=1e-5)
    return ours


def _conv(out: str = "c") -> onnx.NodeProto:
    return helper.make_node("Conv", ["x", "w", "b"], [out], pads=[1, 1, 1, 1], kernel_shape=[3, 3])


def _hard_swish(x: str, out: str) -> list[onnx.NodeProto]:
    return [helper.make_node("Add", [x, "three"], [out + "_a"]),
            helper.make_node("Clip", [out + "_a", "zero", "six"], [out + "_c"]),
            helper.make_node("Mul", [x, out + "_c"], [out + "_m"]),
            helper.make_node("Div", [out + "_m", "six1"], [out])]


def test_a_convolutions_scale_and_shift_and_a_hard_swish_fuse_to_two_steps():
    nodes = [_conv(), helper.make_node("Mul", ["two", "c"], ["s"]), helper.make_node("Add", ["s", "quarter"], ["t"]),
             *_hard_swish("t", "y")]
    graph = _same_as_onnxruntime(_graph(nodes, "y"))
    assert len(graph.steps) == 2


def test_a_scale_and_shift_after_an_activation_is_one_step():
    nodes = [_conv(), helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Mul", ["two", "r"], ["s"]),
             helper.make_node("Add", ["s", "quarter"], ["y"])]
    graph = _same_as_onnxruntime(_graph(nodes, "y"))
    assert len(graph.steps) == 3  # Conv, Relu, Affine


def test_nothing_is_fused_through_a_value_another_node_reads():
    # the convolution's output is also read by the last Add, so its scale cannot go into its weights;
    # the Clip's output is read twice, so it is no hard swish
    nodes = [_conv(), helper.make_node("Mul", ["c", "two"], ["s"]), helper.make_node("Add", ["s", "c"], ["t"]),
             helper.make_node("Add", ["t", "three"], ["a"]), helper.make_node("Clip", ["a", "zero", "six"], ["k"]),
             helper.make_node("Mul", ["t", "k"], ["m"]), helper.make_node("Div", ["m", "six1"], ["d"]),
             helper.make_node("Add", ["d", "k"], ["y"])]
    graph = _same_as_onnxruntime(_graph(nodes, "y"))
    assert len(graph.steps) == len(nodes)


def test_an_unknown_node_or_an_asymmetric_padding_is_refused():
    with pytest.raises(ModelError, match="Softsign"):
        TorchGraph(_graph([_conv(), helper.make_node("Softsign", ["c"], ["y"])], "y"))
    lopsided = helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[0, 0, 1, 1], kernel_shape=[3, 3])
    with pytest.raises(ModelError, match="asymmetric"):
        TorchGraph(_graph([lopsided], "y"))


def test_convolutions_on_a_card_are_asked_for_in_ieee_float32_not_tf32():
    """torch runs cuDNN convolutions in TF32 by default on Ampere and later; the maps the annotated
    set was measured on are float32's."""
    import torch

    from scrubber.detect.ocr import ieee_convolutions

    conv = torch.backends.cudnn.conv
    before = conv.fp32_precision
    try:
        conv.fp32_precision = "tf32"
        ieee_convolutions()
        assert conv.fp32_precision == "ieee"
    finally:
        conv.fp32_precision = before
