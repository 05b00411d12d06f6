"""The kernel's one room: raw syscalls and ioctls, capabilities, seccomp, cgroups, netns.

Every call the project makes to the kernel past Python's os module goes through
`syscalls.SYS` (an instance of `syscalls.Syscalls`), so a unit test can put a
`fake.RecordingSyscalls` in its place. Only the supervisor and the shim import this
package; it imports nothing of theirs (services.common at most).
"""
