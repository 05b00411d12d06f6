"""The seccomp compiler, run on a small classic-BPF interpreter: what the default profile lets through."""

import errno
import struct

import pytest

from services.kernel import seccomp

X86_64, I386 = seccomp.AUDIT_ARCH["SCMP_ARCH_X86_64"], seccomp.AUDIT_ARCH["SCMP_ARCH_X86"]
ALLOW = "allow"


def run(program: bytes, arch: int, nr: int, *args: int) -> object:
    """What the filter answers for a call: ALLOW, or the errno it returns."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    a, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == seccomp.BPF_LD_W_ABS:
            a = struct.unpack_from("=I", data, k)[0]
        elif code == seccomp.BPF_ALU_AND_K:
            a &= k
        elif code == seccomp.BPF_JMP_JA:
            pc += k
        elif code == seccomp.BPF_JMP_JEQ_K:
            pc += jt if a == k else jf
        elif code == seccomp.BPF_JMP_JGE_K:
            pc += jt if a >= k else jf
        elif code == seccomp.BPF_RET_K:
            if k == seccomp.RET_ALLOW:
                return ALLOW
            assert k & 0xFFFF0000 == seccomp.RET_ERRNO
            return k & 0xFFFF
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


def nr(name: str, arch: int = X86_64) -> int:
    return seccomp.SYSCALLS[name][0 if arch == X86_64 else 1]


DEFAULT = seccomp.compile_profile(seccomp.default_profile({"CAP_CHOWN", "CAP_NET_BIND_SERVICE"}))


@pytest.mark.parametrize("arch", [X86_64, I386])
@pytest.mark.parametrize("name", ["keyctl", "add_key", "unshare", "mount", "setns", "bpf", "reboot",
                                  "init_module", "userfaultfd", "perf_event_open", "pivot_root"])
def test_default_refuses_the_significant_syscalls_on_both_abis(arch, name):
    assert run(DEFAULT, arch, nr(name, arch)) == errno.EPERM


@pytest.mark.parametrize("arch", [X86_64, I386])
def test_default_allows_ordinary_calls(arch):
    for number in (0, 1, 2, 3, 59 if arch == X86_64 else 11, 231 if arch == X86_64 else 252):
        assert run(DEFAULT, arch, number) == ALLOW


def test_clone_with_a_namespace_flag_is_refused_and_clone3_is_unknown():
    sigchld = 17
    assert run(DEFAULT, X86_64, nr("clone"), sigchld) == ALLOW
    assert run(DEFAULT, X86_64, nr("clone"), 0x003D0F00) == ALLOW  # what pthread_create passes
    for flag in seccomp.CLONE_NAMESPACE_FLAGS:
        assert run(DEFAULT, X86_64, nr("clone"), sigchld | flag) == errno.EPERM
        assert run(DEFAULT, I386, nr("clone", I386), sigchld | flag) == errno.EPERM
    assert run(DEFAULT, X86_64, nr("clone3")) == errno.ENOSYS


def test_vsock_and_personality():
    assert run(DEFAULT, X86_64, nr("socket"), seccomp.AF_VSOCK) == errno.EPERM
    assert run(DEFAULT, X86_64, nr("socket"), 2) == ALLOW  # AF_INET
    for persona in seccomp.PERSONAS:
        assert run(DEFAULT, X86_64, nr("personality"), persona) == ALLOW
    assert run(DEFAULT, X86_64, nr("personality"), 0x0040000) == errno.EPERM  # ADDR_NO_RANDOMIZE


def test_x32_and_unknown_architectures_are_refused():
    assert run(DEFAULT, X86_64, seccomp.X32_BIT | 0) == errno.EPERM
    assert run(DEFAULT, 0xC00000B7, 0) == errno.EPERM  # aarch64


def test_capabilities_open_what_they_gate():
    admin = seccomp.compile_profile(seccomp.default_profile({"CAP_SYS_ADMIN"}))
    assert run(admin, X86_64, nr("mount")) == ALLOW
    assert run(admin, X86_64, nr("clone"), 0x10000000 | 17) == ALLOW
    assert run(admin, X86_64, nr("keyctl")) == errno.EPERM  # never
    assert run(admin, X86_64, nr("reboot")) == errno.EPERM  # CAP_SYS_BOOT's
    boot = seccomp.compile_profile(seccomp.default_profile({"CAP_SYS_BOOT"}))
    assert run(boot, X86_64, nr("reboot")) == ALLOW


def test_an_allowlist_profile_compiles():
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.ENOSYS,
               "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW"}]}
    program = seccomp.compile_profile(profile)
    assert run(program, X86_64, nr("socket")) == ALLOW
    assert run(program, X86_64, 0) == errno.ENOSYS


@pytest.mark.parametrize("profile, message", [
    ([], "must be an object"),
    ({"defaultAction": "SCMP_ACT_KILL"}, "not supported"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_ARM"]}, "architecture"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["nope"], "action": "SCMP_ACT_ERRNO"}]},
     "unknown syscall"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO",
                                                       "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "index"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO",
                                                       "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_GT"}]}]},
     "comparison"),
])
def test_profiles_it_cannot_take_are_refused(profile, message):
    with pytest.raises(seccomp.ProfileError, match=message):
        seccomp.compile_profile(profile)
