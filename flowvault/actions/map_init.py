"""``flowvault map init``: a map-file template listing every reference with its source name."""

from __future__ import annotations

from pathlib import Path

from ..archive import atomic_write
from ..errors import ConfigError, UsageError
from ..history import History
from ..importsource import load_flow
from ..models import Source
from ..plan import map_template
from ..providers import provider_for
from ..snapshots import open_snapshot


def write_map_template(archive_dir: Path | str, output: Path, *, at: str | None = None,
                       flows: tuple[str, ...] = ()) -> int:
    """Write the template (never over an existing file), from the last commit (or ``at``);
    the number of flows it covers."""
    if output.exists():
        raise UsageError(f"{output}: exists; not overwriting it (choose another --output)")
    snapshot = open_snapshot(History.open(archive_dir), at or "HEAD")
    provider = provider_for((Source.of(snapshot.manifest) or Source()).provider)
    chosen = [load_flow(snapshot, provider, fid) for fid in snapshot.select(flows)]
    try:
        atomic_write(output, map_template(chosen).encode("utf-8"))
    except OSError as e:
        raise ConfigError(f"{output}: cannot write the map file ({e.strerror or e.__class__.__name__})") from None
    return len(chosen)
