"""A faithful fake of the Patchworks Core API, for tests, the demo and benchmarks.

It stands in for the vendor: nothing in it is imported by the product code.
"""

from __future__ import annotations

from .app import Faults, Gate, Simulator
from .data import api_key, generate
from .dialects import DIALECTS, FLAG_SPELLINGS
from .server import SimulatorServer
from .state import REF_FIELDS, Company, State


def start(*, seed: int = 7, companies: int = 2, flows: int = 50, versions: int = 3,
          empty_companies: int = 0, faults: Faults | None = None, port: int = 0) -> SimulatorServer:
    """Generate data and start a server on 127.0.0.1 in a background thread."""
    state = generate(seed=seed, companies=companies, flows=flows, versions=versions,
                     empty_companies=empty_companies)
    return SimulatorServer(Simulator(state, faults), port=port).start()


__all__ = [
    "DIALECTS",
    "FLAG_SPELLINGS",
    "REF_FIELDS",
    "Company",
    "Faults",
    "Gate",
    "Simulator",
    "SimulatorServer",
    "State",
    "api_key",
    "generate",
    "start",
]
