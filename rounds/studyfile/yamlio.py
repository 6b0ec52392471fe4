"""Study files as YAML: read into plain data with the line of every field, and written back.

Reading is strict where YAML is ambiguous, so that every YAML parser reads a valid file to
the same data (the design hash depends on it): scalars resolve as in YAML 1.2's core schema
(only ``true``/``false`` are booleans, ``yes``, ``no``, ``on`` and dates stay text; whole
numbers have no leading zero and floats a decimal point), keys are text and appear once,
and anchors, aliases and tags other than the core ones are refused. Lines are counted from 1.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from django.utils.translation import gettext as _

from rounds.studyfile.problems import Path, StudyFileProblem, StudyFileRejected, field_name

Lines = dict[Path, int]

_CORE = "tag:yaml.org,2002:"


class _AliasFound(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__()
        self.mark = mark


class _Loader(yaml.SafeLoader):
    """Composes nodes with the YAML 1.2 core schema's implicit types (see the docstring),
    refusing aliases where they appear."""

    yaml_implicit_resolvers: dict[Any, Any] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise _AliasFound(self.peek_event().start_mark)
        return super().compose_node(parent, index)


for _tag, _pattern, _first in (
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^[-+]?(?:0|[1-9][0-9]*)$", list("-+0123456789")),
    ("float", r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)$", list("-+0123456789.")),
):
    _Loader.add_implicit_resolver(_CORE + _tag, re.compile(_pattern), _first)


_FastLoader: Any = None
if getattr(yaml, "__with_libyaml__", False):

    class _FastLoader(yaml.CSafeLoader):  # type: ignore[no-redef]
        """The same, composed by libyaml (several times faster); it cannot stop at an alias,
        so a file with one is read again by `_Loader`, which says where it is."""

        yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


def load(text: str) -> tuple[Any, Lines]:
    """The data of a YAML document and the line of each field (a mapping entry's key line,
    a list entry's first line). Raises StudyFileRejected on anything unreadable."""
    if _FastLoader is not None:
        try:
            node = _FastLoader(text).get_single_node()
        except yaml.YAMLError:
            node = _compose(text)  # its error, with the pure reader's mark and wording
        builder = _Builder()
        data = builder.value(node, ()) if node is not None else None
        if not builder.aliased:
            return _built(node, data, builder)
    node = _compose(text)
    builder = _Builder()
    data = builder.value(node, ()) if node is not None else None
    return _built(node, data, builder)


def _built(node: yaml.Node | None, data: Any, builder: _Builder) -> tuple[Any, Lines]:
    if node is None:
        raise StudyFileRejected([StudyFileProblem(None, "", _("The file is empty."))])
    if builder.problems:
        raise StudyFileRejected(builder.problems)
    return data, builder.lines


def _compose(text: str) -> yaml.Node | None:
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    except _AliasFound as found:
        message = _("anchors and aliases (& and *) are not allowed; write the value out.")
        raise StudyFileRejected([StudyFileProblem(found.mark.line + 1, "", message)]) from None
    except yaml.MarkedYAMLError as error:
        raise StudyFileRejected([_syntax_problem(error)]) from None
    except yaml.YAMLError as error:  # e.g. a character YAML does not allow, without a mark
        raise StudyFileRejected([StudyFileProblem(None, "", _not_yaml(str(error)))]) from None
    finally:
        loader.dispose()


def _syntax_problem(error: yaml.MarkedYAMLError) -> StudyFileProblem:
    mark = error.problem_mark or error.context_mark
    detail = " ".join(part for part in (error.context, error.problem) if part)
    return StudyFileProblem(mark.line + 1 if mark else None, "", _not_yaml(detail))


def _not_yaml(detail: str) -> str:
    return _(
        "this is not valid YAML (%(detail)s). Check the indentation, that every field name "
        "ends with a colon, and that a text containing “: ” or starting with a special "
        "character is in quotes."
    ) % {"detail": detail}


class _Builder:
    """Turns composed nodes into dicts, lists and scalars, noting lines and problems."""

    def __init__(self) -> None:
        self.lines: Lines = {}
        self.problems: list[StudyFileProblem] = []
        self.aliased = False
        self._seen: set[int] = set()

    def value(self, node: yaml.Node, path: Path) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self._seen:  # an alias: the composer hands the anchored node again
            self.aliased = True
            return None
        self._seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == _CORE + "str"):
                self._problem(key_node, path, _("write this field name as plain text."))
                continue
            key = str(key_node.value)
            child = (*path, key)
            if key in out:
                self._problem(
                    key_node, child, _("this field appears twice here; keep one of them.")
                )
                continue
            self.lines[child] = key_node.start_mark.line + 1
            out[key] = self.value(value_node, child)
        return out

    def _scalar(self, node: yaml.Node, path: Path) -> Any:
        tag, text = node.tag, str(node.value)
        try:
            if tag == _CORE + "str":
                return text
            if tag == _CORE + "null":
                return None
            if tag == _CORE + "bool":
                return text.lower() == "true"
            if tag == _CORE + "int":
                return int(text)
            if tag == _CORE + "float":
                return float(text)
        except ValueError:
            pass
        self._problem(node, path, _("the tag %(tag)s is not allowed; remove it.") % {"tag": tag})
        return None

    def _problem(self, node: yaml.Node, path: Path, message: str) -> None:
        self.problems.append(StudyFileProblem(node.start_mark.line + 1, field_name(path), message))


# --------------------------------------------------------------------------- writing


_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml writes 3x faster


class _Dumper(_BaseDumper):
    """Short lists of values and groups of numbers on one line, texts of several lines as
    literal blocks; PyYAML quotes any text another YAML reader could take for a number, a
    boolean or a date."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar(_CORE + "str", value, style=style)


def _one_line(value: Any) -> bool:
    return (
        value is None
        or isinstance(value, (bool, int, float))
        or (isinstance(value, str) and "\n" not in value)
    )


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    flow = all(_one_line(v) for v in value)
    return dumper.represent_sequence(_CORE + "seq", value, flow_style=flow)


def _mapping(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.MappingNode:
    flow = all(isinstance(v, int) and not isinstance(v, bool) for v in value.values())
    return dumper.represent_mapping(_CORE + "map", value, flow_style=flow)


class _Top(dict[str, Any]):
    """One top-level field of the file, always written as a block."""


def _top(dumper: yaml.SafeDumper, value: _Top) -> yaml.MappingNode:
    return dumper.represent_mapping(_CORE + "map", dict(value), flow_style=False)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(list, _list)
_Dumper.add_representer(dict, _mapping)
_Dumper.add_representer(_Top, _top)


def dump(data: dict[str, Any], header: list[str]) -> str:
    """The document as YAML, its top-level fields in order and separated by a blank line,
    after `header` as comment lines."""
    parts = ["\n".join(f"# {line}".rstrip() for line in header)] if header else []
    for key, value in data.items():
        parts.append(
            yaml.dump(
                _Top({key: value}),
                Dumper=_Dumper,
                sort_keys=False,
                allow_unicode=True,
                default_flow_style=False,
                width=1_000_000,
                indent=2,
            ).rstrip("\n")
        )
    return "\n\n".join(parts) + "\n"
