"""One tagged PDF from parts laid out apart: pages, structure tree, outline, named
destinations and page numbers intact.

A report laid out in parts (`reports.parts`) gives one PDF/UA file per part, each with its
own structure tree, parent tree (marked content to structure elements), outline and named
destinations. A plain concatenation keeps the pages and loses the rest; `merge` rebuilds
them: one Document element holding every part's elements, one parent tree with every
part's keys shifted past the previous parts', the outlines chained, the destinations of
all parts in one name tree (so a link from the contents to a sheet laid out in another
part resolves), and the catalogue of the first part (language, marking, metadata).

`number_pages` stamps "n / N" on each page of a part, from a page laid out by WeasyPrint
for the purpose, as an artifact (page furniture, outside the structure tree), so that the
numbers continue across parts. Pure: pikepdf only.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from typing import Any

import pikepdf
from pikepdf import Array, Dictionary, Name, Pdf


def merge(parts: Sequence[bytes], nested: Sequence[int] = ()) -> bytes:
    """The parts, in order, as one tagged PDF. ``nested[i]``: how many of part i's first
    outline items belong under the previous part's last one (a part that starts inside a
    chapter: the sheets under "Recommendations")."""
    out = Pdf.open(io.BytesIO(parts[0]))
    root = out.Root.StructTreeRoot
    document = root.K[0] if isinstance(root.K, Array) else root.K
    nums: list[Any] = list(root.ParentTree.Nums)
    next_key = _next_key(nums)
    names = _dests(out)
    nest = [*nested, *[0] * len(parts)]
    for index, data in enumerate(parts[1:], start=1):
        part = Pdf.open(io.BytesIO(data))
        first = len(out.pages)
        out.pages.extend(part.pages)
        shift = next_key
        for i in range(len(part.pages)):
            page = out.pages[first + i]
            if "/StructParents" in page.obj:
                page.obj.StructParents = int(page.obj.StructParents) + shift
            for annot in page.obj.get("/Annots", Array()):
                if "/StructParent" in annot:
                    annot.StructParent = int(annot.StructParent) + shift
        part_root = part.Root.StructTreeRoot
        part_doc = part_root.K[0] if isinstance(part_root.K, Array) else part_root.K
        for kid in part_doc.K:
            copied_kid = out.copy_foreign(kid)
            copied_kid.P = document
            document.K.append(copied_kid)
        part_nums = list(part_root.ParentTree.Nums)
        for j in range(0, len(part_nums), 2):
            nums += [int(part_nums[j]) + shift, _copy(out, part_nums[j + 1])]
        next_key = shift + _next_key(list(part_root.ParentTree.Nums))
        _chain_outlines(out, part, nest[index])
        names.update({key: _copy(out, dest) for key, dest in _dests(part).items()})
    root.ParentTree = out.make_indirect(Dictionary(Nums=Array(nums)))
    root.ParentTreeNextKey = next_key
    _write_dests(out, names)
    buffer = io.BytesIO()
    out.save(buffer)
    return buffer.getvalue()


def _copy(out: Pdf, value: Any) -> Any:
    """A foreign value into ``out``: indirect objects through pikepdf's copier (which maps
    each object once, so references to already copied pages and elements are kept),
    direct arrays element by element."""
    if isinstance(value, pikepdf.Object) and value.is_indirect:
        return out.copy_foreign(value)
    if isinstance(value, Array):
        return Array([_copy(out, item) for item in value])
    return value


def _next_key(nums: Sequence[Any]) -> int:
    keys = [int(nums[i]) for i in range(0, len(nums), 2)]
    return max(keys, default=-1) + 1


def _dests(pdf: Pdf) -> dict[str, object]:
    """The named destinations of a WeasyPrint PDF: a flat Names array under /Dests."""
    names = pdf.Root.get("/Names")
    dests = names.get("/Dests") if names is not None else None
    if dests is None:
        return {}
    flat = list(dests.get("/Names", Array()))
    return {str(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


def _write_dests(pdf: Pdf, names: dict[str, object]) -> None:
    flat = Array()
    for key in sorted(names):
        flat.append(pikepdf.String(key))
        flat.append(names[key])
    if "/Names" not in pdf.Root:
        pdf.Root.Names = Dictionary()
    pdf.Root.Names.Dests = pdf.make_indirect(Dictionary(Names=flat))


def _chain_outlines(out: Pdf, part: Pdf, nested: int) -> None:
    """Append the part's top-level outline items after the output's, the first ``nested``
    of them as children of the output's last item."""
    outlines = part.Root.get("/Outlines")
    if outlines is None or "/First" not in outlines:
        return
    copied = _copy(out, outlines) if not outlines.is_indirect else out.copy_foreign(outlines)
    items = []
    item = copied.First
    while True:
        items.append(item)
        if "/Next" not in item:
            break
        item = item.Next
    if "/Outlines" not in out.Root or "/First" not in out.Root.Outlines:
        out.Root.Outlines = out.make_indirect(Dictionary(Type=Name.Outlines))
    top = out.Root.Outlines
    last_top = top.get("/Last")
    if last_top is not None and nested:
        _append(last_top, items[:nested])
        items = items[nested:]
    _append(top, items)


def _append(parent: Any, items: list[Any]) -> None:
    """Make ``items`` the last children of the outline item (or root) ``parent``."""
    if not items:
        return
    for item in items:
        item.Parent = parent
        for key in ("/Prev", "/Next"):
            if key in item:
                del item[key]
    for before, after in itertools.pairwise(items):
        before.Next, after.Prev = after, before
    if "/Last" in parent:
        parent.Last.Next, items[0].Prev = items[0], parent.Last
    else:
        parent.First = items[0]
    parent.Last = items[-1]
    visible = sum(1 + max(int(i.get("/Count", 0)), 0) for i in items)
    if int(parent.get("/Count", 0)) >= 0:
        parent.Count = int(parent.get("/Count", 0)) + visible


def number_pages(part: bytes, numbers: bytes) -> bytes:
    """``part`` with page i of ``numbers`` (a PDF of pages that carry only their page
    number, laid out like the report's) drawn over page i, as an artifact."""
    pdf = Pdf.open(io.BytesIO(part))
    stamps = Pdf.open(io.BytesIO(numbers))
    for page, stamp in zip(pdf.pages, stamps.pages, strict=True):
        form = pdf.copy_foreign(stamp.as_form_xobject())
        name = page.add_resource(form, Name.XObject, prefix="PageNumber")
        page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
        page.contents_add(
            pikepdf.Stream(pdf, b"Q\n/Artifact BMC q " + bytes(name) + b" Do Q EMC\n")
        )
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()
