"""What every carewatch process exports besides its own figures: process and platform metrics."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, PlatformCollector, ProcessCollector


def add_process_collectors(registry: CollectorRegistry) -> CollectorRegistry:
    """Add ``process_*`` (CPU, resident memory, open files, start time) and ``python_info`` to ``registry``.

    The default registry has them already; a service with a registry of its own calls this once.
    """
    if registry is not REGISTRY:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    return registry
