"""supervisord as dockyardd runs it: its services forked from it with what they run
already loaded (services.preload), and on shutdown every service stopped at once.

supervisord stops its programs one at a time and notices each exit on its next one-second
tick, so four services took four seconds or more to stop. They do not depend on one
another for stopping (each ends its own streams, and containers live on in their shims),
so all of them are told at once and the daemon is gone within about a second.

    python -m services.supervision -c SUPERVISORD_CONF
"""

from __future__ import annotations

import sys

from services import preload

if __name__ == "__main__":
    # Before supervisord's own modules: what the shim zygote and its shims use then lies
    # together in memory, and a shim, which copies every page it writes to, copies fewer.
    preload.load()

from supervisor import options, supervisord  # noqa: E402


class Options(options.ServerOptions):
    def fork(self):
        # The interpreter's method cache holds a reference to each attribute name it last
        # looked up: a child's own lookups would let go of supervisord's, writing to (and
        # so copying) the pages those names lie in. Emptied here, that write is ours, once
        # (1.6 MiB less across the services, measured before merging).
        sys._clear_type_cache()
        return super().fork()

    def execve(self, filename, argv, env):
        """In the child supervisord forked for a program: a service runs in it, any other
        command is exec'd."""
        module = preload.module_of(filename, argv)
        if module is None:
            return super().execve(filename, argv, env)
        preload.run(module, argv[3:], env)


class Supervisor(supervisord.Supervisor):
    def ordered_stop_groups_phase_1(self) -> None:
        for group in self.stop_groups or []:
            group.stop_all()

    def ordered_stop_groups_phase_2(self) -> None:
        if self.stop_groups:
            self.stop_groups = [g for g in self.stop_groups if g.get_unstopped_processes()]


def main() -> None:
    supervisord.Supervisor = Supervisor  # what supervisord.main() builds
    supervisord.ServerOptions = Options
    supervisord.main()


if __name__ == "__main__":
    main()
