"""Relocation plans: ``load_flat_file``'s copy-and-relocate pass worked out once per program.

``load_flat_file`` (fs/binfmt_flat.c) copies the text and data into the new
mapping and then patches every word a relocation names, one ``get_user`` and
one ``put_user`` at a time: the GOT walk for ``FLAT_FLAG_GOTPIC``, then each
relocation entry. Every exec of the same file does exactly the same work,
except that the words written depend on where the allocator put the program:
a relocated word is ``value + start_code`` when the value points into the text
and ``value - code_len + start_data`` when it points into the data.

A :class:`RelocPlan` records that work once, relative to those two bases: the
bytes of the mapping after the copy and, per page holding relocated words, the
offset each word gets from its segment's base. Applying it to a new exec
stores the copy and then each such page relocated with integer arithmetic,
whatever the number of relocations. The bytes are those of the word-by-word
pass: the loader checks that on every plan it makes, and a test compares both
paths on random programs.

A plan exists only when the pass is a pure function of the two bases: no
relocation fails (an offset outside the program is the kernel's ``killing``
path), every word it patches lies in the one anonymous mapping (case A's text
mapped from the file is patched word by word), words are aligned and patched at
most once, the relocation table is not patched before it is read, and no value
wraps around 32 bits. Anything else goes through the word-by-word pass, which
stays the reference.

Plans are kept per inode (:class:`PlanCache`) and checked against the file's
bytes on every use, so a file rewritten in place gets a new plan.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

    from nommu.fs.vfs import Inode

__all__ = ["PlanCache", "RelocPlan", "make_plan"]

_U32 = 0xFFFFFFFF
#: Programs (inodes) whose plans a machine keeps.
PLAN_CACHE_SIZE = 64


@dataclass(frozen=True, slots=True)
class RelocLayout:
    """Where things are in the mapping, relative to its start (``memp``).

    ``lo``/``hi`` bound the bytes the copy writes (text or data, and the
    relocation table); ``size`` is ``calc_reloc``'s limit (code + data + bss).
    """

    memp_size: int
    lo: int
    hi: int
    start_code: int
    code_len: int
    start_data: int
    size: int
    reloc: int
    relocs: int
    gotpic: bool


class RelocPlan:
    """The relocation pass of one program, relative to ``start_code`` and ``start_data``.

    The relocated words are grouped by page. Each page that has some is kept
    as one integer holding the page's bytes with every relocated word
    replaced by its offset from its segment's base, and one integer per
    segment with a 1 in the lowest bit of each of that segment's words: the
    relocated page is then ``page + start_code * text + start_data * data``
    (no word carries into the next, :meth:`fits` makes sure of it), two
    multiplications whatever the number of relocations.
    """

    __slots__ = ("chunks", "clean", "data_max", "layout", "template", "text_max")

    def __init__(
        self,
        layout: RelocLayout,
        template: bytes,
        text: dict[int, int],
        data: dict[int, int],
        page_size: int,
        order: Literal["little", "big"],
    ) -> None:
        self.layout = layout
        self.template = template
        self.text_max = max(text.values(), default=0)
        self.data_max = max(data.values(), default=0)
        lo, hi = layout.lo, layout.hi
        pages: dict[int, list[tuple[int, int, bool]]] = {}
        for words, is_data in ((text, False), (data, True)):
            for off, value in words.items():
                pages.setdefault(off // page_size, []).append((off, value, is_data))
        #: (offset of the chunk in the mapping, its length, page, text ones, data ones)
        self.chunks: list[tuple[int, int, int, int, int]] = []
        for page in sorted(pages):
            start = max(lo, page * page_size)
            end = min(hi, start - start % page_size + page_size)
            raw = bytearray(template[start - lo : end - lo])
            n = end - start
            ones = [0, 0]
            for off, value, is_data in pages[page]:
                o = off - start
                raw[o : o + 4] = value.to_bytes(4, order)
                shift = 8 * o if order == "little" else 8 * (n - 4 - o)
                ones[is_data] |= 1 << shift
            self.chunks.append((start, n, int.from_bytes(raw, order), ones[0], ones[1]))
        #: the runs of the copy between those pages: (offset in the mapping, bytes)
        self.clean: list[tuple[int, bytes]] = []
        at = lo
        for start, n, *_ in (*self.chunks, (hi, 0)):
            if start > at:
                self.clean.append((at, template[at - lo : start - lo]))
            at = start + n

    def fits(self, memp: int, start_code: int, start_data: int) -> bool:
        """True when no relocated value (or address) wraps around 32 bits at these bases."""
        return (
            self.text_max + start_code <= _U32
            and self.data_max + start_data <= _U32
            and memp + self.layout.memp_size <= _U32
        )

    def apply(
        self,
        write: Callable[[int, bytes], None],
        memp: int,
        start_code: int,
        start_data: int,
        order: Literal["little", "big"],
    ) -> None:
        """Store the copied and relocated program into the fresh mapping at *memp*.

        The bytes the copy would store, except that each page holding
        relocated words is stored relocated; each store goes through *write*
        (``put_user``).
        """
        for start, run in self.clean:
            write(memp + start, run)
        for start, n, page, text, data in self.chunks:
            if text:
                page += start_code * text
            if data:
                page += start_data * data
            write(memp + start, page.to_bytes(n, order))


def make_plan(
    window: bytes,
    memp: int,
    layout: RelocLayout,
    page_size: int,
    order: Literal["little", "big"],
) -> RelocPlan | None:
    """Work out the relocation pass on *window* (the mapping's bytes after the copy).

    Follows ``load_flat_file`` word for word (the GOT walk, then each entry
    through ``calc_reloc``) on a copy of the bytes instead of memory, and
    returns None as soon as the pass would not be a pure function of the two
    bases (see the module's docstring): those programs keep the word-by-word
    pass.
    """
    lay = layout
    if lay.relocs < 0 or memp + lay.memp_size > _U32 or memp & 3:
        return None  # rev-2 (typed) relocations, or addresses that wrap
    start_code = memp + lay.start_code
    start_data = memp + lay.start_data
    code_len, size, end = lay.code_len, lay.size, lay.memp_size
    text: dict[int, int] = {}  # offset -> value relative to start_code
    data: dict[int, int] = {}  # offset -> value relative to start_data

    def record(off: int, value: int) -> bool:
        if value > size:
            return False  # calc_reloc's "reloc outside program": the error path
        if value < code_len:
            text[off] = value
        else:
            data[off] = value - code_len
        return True

    if lay.gotpic:
        off = lay.start_data
        while True:
            if off + 4 > end:
                return None
            value = int.from_bytes(window[off : off + 4], order)
            if value == _U32:
                break
            if value and not record(off, value):
                return None
            off += 4
    table = lay.reloc
    table_end = table + 4 * lay.relocs
    if table < 0 or table_end > end or table & 3:
        return None
    source: Literal["little", "big"] = order if lay.gotpic else "big"  # ntohl unless GOTPIC
    for i in range(table, table_end, 4):
        relval = int.from_bytes(window[i : i + 4], "big")
        if relval > size:
            return None
        if relval < code_len:
            rp = (relval + start_code) & _U32
        else:
            rp = (relval - code_len + start_data) & _U32
        off = rp - memp
        if off < 0 or off + 4 > end or off & 3 or off in text or off in data:
            return None
        value = int.from_bytes(window[off : off + 4], source)
        if value and not record(off, value):
            return None
    for off in (*text, *data):
        if off < lay.lo or off + 4 > lay.hi or table - 4 < off < table_end:
            return None  # outside the copied bytes, or patches the table before it is read
    return RelocPlan(layout, bytes(window[lay.lo : lay.hi]), text, data, page_size, order)


#: Argument-area sizes (``extra_stack``) whose plans are kept per program.
PLANS_PER_PROGRAM = 8


@dataclass(slots=True)
class _Entry:
    image: bytes
    plans: dict[int, RelocPlan | None]  # by extra_stack: it sizes the mapping


class PlanCache:
    """Relocation plans by inode, each checked against the file's bytes before use."""

    def __init__(self) -> None:
        self._by_inode: weakref.WeakKeyDictionary[Inode, _Entry] = weakref.WeakKeyDictionary()

    def lookup(self, inode: Inode, image: bytes, extra_stack: int) -> RelocPlan | bool | None:
        """The plan for these bytes; None if they have none; False if not worked out yet."""
        entry = self._by_inode.get(inode)
        if entry is None or entry.image != image:
            return False
        return entry.plans.get(extra_stack, False)

    def store(self, inode: Inode, image: bytes, extra_stack: int, plan: RelocPlan | None) -> None:
        entry = self._by_inode.get(inode)
        if entry is None or entry.image != image:
            if entry is None and len(self._by_inode) >= PLAN_CACHE_SIZE:
                del self._by_inode[next(iter(self._by_inode.keys()))]
            entry = self._by_inode[inode] = _Entry(image, {})
        if len(entry.plans) >= PLANS_PER_PROGRAM:
            del entry.plans[next(iter(entry.plans))]
        entry.plans[extra_stack] = plan
