"""Shared routing state (in-flight counts, latencies, usage windows, cooldowns) behind one
small async interface: in memory today, Redis for several replicas later."""

from proxy.state.base import Clock, StateStore, SystemClock
from proxy.state.memory import MemoryState

__all__ = ["Clock", "MemoryState", "StateStore", "SystemClock"]
