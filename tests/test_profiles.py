"""Kernel and arch profiles (src/nommu/profiles.py) and docs/kernels.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import nommu
from nommu.profiles import (
    ARCHES,
    CHANGES,
    DEFAULT_KERNEL,
    KERNEL_VERSIONS,
    Change,
    arch_profile,
    kernel_profile,
    version_key,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "kernels.md"
ANON = nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS


def test_unknown_kernel_names_the_known_ones() -> None:
    with pytest.raises(ValueError) as e:
        nommu.Machine(kernel="3.0")
    assert str(e.value) == (
        "kernel: unknown version '3.0'; the model knows 2.6.24, 4.4, 5.10, 6.1, 6.3, 6.4, 6.8, 6.12"
    )


def test_unknown_arch_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"^arch: unknown architecture 'x86'; .* arm, riscv64$"):
        nommu.Machine(arch="x86")


def test_default_is_the_newest_kernel_on_arm() -> None:
    m = nommu.Machine()
    assert m.kernel.version == DEFAULT_KERNEL == KERNEL_VERSIONS[-1]
    assert m.arch.name == "arm" and m.word_size == 4
    assert sorted(KERNEL_VERSIONS, key=version_key) == list(KERNEL_VERSIONS)


def test_arch_sets_the_word_size_unless_overridden() -> None:
    assert nommu.Machine(arch="riscv64").word_size == 8
    assert nommu.Machine(arch="riscv64", word_size=4).word_size == 4
    assert arch_profile("riscv64").thread_size == 16384
    assert arch_profile("arm").thread_size == 8192


def test_change_applies_from_since_until() -> None:
    c = Change("x", since="5.10", where="", before="", after="", until="6.4")
    assert [c.applies_to(v) for v in ("4.4", "5.10", "6.1", "6.4", "6.12")] == [
        False,
        True,
        True,
        False,
        False,
    ]


def test_profiles_follow_the_table() -> None:
    old, new = kernel_profile("4.4"), kernel_profile("6.12")
    for c in CHANGES:
        assert old.has(c) == c.applies_to("4.4")
        assert new.has(c) == c.applies_to("6.12")
    assert kernel_profile("2.6.24").mm_design == "shared-vmas"
    assert new.mm_design == "regions"


def test_changes_are_sorted_and_named_once() -> None:
    keys = [version_key(c.since) for c in CHANGES]
    assert keys == sorted(keys)
    assert len({c.name for c in CHANGES}) == len(CHANGES)


@pytest.mark.parametrize(("kernel", "first"), [("4.4", 0x80C00000), ("5.10", 0x80400000)])
def test_boot_free_list_order(kernel: str, first: int) -> None:
    """__free_pages_core(): before v5.10 boot blocks go to the list head (top of RAM first)."""
    m = nommu.Machine(kernel=kernel, ram="16M", kernel_reserved="4M", ideal=True)
    assert m.spawn(name="a").mmap(0, 4096, 3, ANON) == first


@pytest.mark.parametrize(("kernel", "mode"), [("2.6.24", "documented"), ("4.4", "code")])
def test_sysv_shm_follows_the_profile(kernel: str, mode: str) -> None:
    assert nommu.Machine(kernel=kernel).options["sysv_shm"] == mode
    assert nommu.Machine(kernel=kernel, sysv_shm="code").options["sysv_shm"] == "code"


def test_docs_list_every_change_and_arch() -> None:
    text = DOCS.read_text()
    for c in CHANGES:
        assert f"### {c.name} ({c.since})" in text, c.name
        for path in re.findall(r"[\w/.-]+\.[ch]\b", c.where):
            assert path in text, (c.name, path)
    for name in ARCHES:
        assert f"`{name}`" in text


def test_bad_design_and_ideal_are_refused() -> None:
    with pytest.raises(ValueError, match="design: must be one of"):
        nommu.Machine(design="magic")
    with pytest.raises(TypeError, match="ideal: expected a bool"):
        nommu.Machine(ideal=1)  # type: ignore[arg-type]
