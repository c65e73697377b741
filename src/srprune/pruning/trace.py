"""Channel groups of a plain module, found by tracing it with ``torch.fx``.

srprune's own models declare their groups (``channel_groups(mode)``); a user's conv chain (an
``nn.Sequential`` SR net, say) gets them here. Every tensor in the traced graph is described by
where its channels come from: a list of segments, each the output channels of one *source* (a
layer a handler knows, or the model's input, which is never pruned), seen through ``div``
channels per unit (a pixel shuffle by ``s`` divides them by ``s^2``). Then:

* elementwise ops (activations, scalar arithmetic, resizing) keep the description;
* a pixel shuffle turns a source's units into ``s^2`` channels on its producer (unit ``s^2``);
* ``torch.cat`` along channels puts segments side by side (consumers read them at offsets);
* adding (or multiplying) two tensors couples their sources into one residual *stream*: in
  ``coupled`` mode it is one group over every writer and reader, in ``fixed`` and ``rsc`` mode
  it stays whole (a traced graph has no RSC blocks: those need a model's own declaration);
* sources that reach the model's input or output are never pruned.

Anything else that touches a traced tensor is refused with one error naming the node.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from srprune.errors import UserError
from srprune.pruning.groups import Group, Port, ResidualMode
from srprune.pruning.handlers import handler_for

Layout = tuple[tuple[int, int], ...]
"""(source id, channels per unit divisor) per channel segment, in channel order."""

ELEMENTWISE_MODULES = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
                       nn.ELU, nn.Hardswish, nn.Hardtanh, nn.Identity, nn.Dropout, nn.Upsample)
ELEMENTWISE_FUNCTIONS = {F.relu, torch.relu, F.leaky_relu, F.relu6, F.gelu, F.silu, F.elu,
                         F.hardtanh, F.hardswish, torch.sigmoid, torch.tanh, F.interpolate,
                         torch.clamp, F.dropout, operator.neg, torch.neg}
ELEMENTWISE_METHODS = {"relu", "relu_", "sigmoid", "tanh", "clamp", "clamp_", "contiguous",
                       "clone", "float", "to", "neg", "detach"}
BINARY = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub,
          torch.mul, torch.div, operator.iadd, operator.imul}
BINARY_METHODS = {"add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_"}
SHAPE_METHODS = {"size", "dim"}


class UnsupportedGraph(UserError):
    """The traced graph has an operation the group tracer cannot follow channels through."""


@dataclass
class _Sources:
    """Channel sources, their coupling (union-find) and who reads them."""

    channels: list[int] = field(default_factory=list)
    producer: list[str | None] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    fixed: set[int] = field(default_factory=set)
    readers: dict[int, set[tuple[str, int, int]]] = field(default_factory=lambda: defaultdict(set))
    divs: dict[int, set[int]] = field(default_factory=lambda: defaultdict(lambda: {1}))

    def new(self, channels: int, producer: str | None) -> int:
        self.channels.append(channels)
        self.producer.append(producer)
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self.parent[rb] = ra

    def fix(self, layout: Layout) -> None:
        self.fixed.update(src for src, _ in layout)


def _width(sources: _Sources, layout: Layout) -> list[int]:
    return [sources.channels[src] // div for src, div in layout]


class _LeafTracer(fx.Tracer):
    """``torch.fx``'s tracer with every layer a handler knows kept whole (a user's Conv2d
    subclass with its own forward is one call, as the pruner sees it)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return handler_for(m) is not None or super().is_leaf_module(m, qualname)


class _Tracer:
    """One pass over a shape-propagated graph, building source layouts node by node."""

    def __init__(self, gm: fx.GraphModule) -> None:
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.src = _Sources()
        self.layouts: dict[fx.Node, Layout | None] = {}
        self.layer_source: dict[str, int] = {}

    def fail(self, node: fx.Node, why: str) -> UnsupportedGraph:
        target = node.target if isinstance(node.target, str) else \
            getattr(node.target, "__name__", repr(node.target))
        return UnsupportedGraph(f"cannot trace channel groups through node {node.name!r} "
                                f"({node.op} {target}): {why}; declare channel_groups(mode) on "
                                "the model or register a handler for the layer type")

    def layout_of(self, arg: object) -> Layout | None:
        return self.layouts.get(arg) if isinstance(arg, fx.Node) else None

    def tensor_args(self, node: fx.Node) -> list[Layout]:
        found: list[Layout] = []
        fx.node.map_arg((node.args, node.kwargs),
                        lambda a: found.append(self.layouts[a]) if self.layouts.get(a) else None)
        return found

    def run(self) -> None:
        for node in self.gm.graph.nodes:
            self.layouts[node] = self.visit(node)

    def visit(self, node: fx.Node) -> Layout | None:
        meta = node.meta.get("tensor_meta")
        shape = getattr(meta, "shape", None)
        if node.op == "placeholder":
            return ((self.src.new(shape[1], None), 1),) if shape and len(shape) >= 2 else None
        if node.op == "get_attr":
            if shape is not None and math.prod(shape) > 1:
                raise self.fail(node, "a tensor constant with more than one value")
            return None
        if node.op == "output":
            for layout in self.tensor_args(node):
                self.src.fix(layout)
            return None
        inputs = self.tensor_args(node)
        if not inputs:
            return None
        if node.op == "call_module":
            return self.call_module(node, self.modules[node.target], inputs[0])
        name = node.target if node.op == "call_method" else None
        if node.target in ELEMENTWISE_FUNCTIONS or name in ELEMENTWISE_METHODS:
            return self.same(node, inputs)
        if node.target in BINARY or name in BINARY_METHODS:
            return self.binary(node, inputs)
        if node.target in (F.pixel_shuffle, torch.pixel_shuffle):
            return self.shuffle(node, inputs[0], node.args[1])
        if node.target is torch.cat:
            return self.cat(node)
        if name in SHAPE_METHODS or node.target in (getattr, operator.getitem) and shape is None:
            return None
        raise self.fail(node, "an operation on channels it does not know")

    def same(self, node: fx.Node, inputs: list[Layout]) -> Layout:
        if len(inputs) != 1:
            raise self.fail(node, "an elementwise op on several traced tensors")
        return inputs[0]

    def call_module(self, node: fx.Node, module: nn.Module, layout: Layout) -> Layout:
        handler = handler_for(module)
        if handler is not None:
            if getattr(module, "groups", 1) != 1:
                raise self.fail(node, "a grouped convolution")
            offset = 0
            for src, div in layout:
                self.src.readers[src].add((str(node.target), offset, div))
                offset += self.src.channels[src] // div
            if str(node.target) not in self.layer_source:
                _, c_out = handler.widths(module)
                self.layer_source[str(node.target)] = self.src.new(c_out, str(node.target))
            return ((self.layer_source[str(node.target)], 1),)
        if isinstance(module, nn.PixelShuffle):
            return self.shuffle(node, layout, module.upscale_factor)
        if isinstance(module, ELEMENTWISE_MODULES) or (
                isinstance(module, nn.PReLU) and module.num_parameters == 1):
            return layout
        raise self.fail(node, f"a {type(module).__name__} module")

    def shuffle(self, node: fx.Node, layout: Layout, factor: object) -> Layout:
        if not isinstance(factor, int):
            raise self.fail(node, "a pixel shuffle factor that is not a constant")
        out = []
        for (src, div), width in zip(layout, _width(self.src, layout), strict=True):
            if width % (factor * factor):
                raise self.fail(node, f"{width} channels do not shuffle by {factor}")
            self.src.divs[src].add(div * factor * factor)
            out.append((src, div * factor * factor))
        return tuple(out)

    def binary(self, node: fx.Node, inputs: list[Layout]) -> Layout:
        if len(inputs) == 1:
            other = [a for a in (*node.args, *node.kwargs.values())
                     if isinstance(a, fx.Node) and self.layouts.get(a) is None]
            for a in other:
                shape = getattr(a.meta.get("tensor_meta"), "shape", None)
                if shape is not None and len(shape) >= 2 and shape[1] > 1:
                    raise self.fail(node, "a per-channel operand the tracer does not follow")
            return inputs[0]
        a, b = inputs[:2]
        if len(a) != len(b) or _width(self.src, a) != _width(self.src, b) or \
                any(da != db for (_, da), (_, db) in zip(a, b, strict=True)):
            raise self.fail(node, "two tensors whose channels are laid out differently")
        for (sa, _), (sb, _) in zip(a, b, strict=True):
            if self.src.channels[sa] != self.src.channels[sb]:
                raise self.fail(node, "two sources of different widths")
            self.src.union(sa, sb)
        return a

    def cat(self, node: fx.Node) -> Layout:
        parts = node.args[0]
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
        rank = len(node.meta["tensor_meta"].shape)
        if dim not in (1, 1 - rank):
            raise self.fail(node, "a concatenation along another dimension than channels")
        layouts = [self.layouts.get(p) for p in parts]
        if any(lay is None for lay in layouts):
            raise self.fail(node, "a concatenation with an untraced tensor")
        return tuple(seg for lay in layouts for seg in lay)


def trace_groups(model: nn.Module, example_inputs: torch.Tensor | tuple[torch.Tensor, ...],
                 residual: ResidualMode = "coupled") -> list[Group]:
    """The channel groups of ``model`` traced with ``torch.fx`` (see the module docstring).

    Raises:
        UnsupportedGraph: the model does not trace, or an operation the tracer cannot follow
            touches a prunable layer's channels (the error names the node).
    """
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    try:
        gm = fx.GraphModule(model, _LeafTracer().trace(model))
    except Exception as e:  # noqa: BLE001 - fx raises many types; all mean "does not trace"
        raise UnsupportedGraph(f"torch.fx cannot trace {type(model).__name__} "
                               f"({' '.join(str(e).split())[:200]}); declare "
                               "channel_groups(mode) on the model") from None
    with torch.no_grad():
        ShapeProp(gm).propagate(*inputs)
    tracer = _Tracer(gm)
    tracer.run()
    return _groups(tracer.src, residual)


def _groups(src: _Sources, residual: ResidualMode) -> list[Group]:
    """One group per coupled class of sources that is neither fixed nor unread."""
    classes: dict[int, list[int]] = defaultdict(list)
    for i in range(len(src.channels)):
        classes[src.root(i)].append(i)
    groups = []
    for members in classes.values():
        if any(m in src.fixed or src.producer[m] is None for m in members):
            continue
        if len(members) > 1 and residual != "coupled":
            continue
        unit = math.lcm(*(d for m in members for d in src.divs[m]))
        if src.channels[members[0]] % unit:
            continue
        producers = tuple(Port(src.producer[m], "out", 0, unit) for m in members)
        consumers = tuple(Port(path, "in", offset, unit // div) for m in members
                          for path, offset, div in sorted(src.readers[m]))
        if not consumers:
            continue
        first = src.producer[members[0]]
        role = "stream" if len(members) > 1 else "pixel_shuffle" if unit > 1 else "filter"
        groups.append(Group(name=first if role != "stream" else f"stream:{first}",
                            units=src.channels[members[0]] // unit, producers=producers,
                            consumers=consumers, role=role, layer=first))
    return groups
