"""Remote API v1.0 shapes, exactly the keys the spec shows (extra keys allowed, none dropped)."""

from __future__ import annotations


def version(rec: dict) -> dict:
    return {
        "Version": rec["version"],
        "GitCommit": rec["git_commit"],
        "GoVersion": rec["go_version"],
        # Not in v1.0, but clients negotiate with these on the unprefixed path.
        "ApiVersion": rec["api_version"],
        "MinAPIVersion": rec["min_api_version"],
        "Os": rec["os"],
        "Arch": rec["arch"],
        "KernelVersion": rec["kernel_version"],
    }


def info(rec: dict) -> dict:
    return {
        "Containers": rec["containers"],
        "Images": rec["images"],
        "Debug": rec["debug"],
        "NFd": rec["nfd"],
        "NGoroutines": rec["ngoroutines"],
        "MemoryLimit": rec["memory_limit"],
        "SwapLimit": rec["swap_limit"],
    }
