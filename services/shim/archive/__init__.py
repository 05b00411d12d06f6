"""docker cp: a short-lived helper the supervisor spawns per copy (`python -m
services.shim.archive`), which enters the container's root before it resolves any path.

    view      entering the root: a running container's mount namespace, or a stopped
              one's overlay and binds mounted in a namespace of its own; sealing imports
    paths     Docker's path rules and stat shapes (pure)
    ops       stat, archive and extract, once inside
    __main__  the command line, and errors as one JSON line
"""
