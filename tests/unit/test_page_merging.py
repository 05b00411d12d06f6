"""Which mappings a process marks mergeable, and turning ksmd on (services.kernel.page_merging)."""

from __future__ import annotations

from services.kernel import page_merging

MAPS = """\
55d0c0a00000-55d0c0a6a000 r--p 00000000 fe:01 1234   /usr/bin/python3.11
55d0c0e00000-55d0c0e8e000 rw-p 00400000 fe:01 1234   /usr/bin/python3.11
55d0c0e8e000-55d0c0f00000 rw-p 00000000 00:00 0
55d0c1a00000-55d0c4000000 rw-p 00000000 00:00 0      [heap]
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
7f0000100000-7f0000200000 rw-s 00000000 00:05 99     /dev/zero (deleted)
7f0000200000-7f0000300000 r-xp 00000000 fe:01 77     /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000300000-7f0000301000 ---p 00000000 00:00 0
7f0000400000-7f0000402000 rw-p 00000000 fe:01 88     /usr/lib/my lib with spaces.so
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0      [stack]
7ffd00100000-7ffd00104000 r--p 00000000 00:00 0      [vvar]
7ffd00104000-7ffd00106000 r-xp 00000000 00:00 0      [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]
"""


def test_private_writable_mappings_are_marked_and_nothing_else():
    assert page_merging.mergeable_ranges(MAPS) == [
        (0x55d0c0e00000, 0x55d0c0e8e000),   # the interpreter's data, copied once written
        (0x55d0c0e8e000, 0x55d0c0f00000),   # anonymous
        (0x55d0c1a00000, 0x55d0c4000000),   # the heap
        (0x7f0000000000, 0x7f0000100000),   # anonymous (Python's arenas)
        (0x7f0000400000, 0x7f0000402000),   # a library's data, whatever its name holds
    ]


def test_lines_that_are_not_mappings_are_passed_over():
    assert page_merging.mergeable_ranges("\n\ngarbage\n12-34 rw\n") == []


def test_a_stopped_ksmd_is_started(tmp_path):
    run = tmp_path / "run"
    run.write_text("0\n")
    assert page_merging.turn_on(str(run)) is None
    assert run.read_text() == "1"


def test_a_running_ksmd_is_left_running(tmp_path):
    run = tmp_path / "run"
    run.write_text("1\n")
    assert page_merging.turn_on(str(run)) is None
    assert run.read_text() == "1\n"


def test_ksmd_that_unmerged_everything_on_purpose_is_left_so(tmp_path):
    run = tmp_path / "run"
    run.write_text("2\n")
    assert "mode 2" in page_merging.turn_on(str(run))
    assert run.read_text() == "2\n"


def test_a_kernel_without_ksm_is_said_not_raised(tmp_path):
    assert "cannot turn on same-page merging" in page_merging.turn_on(str(tmp_path / "absent"))
