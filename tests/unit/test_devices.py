"""Device rules: Docker's rule strings, the v1 lines, and the v2 program run on a small
eBPF interpreter, judged against what the v1 controller answers."""

import itertools
import struct

import pytest

from services.common import errors
from services.kernel import devices
from services.kernel.devices import ANY, Rule
from services.supervisor import bundle

DEFAULT = list(devices.DEFAULT_RULES)
CTX = object()  # what r1 holds at entry: the context pointer


def run(program: bytes, kind: str, major: int, minor: int, access: str) -> bool:
    """What the device program answers (True: allow) for one access, as the kernel runs it
    (r1: a pointer to struct bpf_cgroup_dev_ctx {u32 access_type, major, minor})."""
    ctx = struct.pack("=III", (devices._bits(access) << 16) | devices.TYPE_CODES[kind], major, minor)
    insns = [struct.unpack_from("<BBhi", program, i) for i in range(0, len(program), 8)]
    regs: list = [None, CTX] + [None] * 9
    pc = 0
    while True:
        code, registers, off, imm = insns[pc]
        dst, src = registers & 0xF, registers >> 4
        pc += 1
        if code == devices.LDX_MEM_W:
            assert regs[src] is CTX and off in (0, 4, 8), "a load from anything but the context"
            regs[dst] = struct.unpack_from("=I", ctx, off)[0]
        elif code == devices.ALU_MOV_X:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif code == devices.ALU_AND_K:
            regs[dst] = regs[dst] & imm & 0xFFFFFFFF
        elif code == devices.ALU_RSH_K:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif code == devices.ALU64_MOV_K:
            regs[dst] = imm
        elif code in (devices.JMP_JNE_K, devices.JMP_JEQ_K, devices.JMP_JSET_K):
            assert off >= 0 and pc + off < len(insns), "a jump goes forward and stays inside"
            value = regs[dst]
            assert isinstance(value, int), "a jump on a register never set"
            taken = {devices.JMP_JNE_K: value != imm, devices.JMP_JEQ_K: value == imm,
                     devices.JMP_JSET_K: bool(value & imm)}[code]
            pc += off if taken else 0
        elif code == devices.JMP_EXIT:
            assert regs[0] in (0, 1)
            return bool(regs[0])
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


KINDS = "bc"
NUMBERS = [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (7, 0), (8, 0), (8, 1),
           (10, 200), (10, 229), (10, 232), (136, 0), (136, 7), (253, 0), (254, 0)]
ACCESSES = ["r", "w", "m", "rw", "rm", "wm", "rwm"]


def every_access():
    for kind, (major, minor), access in itertools.product(KINDS, NUMBERS, ACCESSES):
        yield kind, major, minor, access


def test_default_rules_refuse_block_devices_kvm_and_fuse_but_allow_mknod():
    program = devices.program(DEFAULT)
    for major, minor in [(8, 0), (254, 0), (7, 0), (253, 0)]:
        assert run(program, "b", major, minor, "m")
        for access in ("r", "w", "rw", "rwm"):
            assert not run(program, "b", major, minor, access), (major, minor, access)
    for major, minor in [(10, 232), (10, 229), (1, 1), (4, 0), (10, 237)]:  # kvm, fuse, mem, tty0, loop-control
        assert run(program, "c", major, minor, "m")
        assert not run(program, "c", major, minor, "r")
        assert not run(program, "c", major, minor, "rw")


def test_default_rules_allow_the_standard_character_devices():
    program = devices.program(DEFAULT)
    for major, minor in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, 0), (136, 9),
                         (10, 200)]:  # tun, as runc allows it again since 1.2.4
        for access in ACCESSES:
            assert run(program, "c", major, minor, access), (major, minor, access)
        assert not run(program, "b", major, minor, "r")  # a block device of the same numbers


@pytest.mark.parametrize("rules", [
    DEFAULT,
    list(devices.ALLOW_ALL),
    [],
    DEFAULT + [devices.parse("b 8:* r")],
    DEFAULT + [devices.parse("c 10:232 rw"), devices.parse("b 254:0 rwm")],
    DEFAULT + [devices.parse("a *:* rwm")],
    DEFAULT + [Rule(True, "c", 1, 3, "r"), Rule(True, "c", 1, 3, "w")],
    [Rule(False), Rule(True, "c", 1, 3, "r"), Rule(True, "c", 1, 3, "w")],   # merged into one: rw
    [Rule(False), Rule(True, "c", 1, 3, "r"), Rule(True, "c", 1, 5, "w")],
    [Rule(False), Rule(True, "c", ANY, ANY, "rwm"), Rule(False, "c", ANY, ANY, "w")],
    [Rule(True), Rule(False, "b", ANY, ANY, "w")],                            # allow all but writes
    [Rule(True), Rule(False, "c", 10, ANY, "rwm"), Rule(True, "c", 10, ANY, "r")],
    [Rule(True), Rule(False, "b", 8, 0, "rw")],
])
def test_the_program_answers_as_the_v1_controller(rules):
    program = devices.program(rules)
    for kind, major, minor, access in every_access():
        assert run(program, kind, major, minor, access) == devices.decide(rules, kind, major, minor, access), \
            (kind, major, minor, access)


def test_v1_controller_semantics():
    # An allow exception must cover all the access asked for; a deny exception any of it.
    split = [Rule(False), Rule(True, "c", 1, 3, "r"), Rule(True, "c", 1, 5, "w")]
    assert devices.decide(split, "c", 1, 3, "r") and not devices.decide(split, "c", 1, 3, "rw")
    blacklist = [Rule(True), Rule(False, "b", 8, 0, "w")]
    assert devices.decide(blacklist, "b", 8, 0, "r") and not devices.decide(blacklist, "b", 8, 0, "rw")
    # A rule of the default's kind takes access away from an exception.
    assert devices.reduce([Rule(False), Rule(True, "c", 1, 3, "rwm"), Rule(False, "c", 1, 3, "w")]) == \
        (False, [Rule(True, "c", 1, 3, "rm")])
    # "a" resets, whatever numbers and access it names.
    assert devices.reduce(DEFAULT + [Rule(True, "a", 1, 3, "r")]) == (True, [])


def test_privileged_and_extra_rules():
    allow_all = devices.program(list(devices.ALLOW_ALL))
    assert all(run(allow_all, *case) for case in every_access())
    read_disks = devices.program(DEFAULT + [devices.parse("b 8:* r")])
    assert run(read_disks, "b", 8, 0, "r") and run(read_disks, "b", 8, 1, "r")
    assert not run(read_disks, "b", 8, 0, "w") and not run(read_disks, "b", 8, 0, "rw")
    assert not run(read_disks, "b", 254, 0, "r")
    everything = devices.program(DEFAULT + [devices.parse("a *:* rwm")])
    assert run(everything, "b", 254, 0, "rw")


def test_parse_rule_strings_as_docker_does():
    assert devices.parse("c 1:3 rwm") == Rule(True, "c", 1, 3, "rwm")
    assert devices.parse("b 8:* r") == Rule(True, "b", 8, ANY, "r")
    assert devices.parse("c *:* m") == Rule(True, "c", ANY, ANY, "m")
    assert devices.parse("a") == Rule(True, "a", ANY, ANY, "rwm")
    assert devices.parse("a *:* rwm") == Rule(True)


@pytest.mark.parametrize("text", ["", "c 1:1  rwm", "c  1:1 rwm", " c 1:1 rwm", "c 1:1 rwm ", "x 1:1 r",
                                  "c 1 r", "c 1:1", "c 1:1 rx", "c 1:1 rwmr", "c 1:1 rr", "c -1:1 r",
                                  "c 1:1 R", "b 99999999999:0 r", "c 1:3 rwm\n"])
def test_rule_strings_that_do_not_parse(text):
    with pytest.raises(ValueError, match="^invalid device cgroup rule format: '"):
        devices.parse(text)


def test_v1_lines():
    assert devices.v1_lines(DEFAULT) == [
        ("devices.deny", "a"), ("devices.allow", "c *:* m"), ("devices.allow", "b *:* m"),
        ("devices.allow", "c 1:3 rwm"), ("devices.allow", "c 1:5 rwm"), ("devices.allow", "c 1:7 rwm"),
        ("devices.allow", "c 1:8 rwm"), ("devices.allow", "c 1:9 rwm"), ("devices.allow", "c 5:0 rwm"),
        ("devices.allow", "c 5:1 rwm"), ("devices.allow", "c 5:2 rwm"), ("devices.allow", "c 136:* rwm"),
        ("devices.allow", "c 10:200 rwm")]
    assert devices.v1_lines(list(devices.ALLOW_ALL)) == [("devices.allow", "a")]
    assert devices.v1_lines([devices.parse("b 8:* r")]) == [("devices.allow", "b 8:* r")]


def test_oci_entries_round_trip_and_bad_ones_are_refused():
    entries = [devices.to_oci(r) for r in DEFAULT]
    assert entries[0] == {"allow": False, "type": "a", "access": "rwm"}
    assert entries[3] == {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    assert devices.from_oci(entries) == DEFAULT
    # As runc reads them: no type is "a", a missing or -1 number any.
    assert devices.from_oci([{"allow": False, "access": "rwm"}, {"allow": True, "type": "b", "major": -1,
                                                                  "minor": 0, "access": "r"}]) == \
        [Rule(False), Rule(True, "b", ANY, 0, "r")]
    for bad in ["x", [1], [{"type": "c"}], [{"allow": True, "type": "x"}], [{"allow": True, "access": "q"}],
                [{"allow": True, "type": "c", "major": "1"}], [{"allow": True, "type": "c", "minor": -2}]]:
        with pytest.raises(ValueError):
            devices.from_oci(bad)


def test_bundle_devices_defaults_mappings_and_privileged():
    nodes, rules = bundle.devices({})
    assert nodes == [] and rules == DEFAULT
    nodes, rules = bundle.devices({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull",
                                                "CgroupPermissions": "r"}],
                                   "DeviceCgroupRules": ["b 8:* r"]})
    assert [(n["path"], n["type"], n["major"], n["minor"]) for n in nodes] == [("/dev/xnull", "c", 1, 3)]
    assert rules == DEFAULT + [Rule(True, "c", 1, 3, "r"), Rule(True, "b", 8, ANY, "r")]
    nodes, rules = bundle.devices({"Devices": [{"PathOnHost": "/dev/null"}]})  # defaults: same path, rwm
    assert nodes[0]["path"] == "/dev/null" and rules[-1] == Rule(True, "c", 1, 3, "rwm")
    nodes, rules = bundle.devices({"Privileged": True, "DeviceCgroupRules": ["c 1:3 r"]})
    assert rules == list(devices.ALLOW_ALL)
    paths = {n["path"] for n in nodes}
    assert "/dev/null" in paths and not {"/dev/console", "/dev/ptmx"} & paths
    assert not any(p.startswith(("/dev/pts/", "/dev/shm/")) for p in paths)


@pytest.mark.parametrize("host, message", [
    ({"Devices": "/dev/null"}, "HostConfig.Devices must be a list of objects"),
    ({"Devices": ["/dev/null:/dev/null:rwm"]}, "HostConfig.Devices must be a list of objects"),
    ({"Devices": [{"PathOnHost": 3}]}, r"HostConfig.Devices\[0\].PathOnHost must be a string"),
    ({"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": ["r"]}]}, "CgroupPermissions must be a string"),
    ({"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "rwx"}]}, "bad mode specified: rwx"),
    ({"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "rr"}]}, "bad mode specified: rr"),
    ({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "xnull"}]}, "xnull is not an absolute path"),
    ({"Devices": [{"PathOnHost": "/dev/nosuchdevice"}]},
     'error gathering device information while adding custom device "/dev/nosuchdevice": no such file'),
    ({"Devices": [{"PathOnHost": "/etc/hostname"}]},
     'error gathering device information while adding custom device "/etc/hostname": not a device node'),
    ({"Devices": [{}]}, "error gathering device information"),
    ({"DeviceCgroupRules": "c 1:3 rwm"}, "HostConfig.DeviceCgroupRules must be a list of strings"),
    ({"DeviceCgroupRules": [7]}, "HostConfig.DeviceCgroupRules must be a list of strings"),
    ({"DeviceCgroupRules": ["c 1:3 rwx"]}, "invalid device cgroup rule format: 'c 1:3 rwx'"),
    ({"Privileged": True, "DeviceCgroupRules": ["nope"]}, "invalid device cgroup rule format"),
])
def test_bundle_refuses_bad_device_settings(host, message):
    with pytest.raises(errors.BadParameter, match=message):
        bundle.devices(host)
