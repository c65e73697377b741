"""One layer and its activation as a module (PyTorch) or a tiny ONNX graph (the runtimes).

A plain conv is written node by node with ``onnx.helper`` (milliseconds, no tracing); any other
layer type is exported with ``torch.onnx.export``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

ONNX_OPSET = 18
_ONNX_ACTS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "hardswish": "HardSwish"}


def activation_module(name: str) -> nn.Module:
    """The activation a :class:`~srprune.latency.calls.LayerUse` names (``""``: identity)."""
    kind, _, arg = name.partition(":")
    acts: dict[str, nn.Module] = {
        "": nn.Identity(), "relu": nn.ReLU(inplace=True), "sigmoid": nn.Sigmoid(),
        "silu": nn.SiLU(), "gelu": nn.GELU(), "hardswish": nn.Hardswish(), "tanh": nn.Tanh()}
    if kind == "leaky_relu":
        return nn.LeakyReLU(float(arg or 0.01), inplace=True)
    return acts[kind]


def _plain_conv(layer: nn.Module) -> bool:
    return (type(layer) is nn.Conv2d and layer.padding_mode == "zeros"
            and not isinstance(layer.padding, str))


def layer_graph(layer: nn.Module, use: object, path: Path) -> None:
    """Write ``layer`` followed by ``use.activation`` as an ONNX file at ``path``."""
    activation = getattr(use, "activation", "")
    kind = activation.partition(":")[0]
    if _plain_conv(layer) and kind in ("", "leaky_relu", "silu", *_ONNX_ACTS):
        _conv_graph(layer, activation, (getattr(use, "height", 8), getattr(use, "width", 8)),
                    path)
        return
    net = nn.Sequential(layer, activation_module(activation)).eval()
    c_in = layer.weight.shape[1] * getattr(layer, "groups", 1) if hasattr(layer, "weight") \
        else 1
    x = torch.rand(1, c_in, getattr(use, "height", 8), getattr(use, "width", 8))
    with torch.no_grad():
        torch.onnx.export(net, (x,), str(path), input_names=["x"], output_names=["y"],
                          opset_version=ONNX_OPSET, dynamo=True, external_data=False)


def _conv_graph(conv: nn.Conv2d, activation: str, size: tuple[int, int], path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = conv.weight.detach().float().numpy()
    inits = [numpy_helper.from_array(weight, "w")]
    names = ["x", "w"]
    if conv.bias is not None:
        inits.append(numpy_helper.from_array(conv.bias.detach().float().numpy(), "b"))
        names.append("b")
    ph, pw = conv.padding
    nodes = [helper.make_node("Conv", names, ["c"], kernel_shape=list(conv.kernel_size),
                              strides=list(conv.stride), dilations=list(conv.dilation),
                              pads=[ph, pw, ph, pw], group=conv.groups)]
    kind, _, arg = activation.partition(":")
    if kind == "leaky_relu":
        nodes.append(helper.make_node("LeakyRelu", ["c"], ["y"], alpha=float(arg or 0.01)))
    elif kind == "silu":
        nodes += [helper.make_node("Sigmoid", ["c"], ["s"]),
                  helper.make_node("Mul", ["c", "s"], ["y"])]
    elif kind:
        nodes.append(helper.make_node(_ONNX_ACTS[kind], ["c"], ["y"]))
    else:
        nodes.append(helper.make_node("Identity", ["c"], ["y"]))
    graph = helper.make_graph(
        nodes, "layer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, weight.shape[1], *size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    model.ir_version = min(model.ir_version, 9)
    onnx.save(model, str(path))
