"""``flowvault simulator``: serve the built-in API simulator on 127.0.0.1 for trying flowvault.
The one action (with the demo) that imports the simulator; the simulator imports nothing of ours."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError


def serve(*, companies: int, empty_companies: int, flows: int, versions: int, ocp_flows: int, seed: int,
          port: int, rate_limit: float, latency: float, error_rate: float, drop_rate: float,
          dialect: str = "flat", replay: Path | None = None, echo: Callable[[str], None] = print) -> None:
    from ..simulator import Faults, Simulator, SimulatorServer, generate
    from ..simulator.replay import Replay, ReplayError

    try:
        shapes = Replay.load(replay.read_bytes(), str(replay)) if replay is not None else None
    except OSError as e:
        raise UsageError(f"{replay}: cannot read the recording ({e.strerror or e})") from None
    except ReplayError as e:
        raise UsageError(str(e)) from None

    state = generate(seed=seed, companies=companies, flows=flows, versions=versions,
                     empty_companies=empty_companies, ocp_flows=ocp_flows)
    state.dialect = dialect
    faults = Faults(rate_limit=rate_limit, latency=latency, error_rate=error_rate, drop_rate=drop_rate, seed=seed)
    sim = Simulator(state, faults)
    sim.replay = shapes
    try:
        server = SimulatorServer(sim, port=port)
    except OSError as e:
        raise UsageError(f"cannot listen on 127.0.0.1:{port} ({e.strerror or e}); "
                         "choose another --port (0 picks a free one)") from None
    echo(f"flowvault simulator on {server.url}  (Ctrl-C to stop)"
         + (f"; replies shaped as recorded in {replay}" if replay is not None else ""))
    for c in state.companies:
        echo(f"  {c.name}: {len(c.flows)} flows, API key {c.api_key}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
