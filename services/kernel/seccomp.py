"""Seccomp for containers: Docker's default filter as an OCI `linux.seccomp` profile, and a
compiler of such profiles to the classic BPF program the kernel runs at each syscall.

The default profile allows what it does not name and refuses, with EPERM, the syscalls
Docker's documentation lists as significant blocked ones (kernel keyrings, modules,
clocks, mounts, namespaces, bpf, perf, userfaultfd...), some of them unless the container
has the capability they need; `clone` with a namespace flag; `clone3` with ENOSYS, so
that libc falls back to `clone`, whose flags a filter can see; AF_VSOCK sockets; and
`personality` but for the personas Docker allows. Both ABIs of x86-64 are filtered
(a 64-bit filter alone is bypassed through int 0x80); x32 calls and other
architectures are refused outright. (A 32-bit program can still open an AF_VSOCK
socket through socketcall, whose arguments a filter cannot see, as under Docker.)

The compiler takes the subset of the OCI profile format this needs: default and rule
actions SCMP_ACT_ALLOW and SCMP_ACT_ERRNO, and argument conditions SCMP_CMP_EQ,
SCMP_CMP_NE and SCMP_CMP_MASKED_EQ on the low 32 bits of an argument, all of a rule's
conditions to hold.
"""

from __future__ import annotations

import errno
import platform
import struct

# name: (x86_64 number, i386 number); None where that ABI has no such call.
SYSCALLS: dict[str, tuple[int | None, int | None]] = {
    "acct": (163, 51), "add_key": (248, 286), "bpf": (321, 357), "clock_adjtime": (305, 343),
    "clock_adjtime64": (None, 405), "clock_settime": (227, 264), "clock_settime64": (None, 404),
    "clone": (56, 120), "clone3": (435, 435), "create_module": (174, 127), "delete_module": (176, 129),
    "finit_module": (313, 350), "fsconfig": (431, 431), "fsmount": (432, 432), "fsopen": (430, 430),
    "fspick": (433, 433), "get_kernel_syms": (177, 130), "init_module": (175, 128),
    "ioperm": (173, 101), "iopl": (172, 110), "kcmp": (312, 349), "kexec_file_load": (320, None),
    "kexec_load": (246, 283), "keyctl": (250, 288), "lookup_dcookie": (212, 253), "mount": (165, 21),
    "mount_setattr": (442, 442), "move_mount": (429, 429), "name_to_handle_at": (303, 341),
    "nfsservctl": (180, 169), "open_by_handle_at": (304, 342), "open_tree": (428, 428),
    "perf_event_open": (298, 336), "personality": (135, 136), "pivot_root": (155, 217),
    "query_module": (178, 167), "quotactl": (179, 131), "reboot": (169, 88), "request_key": (249, 287),
    "setns": (308, 346), "settimeofday": (164, 79), "socket": (41, 359), "stime": (None, 25),
    "swapoff": (168, 115), "swapon": (167, 87), "sysfs": (139, 135), "_sysctl": (156, 149),
    "umount": (None, 22), "umount2": (166, 52), "unshare": (272, 310), "uselib": (134, 86),
    "userfaultfd": (323, 374), "ustat": (136, 62), "vm86": (None, 166), "vm86old": (None, 113),
}

# Refused unless the container has the capability (None: always), as in Docker's profile.
BLOCKED: dict[str | None, tuple[str, ...]] = {
    None: ("add_key", "keyctl", "request_key", "create_module", "get_kernel_syms", "query_module",
           "nfsservctl", "uselib", "ustat", "sysfs", "_sysctl", "userfaultfd", "vm86", "vm86old"),
    "CAP_SYS_ADMIN": ("bpf", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie", "mount",
                      "mount_setattr", "move_mount", "name_to_handle_at", "open_tree",
                      "perf_event_open", "pivot_root", "quotactl", "setns", "swapoff", "swapon",
                      "umount", "umount2", "unshare"),
    "CAP_SYS_MODULE": ("delete_module", "finit_module", "init_module"),
    "CAP_SYS_BOOT": ("kexec_file_load", "kexec_load", "reboot"),
    "CAP_SYS_PACCT": ("acct",),
    "CAP_SYS_PTRACE": ("kcmp",),
    "CAP_SYS_RAWIO": ("ioperm", "iopl"),
    "CAP_SYS_TIME": ("clock_adjtime", "clock_adjtime64", "clock_settime", "clock_settime64",
                     "settimeofday", "stime"),
    "CAP_DAC_READ_SEARCH": ("open_by_handle_at",),
}
# clone's namespace flags: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                         0x40000000)
AF_VSOCK = 40
# linux, and its UNAME26, PER_LINUX32 and query forms: what Docker lets personality() set.
PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

AUDIT_ARCH = {"SCMP_ARCH_X86_64": 0xC000003E, "SCMP_ARCH_X86": 0x40000003}
_ABI = {"SCMP_ARCH_X86_64": 0, "SCMP_ARCH_X86": 1}  # the column of SYSCALLS
X32_BIT = 0x40000000

# Classic BPF and seccomp constants (linux/filter.h, linux/seccomp.h).
BPF_LD_W_ABS = 0x20
BPF_ALU_AND_K = 0x54
BPF_JMP_JA = 0x05
BPF_JMP_JEQ_K = 0x15
BPF_JMP_JGE_K = 0x35
BPF_RET_K = 0x06
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
OFFSET_NR, OFFSET_ARCH = 0, 4


class ProfileError(Exception):
    """A seccomp profile this compiler cannot take; the message says what."""


def supported() -> bool:
    """Whether this host's architecture is one the default profile covers."""
    return platform.machine() == "x86_64"


def default_profile(capabilities: set[str]) -> dict:
    """Docker's default filter for a container with `capabilities`, as an OCI profile."""
    eperm = {"action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM}
    blocked = sorted(name for cap, names in BLOCKED.items() if cap not in capabilities for name in names)
    rules = [{"names": blocked, **eperm}]
    if "CAP_SYS_ADMIN" not in capabilities:
        rules += [{"names": ["clone"], **eperm,
                   "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}]}
                  for flag in CLONE_NAMESPACE_FLAGS]
        rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS})
    rules.append({"names": ["socket"], **eperm,
                  "args": [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_EQ"}]})
    rules.append({"names": ["personality"], **eperm,
                  "args": [{"index": 0, "value": p, "op": "SCMP_CMP_NE"} for p in PERSONAS]})
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": list(AUDIT_ARCH), "syscalls": rules}


def _ins(code: int, k: int = 0, jt: int = 0, jf: int = 0) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def _action(rule: dict) -> int:
    action = rule.get("action")
    if action == "SCMP_ACT_ALLOW":
        return RET_ALLOW
    if action == "SCMP_ACT_ERRNO":
        number = rule.get("errnoRet", errno.EPERM)
        if not isinstance(number, int) or not 0 <= number < 4096:
            raise ProfileError(f"errnoRet {number!r} is not an errno")
        return RET_ERRNO | number
    raise ProfileError(f"seccomp action {action!r} is not supported (SCMP_ACT_ALLOW or SCMP_ACT_ERRNO)")


def _conditions(args: list) -> list[tuple[int, int, str]]:
    out = []
    for cond in args:
        if not isinstance(cond, dict):
            raise ProfileError("a seccomp argument condition must be an object")
        index, value, op = cond.get("index"), cond.get("value"), cond.get("op")
        if not isinstance(index, int) or not 0 <= index < 6:
            raise ProfileError(f"seccomp argument index {index!r} is not 0 to 5")
        if not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
            raise ProfileError(f"seccomp argument value {value!r} must fit in 32 bits")
        if op == "SCMP_CMP_MASKED_EQ":
            two = cond.get("valueTwo", 0)
            if not isinstance(two, int) or not 0 <= two <= 0xFFFFFFFF:
                raise ProfileError(f"seccomp valueTwo {two!r} must fit in 32 bits")
            out.append((index, value, f"masked:{two}"))
        elif op in ("SCMP_CMP_EQ", "SCMP_CMP_NE"):
            out.append((index, value, op))
        else:
            raise ProfileError(f"seccomp comparison {op!r} is not supported")
    return out


def _rule_block(nr: int, conditions: list[tuple[int, int, str]], ret: int) -> list:
    """Instructions that, with the syscall number in A, return `ret` when the call is `nr`
    and every condition holds, and otherwise go on after themselves with A unchanged."""
    if not conditions:
        body = [_ins(BPF_RET_K, ret)]
        return [_ins(BPF_JMP_JEQ_K, nr, 0, len(body))] + body
    body: list = []
    fails: list[int] = []  # indexes of jumps to the reload at the end
    for index, value, op in conditions:
        body.append(_ins(BPF_LD_W_ABS, 16 + 8 * index))  # the low half: x86 is little-endian
        if op.startswith("masked:"):
            body.append(_ins(BPF_ALU_AND_K, value))
            value, op = int(op.split(":")[1]), "SCMP_CMP_EQ"
        fails.append(len(body))
        body.append((BPF_JMP_JEQ_K, value, op))
    body.append(_ins(BPF_RET_K, ret))
    reload = len(body)
    body.append(_ins(BPF_LD_W_ABS, OFFSET_NR))
    for i in fails:
        _, value, op = body[i]
        skip = reload - (i + 1)
        body[i] = _ins(BPF_JMP_JEQ_K, value, 0, skip) if op == "SCMP_CMP_EQ" else _ins(BPF_JMP_JEQ_K, value, skip, 0)
    return [_ins(BPF_JMP_JEQ_K, nr, 0, len(body))] + body


def compile_profile(profile: dict) -> bytes:
    """The BPF program (an array of struct sock_filter) of an OCI seccomp profile."""
    if not isinstance(profile, dict):
        raise ProfileError("a seccomp profile must be an object")
    default = _action({"action": profile.get("defaultAction"), "errnoRet": profile.get("defaultErrnoRet", 1)})
    arches = profile.get("architectures") or list(AUDIT_ARCH)
    rules = profile.get("syscalls") or []
    program = [_ins(BPF_LD_W_ABS, OFFSET_ARCH)]
    for arch in arches:
        if arch not in AUDIT_ARCH:
            raise ProfileError(f"seccomp architecture {arch!r} is not supported")
        section = [_ins(BPF_LD_W_ABS, OFFSET_NR)]
        if arch == "SCMP_ARCH_X86_64":
            section += [_ins(BPF_JMP_JGE_K, X32_BIT, 0, 1), _ins(BPF_RET_K, RET_ERRNO | errno.EPERM)]
        for rule in rules:
            if not isinstance(rule, dict) or not isinstance(rule.get("names"), list):
                raise ProfileError("a seccomp rule must be an object with a list of names")
            ret, conditions = _action(rule), _conditions(rule.get("args") or [])
            for name in rule["names"]:
                if name not in SYSCALLS:
                    raise ProfileError(f"seccomp rule names an unknown syscall {name!r}")
                nr = SYSCALLS[name][_ABI[arch]]
                if nr is not None:
                    section += _rule_block(nr, conditions, ret)
        section.append(_ins(BPF_RET_K, default))
        program += [_ins(BPF_JMP_JEQ_K, AUDIT_ARCH[arch], 1, 0), _ins(BPF_JMP_JA, len(section))] + section
    program.append(_ins(BPF_RET_K, RET_ERRNO | errno.EPERM))  # an architecture not listed
    if len(program) > 4096:
        raise ProfileError("the seccomp profile compiles to more than 4096 instructions")
    return b"".join(struct.pack("=HBBI", code, jt, jf, k) for code, jt, jf, k in program)
