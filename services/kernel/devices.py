"""A container's device rules: Docker's defaults, and how the kernel is told them.

The rules are the OCI `linux.resources.devices` list, applied in order with the devices
cgroup's own semantics: a rule of type "a" resets to allow-all or deny-all; any other is
an exception to that default for one type (b, c) and major:minor (-1: any), with access
letters r (read), w (write), m (mknod). On cgroup v1 they are written to the cgroup's
`devices.deny` / `devices.allow` as they are; on cgroup v2 they become one
BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup's directory, which answers
each open or mknod the way the v1 controller would.

Everything down to `program()` is pure, so unit tests can run the rules and the program.
"""

from __future__ import annotations

import ctypes
import os
import re
import struct
from dataclasses import dataclass

from .syscalls import SYS, Syscalls

ANY = -1
MAX_NUMBER = 0x7FFFFFFF   # what one eBPF immediate holds (the kernel's are 12 and 20 bits)
ACCESS_BITS = {"m": 1, "r": 2, "w": 4}   # BPF_DEVCG_ACC_*, the same bits as v1's ACC_*
TYPE_CODES = {"b": 1, "c": 2}             # BPF_DEVCG_DEV_*


@dataclass(frozen=True)
class Rule:
    allow: bool
    type: str = "a"        # "a", "b" or "c"
    major: int = ANY
    minor: int = ANY
    access: str = "rwm"

    def text(self) -> str:
        """The rule as the v1 files and `--device-cgroup-rule` write it."""
        return f"{self.type} {_number(self.major)}:{_number(self.minor)} {self.access}"


def _number(n: int) -> str:
    return "*" if n == ANY else str(n)


# Docker's default spec (deny all; null, zero, urandom, random, tty, console) with the
# devices runc adds to every container after it (mknod of any char or block device, full,
# ptmx, /dev/pts/*, and tun, c 10:200: runc 1.2.0 dropped it and 1.2.4 put it back).
# Docker's explicit deny of fuse (c 10:229) comes after deny-all and changes nothing, so
# it is left out.
DEFAULT_RULES = (
    Rule(False),
    Rule(True, "c", ANY, ANY, "m"),
    Rule(True, "b", ANY, ANY, "m"),
    *(Rule(True, "c", major, minor, "rwm") for major, minor in
      ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, ANY), (10, 200))),
)
ALLOW_ALL = (Rule(True),)

_CGROUP_RULE = re.compile(r"([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})")


def valid_access(access: str) -> bool:
    """r, w and m, each at most once, at least one (as Docker checks CgroupPermissions)."""
    return bool(access) and set(access) <= set(ACCESS_BITS) and len(set(access)) == len(access)


def parse(text: str) -> Rule:
    """One of HostConfig.DeviceCgroupRules ("c 1:3 rwm", "b 8:* r", "a"): an allow rule.
    ValueError, in Docker's words, for anything else."""
    match = _CGROUP_RULE.fullmatch("a *:* rwm" if text == "a" else text)
    if match is None or not valid_access(match[4]):
        raise ValueError(f"invalid device cgroup rule format: '{text}'")
    kind, major, minor, access = match.groups()
    numbers = [ANY if n == "*" else int(n) for n in (major, minor)]
    if any(n > MAX_NUMBER for n in numbers):
        raise ValueError(f"invalid device cgroup rule format: '{text}'")
    return Rule(True, kind, numbers[0], numbers[1], access)


def to_oci(rule: Rule) -> dict:
    """An entry of the OCI spec's linux.resources.devices (a wildcard number is left out)."""
    entry: dict = {"allow": rule.allow, "type": rule.type}
    if rule.major != ANY:
        entry["major"] = rule.major
    if rule.minor != ANY:
        entry["minor"] = rule.minor
    entry["access"] = rule.access
    return entry


def from_oci(entries: list) -> list[Rule]:
    """linux.resources.devices read back; ValueError names the entry that is not one."""
    if not isinstance(entries, list):
        raise ValueError("linux.resources.devices must be a list")
    rules = []
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("allow"), bool):
            raise ValueError(f"linux.resources.devices[{number}] needs a boolean 'allow'")
        kind = entry.get("type") or "a"
        access = entry.get("access") or "rwm"
        numbers = [entry.get("major", ANY), entry.get("minor", ANY)]
        numbers = [ANY if n is None else n for n in numbers]
        if (kind not in ("a", "b", "c") or not isinstance(access, str) or not valid_access(access)
                or any(isinstance(n, bool) or not isinstance(n, int) or not ANY <= n <= MAX_NUMBER
                       for n in numbers)):
            raise ValueError(f"linux.resources.devices[{number}] is not a device rule: {entry!r}")
        rules.append(Rule(entry["allow"], kind, numbers[0], numbers[1], access))
    return rules


def _bits(access: str) -> int:
    return sum(ACCESS_BITS[c] for c in set(access))


def _letters(bits: int) -> str:
    return "".join(c for c in "rwm" if bits & ACCESS_BITS[c])


def reduce(rules: list[Rule]) -> tuple[bool, list[Rule]]:
    """The default and the exceptions the v1 controller holds after `rules` are written, in
    a fresh cgroup below an allow-all parent (the kernel's dev_exception_add/_rm)."""
    default_allow = True
    exceptions: dict[tuple[str, int, int], int] = {}
    for rule in rules:
        if rule.type == "a":  # the kernel ignores the numbers and access of an "a" rule
            default_allow, exceptions = rule.allow, {}
            continue
        key = (rule.type, rule.major, rule.minor)
        if rule.allow != default_allow:
            exceptions[key] = exceptions.get(key, 0) | _bits(rule.access)
        elif key in exceptions:
            exceptions[key] &= ~_bits(rule.access)
            if not exceptions[key]:
                del exceptions[key]
    return default_allow, [Rule(not default_allow, t, major, minor, _letters(bits))
                           for (t, major, minor), bits in exceptions.items()]


def v1_lines(rules: list[Rule]) -> list[tuple[str, str]]:
    """(file, line) to write, in order, to a v1 devices cgroup."""
    return [("devices.allow" if r.allow else "devices.deny", "a" if r.type == "a" else r.text())
            for r in rules]


def decide(rules: list[Rule], kind: str, major: int, minor: int, access: str) -> bool:
    """What the v1 controller answers for one access (its match_exception and
    match_exception_partial): the reference the BPF program is tested against."""
    default_allow, exceptions = reduce(rules)
    wanted = _bits(access)
    for ex in exceptions:
        if ex.type != kind or ex.major not in (ANY, major) or ex.minor not in (ANY, minor):
            continue
        if default_allow and wanted & _bits(ex.access):
            return False       # a deny exception refuses any access it names
        if not default_allow and not wanted & ~_bits(ex.access):
            return True        # an allow exception must cover every access asked for
    return default_allow


# eBPF: the instructions the program uses (linux/bpf.h, linux/bpf_common.h).
LDX_MEM_W = 0x61   # BPF_LDX | BPF_MEM | BPF_W:  dst = *(u32 *)(src + off)
ALU_AND_K = 0x54   # BPF_ALU | BPF_AND | BPF_K:  dst32 &= imm
ALU_RSH_K = 0x74   # BPF_ALU | BPF_RSH | BPF_K:  dst32 >>= imm
ALU_MOV_X = 0xBC   # BPF_ALU | BPF_MOV | BPF_X:  dst32 = src32
ALU64_MOV_K = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K: dst = imm
JMP_JNE_K = 0x55   # if dst != imm: pc += off
JMP_JEQ_K = 0x15   # if dst == imm: pc += off
JMP_JSET_K = 0x45  # if dst & imm: pc += off
JMP_EXIT = 0x95
R0, R1, R2, R3, R4, R5 = range(6)


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def program(rules: list[Rule]) -> bytes:
    """A BPF_PROG_TYPE_CGROUP_DEVICE program that answers as the v1 controller would.

    Its context is struct bpf_cgroup_dev_ctx {u32 access_type (access << 16 | type);
    u32 major; u32 minor}; it returns 1 to allow, 0 to refuse (EPERM)."""
    default_allow, exceptions = reduce(rules)
    code = [
        _insn(LDX_MEM_W, R2, R1, 0),      # r2 = access_type
        _insn(ALU_MOV_X, R3, R2),         # r3 = access_type >> 16: the access asked for
        _insn(ALU_RSH_K, R3, imm=16),
        _insn(ALU_AND_K, R2, imm=0xFFFF),  # r2 = the device type
        _insn(LDX_MEM_W, R4, R1, 4),      # r4 = major
        _insn(LDX_MEM_W, R5, R1, 8),      # r5 = minor
    ]
    for ex in exceptions:
        # A block per exception; a tuple is a jump to the next block (if it does not match).
        block: list = [(JMP_JNE_K, R2, TYPE_CODES[ex.type])]
        if ex.major != ANY:
            block.append((JMP_JNE_K, R4, ex.major))
        if ex.minor != ANY:
            block.append((JMP_JNE_K, R5, ex.minor))
        bits = _bits(ex.access)
        if default_allow:    # a deny exception: it matches if any access asked for is in it
            block += [_insn(ALU_MOV_X, R1, R3), _insn(ALU_AND_K, R1, imm=bits), (JMP_JEQ_K, R1, 0)]
        elif 7 & ~bits:      # an allow exception: it matches if all asked for is in it
            block.append((JMP_JSET_K, R3, 7 & ~bits))
        block += [_insn(ALU64_MOV_K, R0, imm=int(ex.allow)), _insn(JMP_EXIT)]
        for number, item in enumerate(block):
            if isinstance(item, tuple):
                op, reg, imm = item
                item = _insn(op, reg, off=len(block) - number - 1, imm=imm)
            code.append(item)
    code += [_insn(ALU64_MOV_K, R0, imm=int(default_allow)), _insn(JMP_EXIT)]
    return b"".join(code)


# The kernel side: v1 files, and loading and attaching the v2 program.

def apply_v1(directory: str, rules: list[Rule]) -> None:
    """Write `rules` to the v1 devices cgroup `directory` (before anything joins it)."""
    for name, line in v1_lines(rules):
        with open(os.path.join(directory, name), "w") as fh:
            fh.write(line)


BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2


def load(code: bytes, kernel: Syscalls = SYS) -> int:
    """BPF_PROG_LOAD the device program `code`; its fd."""
    insns = ctypes.create_string_buffer(code, len(code))
    license = ctypes.create_string_buffer(b"Apache")
    log = ctypes.create_string_buffer(65536)
    # union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level,
    # log_size, log_buf, kern_version, prog_flags, prog_name[16]; zeros after.
    attr = struct.pack("=IIQQIIQII16s", BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8,
                       ctypes.addressof(insns), ctypes.addressof(license), 1, len(log),
                       ctypes.addressof(log), 0, 0, b"dockyard_dev")
    try:
        return kernel.bpf(BPF_PROG_LOAD, attr.ljust(128, b"\0"), "loading the device program")
    except OSError as exc:
        verifier = log.value.decode(errors="replace").strip()
        raise OSError(exc.errno, f"{exc.strerror}{': ' + verifier if verifier else ''}") from None


def attach(directory: str, prog_fd: int, kernel: Syscalls = SYS) -> None:
    """BPF_PROG_ATTACH the program to the cgroup v2 `directory`, beside any others there."""
    cgroup_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # target_fd, attach_bpf_fd, attach_type, attach_flags, replace_bpf_fd
        attr = struct.pack("=IIIII", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, 0)
        kernel.bpf(BPF_PROG_ATTACH, attr.ljust(64, b"\0"), "attaching the device program")
    finally:
        os.close(cgroup_fd)


def apply_v2(directory: str, rules: list[Rule], kernel: Syscalls = SYS) -> None:
    """Attach the program of `rules` to the cgroup v2 `directory` (none for no rules: a
    cgroup with no program allows every device, as a v1 cgroup with no rule does)."""
    if not rules:
        return
    fd = load(program(rules), kernel)
    try:
        attach(directory, fd, kernel)
    finally:
        os.close(fd)   # the cgroup holds the program now
