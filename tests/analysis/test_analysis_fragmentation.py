"""Free-list figures, the unusable free space index and the fragmentation index."""

from __future__ import annotations

import pytest

from nommu.analysis.fragmentation import fragmentation, fragmentation_index, unusable_free_index

NR_FREE = (3, 2, 1, 0)  # 3 + 4 + 4 = 11 free pages


@pytest.mark.parametrize(("order", "expected"), [(0, 0.0), (1, 3 / 11), (2, 7 / 11), (3, 1.0)])
def test_unusable_free_index(order: int, expected: float) -> None:
    assert unusable_free_index(NR_FREE, 11, order) == pytest.approx(expected)


def test_nothing_free_is_all_unusable() -> None:
    assert unusable_free_index((0, 0, 0), 0, 0) == 1.0


def test_fragmentation_index_as_the_kernel_computes_it() -> None:
    # 1000 - (1000 + 11*1000/8) / 6 blocks = 1000 - 2375 // 6 = 605
    assert fragmentation_index(NR_FREE, 11, 3) == 0.605
    assert fragmentation_index(NR_FREE, 11, 1) == -1.0  # would succeed
    assert fragmentation_index((0, 0, 0), 0, 2) == 0.0  # nothing free: lack of memory


def test_fragmentation_rows() -> None:
    f = fragmentation(NR_FREE, 11, 4096)
    assert f.largest_free_order == 2 and f.largest_free_bytes == 16384
    assert f.free_bytes == 11 * 4096
    assert [(o.order, o.block_bytes, o.nr_free, o.free_pages) for o in f.orders] == [
        (0, 4096, 3, 3),
        (1, 8192, 2, 4),
        (2, 16384, 1, 4),
        (3, 32768, 0, 0),
    ]
    empty = fragmentation((0, 0), 0, 4096)
    assert empty.largest_free_order == -1 and empty.largest_free_bytes == 0
