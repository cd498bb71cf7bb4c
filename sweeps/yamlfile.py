"""Reading YAML with bounds: sweep files, ``sweep.yaml`` and ``provenance.yaml``.

``yaml.safe_load`` builds aliases as shared references, so a 440-byte "billion laughs" file
loads quickly and then blows up whatever walks it (an error message's ``repr``, a sweep's
expansion). :func:`read_yaml` instead reads at most :data:`MAX_BYTES`, composes the node graph,
and refuses a document that expands to more than :data:`MAX_NODES` nodes (counted with
shared nodes counted once per use, in time linear in the file), nests deeper than
:data:`MAX_DEPTH`, holds a recursive alias or a key twice in one mapping; only then does it build
Python objects. Every problem is a one-line ``ValueError`` naming the file, line and cause.

Numbers: PyYAML resolves YAML 1.1, where ``1e-3`` (an exponent without a dot) is a string.
:class:`Loader` adds YAML 1.2's float syntax (``1e-3``, ``1E3``, ``-.5``, ``1.0e+308``), so every
number that YAML 1.2 or Python's ``float`` reads is a number; :class:`Dumper` quotes strings that
would read back as such numbers. What a numeric option accepts (finite, bounds) is the
schema's to say (``inf`` and ``.inf`` read as infinity and are refused there).

Torch-free and Ray-free: ``analysis/`` reads stored sweeps with it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1 << 20  # 1 MiB: a sweep file of thousands of lines is a few kB
MAX_NODES = 100_000  # scalars, lists and mappings after alias expansion
MAX_DEPTH = 32

# YAML 1.2's core-schema float (with the digit separator "_" of YAML 1.1 and Python). It runs
# after PyYAML's own resolvers, so what YAML 1.1 reads as an integer stays one.
FLOAT_1_2 = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""",
    re.X,
)


class Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads YAML 1.2 floats (``1e-3``); integers stay integers."""


class Dumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that quotes a string :class:`Loader` would read as a number."""


for _cls in (Loader, Dumper):
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_1_2, list("-+0123456789."))


def dump_yaml(content: Any) -> str:
    """``content`` as YAML that :func:`parse_yaml` reads back equal (block style, keys in order)."""
    return yaml.dump(content, Dumper=Dumper, sort_keys=False, default_flow_style=None)


def read_yaml(path: str | Path, what: str) -> Any:
    """The document in ``path``; ``what`` names the file in errors (e.g. ``sweep file``)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise ValueError(f"{what}: {str(path)!r} is a directory, not a YAML file") from None
    except OSError as error:
        raise ValueError(f"{what}: cannot read {str(path)!r}: {error.strerror}") from None
    if len(data) > MAX_BYTES:
        raise ValueError(f"{what}: {str(path)!r} is larger than {MAX_BYTES:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{what}: {str(path)!r} is not UTF-8 text (byte {error.start})") from None
    return parse_yaml(text, what, f" in {str(path)!r}")


def parse_yaml(text: str, what: str, where: str = "") -> Any:
    """The document in ``text`` (see the module docstring for the bounds); ``what`` starts
    every error message, ``where`` (e.g. `` in 'FILE'``) ends it."""
    try:
        return _parse(text, what)
    except ValueError as error:
        raise ValueError(f"{error}{where}") from None


def _parse(text: str, what: str) -> Any:
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check(node, what)
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ValueError(f"{what}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ValueError(f"{what}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:
        if str(error).startswith(what):
            raise
        if "integer string conversion" in str(error):
            raise ValueError(f"{what}: an integer of more than 4300 digits") from None
        raise ValueError(f"{what}: {_first_line(error)}") from None
    finally:
        loader.dispose()


def _check(root: yaml.Node, what: str) -> None:
    """Refuse a graph that expands beyond ``MAX_NODES``, nests beyond ``MAX_DEPTH``, is
    recursive or repeats a mapping key."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def line(node) -> int:
        return node.start_mark.line + 1

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if depth > MAX_DEPTH:
            raise ValueError(f"{what}: nested deeper than {MAX_DEPTH} levels at line {line(node)}")
        if key in open_nodes:
            raise ValueError(f"{what}: a recursive alias at line {line(node)}")
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and not key_node.tag.endswith(":merge"):
                    if (key_node.tag, key_node.value) in seen:
                        raise ValueError(
                            f"{what}: duplicate key {_short(key_node.value)} at line "
                            f"{line(key_node)}; give each key once"
                        )
                    seen.add((key_node.tag, key_node.value))
                total += size(key_node, depth + 1) + size(value_node, depth + 1)
                _bound(total, node, what)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item, depth + 1)
                _bound(total, node, what)
        open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root, 0)


def _bound(total: int, node: yaml.Node, what: str) -> None:
    if total > MAX_NODES:
        raise ValueError(
            f"{what}: more than {MAX_NODES:,} values once aliases are expanded "
            f"(at line {node.start_mark.line + 1}); write a smaller file"
        )


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
