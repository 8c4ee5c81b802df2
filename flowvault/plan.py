"""Pure import planning: resolution of references, dependency order and waves, conflict
policy and names. A function of values (archived flows, the map file, the ID map of earlier
runs and the target's inventory); reading files and calling the API happen before it."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from .models import ArchivedFlow, FlowPlan, Ref
from .references import RESOURCE_TYPES

NameKey = Callable[[str], str]


@dataclass(frozen=True)
class Resolver:
    """Source ID → target ID: the map file first, then flows imported (earlier or now), then
    — into the company the archive came from — the same ID (resources, and flows that still
    exist), else a unique name match among what the target exposes."""

    explicit: dict[str, dict[int | str, int | str]]
    imported_flows: dict[str, int | str]
    by_name: dict[str, dict[str, list[int]]]
    same_company: bool = False
    target_flows: frozenset[str] = frozenset()

    def resolve(self, ref: Ref) -> int | str | None:
        hit = self.explicit.get(ref.rtype, {}).get(ref.source_id)
        if hit is not None:
            return None if self.unlisted(ref.rtype, hit) else hit
        if ref.rtype == "flow" and str(ref.source_id) in self.imported_flows:
            return self.imported_flows[str(ref.source_id)]
        if self.same_company:
            if ref.rtype != "flow" or str(ref.source_id) in self.target_flows:
                return ref.source_id
            return None
        candidates = self.by_name.get(ref.rtype, {}).get(ref.source_name or "", [])
        return candidates[0] if len(candidates) == 1 else None

    def unlisted(self, rtype: str, target: int | str) -> bool:
        """A map-file target the target company lists that type of, and not that ID."""
        if rtype == "flow":
            return bool(self.target_flows) and str(target) not in self.target_flows \
                and str(target) not in {str(v) for v in self.imported_flows.values()}
        listed = self.by_name.get(rtype)
        return listed is not None and not any(str(target) == str(i) for ids in listed.values() for i in ids)

    def why(self, ref: Ref) -> str:
        """Why a reference did not resolve, in one line."""
        hit = self.explicit.get(ref.rtype, {}).get(ref.source_id)
        if hit is not None:
            return (f"{ref.where}: the map file gives {ref.rtype} {ref.source_id} = {hit}, "
                    f"but the target has no {ref.rtype} {hit}")
        return ref.describe()


def flow_deps(flow: ArchivedFlow) -> set[str]:
    """IDs of the other flows this flow references."""
    return {str(r.source_id) for r in flow.refs if r.rtype == "flow"} - {flow.flow_id}


def deps_to_add(flow: ArchivedFlow, archived: Collection[str], chosen: set[str],
                resolver: Resolver) -> list[str]:
    """Archived flows ``flow`` references that must come along: chosen ones, and those the
    target cannot supply (not mapped, not imported, no unique name match)."""
    return sorted({str(r.source_id) for r in flow.refs
                   if r.rtype == "flow" and str(r.source_id) in archived
                   and (str(r.source_id) in chosen or resolver.resolve(r) is None)})


def dependency_order(flows: dict[str, ArchivedFlow]) -> tuple[list[str], set[tuple[str, str]]]:
    """Flows ordered so that a referenced flow comes first; the edges that close a cycle
    (referrer, referenced) are returned, to be patched after both exist."""
    deps = {fid: sorted(flow_deps(f) & set(flows)) for fid, f in flows.items()}
    order: list[str] = []
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()

    for root in sorted(flows, key=lambda x: (len(x), x)):
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(deps[root]))]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                order.append(node)
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(deps[nxt])))
    return order, back


def waves(plans: dict[str, FlowPlan]) -> list[list[FlowPlan]]:
    """Groups that can run concurrently, in order: each flow after the flows it references
    (cycle edges excluded: those are the deferred references). ``plans`` is in dependency order."""
    level: dict[str, int] = {}
    for fid, plan in plans.items():
        deps = flow_deps(plan.flow) - {str(r.source_id) for r in plan.deferred}
        level[fid] = 1 + max((level[d] for d in deps if d in level), default=-1)
    out: list[list[FlowPlan]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for fid, plan in plans.items():
        out[level[fid]].append(plan)
    return out


def plan_flow(flow: ArchivedFlow, resolver: Resolver, *, done: dict[str, int | str],
              target_names: dict[str, list[int | str]], in_run: set[str], cycle_edges: set[tuple[str, str]],
              on_conflict: str, secrets: dict[str, str], name_problem: str | None = None,
              name_key: NameKey = str) -> FlowPlan:
    """One flow's plan. ``done``: source → target of flows already imported (and still there);
    ``target_names``: name key → target flows that flowvault did not create."""
    if flow.flow_id in done:
        return FlowPlan(flow, "skip", "already imported", target_id=done[flow.flow_id])
    if name_problem:
        return FlowPlan(flow, "invalid", name_problem)
    action, reason, target_id = "create", "", None
    existing = target_names.get(name_key(flow.name), [])
    if existing:
        action = {"skip": "conflict", "rename": "rename", "replace": "replace"}[on_conflict]
        target_id = existing[0]
        reason = f"the target already has a flow named '{flow.name}' (#{existing[0]})"
        if on_conflict == "replace" and len(existing) > 1:
            action = "conflict"
            reason = (f"the target has {len(existing)} flows named '{flow.name}' "
                      f"({', '.join(f'#{i}' for i in existing)}); not choosing one to replace")
    deferred: list[Ref] = []
    unresolved: list[Ref] = []
    resolved: dict[tuple[str, int], int | str] = {}
    for ref in flow.refs:
        if ref.rtype == "flow" and str(ref.source_id) in in_run:
            if (flow.flow_id, str(ref.source_id)) in cycle_edges or str(ref.source_id) == flow.flow_id:
                deferred.append(ref)
            continue  # imported earlier in this run (dependency order): the run's map resolves it
        hit = resolver.resolve(ref)
        if hit is None:
            unresolved.append(ref)
        else:
            resolved[(ref.rtype, ref.source_id)] = hit
    return FlowPlan(
        flow, action, reason, target_id, unresolved=tuple(unresolved),
        unresolved_why=tuple(resolver.why(r) for r in unresolved), deferred=tuple(deferred),
        missing_secrets=tuple(sorted({k for k in flow.secret_keys if k not in secrets})),
        # into its own company an ID needs no classifying: it stays right
        unclassified=() if resolver.same_company else flow.unclassified, resolved=tuple(resolved.items()))


def refuse_shared_targets(plans: list[FlowPlan]) -> list[FlowPlan]:
    """``--on-conflict replace`` where several archived flows share the name of one target flow:
    each would replace the same flow (the second finds it deleted). Refuse them all, by name,
    before anything is written — the dry run shows the same."""
    by_target: dict[str, list[FlowPlan]] = {}
    for plan in plans:
        if plan.action == "replace" and plan.target_id is not None:
            by_target.setdefault(str(plan.target_id), []).append(plan)
    refused: dict[str, str] = {}
    for target, group in by_target.items():
        if len(group) < 2:
            continue
        labels = ", ".join(p.flow.label for p in group[:5]) + (f" (+{len(group) - 5} more)" if len(group) > 5 else "")
        for plan in group:
            refused[plan.flow.flow_id] = (
                f"{len(group)} archived flows would replace the same target flow #{target}: {labels}; "
                "not choosing one: import one of them with --flow, or use --on-conflict rename")
    return [replace(p, action="conflict", reason=refused[p.flow.flow_id]) if p.flow.flow_id in refused else p
            for p in plans]


def unique_name(name: str, taken: set[str], renamed: Callable[[str, int], str], name_key: NameKey = str) -> str:
    """The first of ``renamed(name, 2)``, ``renamed(name, 3)``… whose key is not taken."""
    n = 2
    while name_key(renamed(name, n)) in taken:
        n += 1
    return renamed(name, n)


def field_summary(refs: list[Ref] | tuple[Ref, ...]) -> list[tuple[str, int, list[int]]]:
    """(field path, number of steps, up to three sample values) per field, most used first."""
    steps: dict[str, set[tuple[str, int, int]]] = {}
    samples: dict[str, list[int]] = {}
    for r in refs:
        key = r.general or r.field
        steps.setdefault(key, set()).add((r.flow_id, r.iteration, r.step_index))
        if r.source_id not in samples.setdefault(key, []) and len(samples[key]) < 3:
            samples[key].append(r.source_id)
    return sorted(((k, len(v), samples[k]) for k, v in steps.items()), key=lambda t: (-t[1], t[0]))


def map_template(flows: list[ArchivedFlow]) -> str:
    """A map-file template listing every reference with its source name and where it was
    found, and every unclassified ID field, to fill in."""
    seen: dict[str, dict[int, tuple[str | None, set[str], set[str]]]] = {}
    keys: set[str] = set()
    unclassified: list[Ref] = []
    for f in flows:
        for r in f.refs:
            _name, users, fields = seen.setdefault(r.rtype, {}).setdefault(r.source_id, (r.source_name, set(), set()))
            users.add(f.flow_id)
            fields.add(r.general or r.field)
        keys.update(f.secret_keys)
        unclassified += f.unclassified
    lines = ["# flowvault map file: source ID = target ID, per resource type.",
             "# Uncomment a line and put the ID the resource has in the target company.",
             "# References not listed here are matched by name where the target exposes them.", ""]
    for rtype in RESOURCE_TYPES:
        if rtype not in seen:
            continue
        lines.append(f"[{rtype}]")
        for sid in sorted(seen[rtype]):
            name, users, fields = seen[rtype][sid]
            lines.append(f"# {sid} = ?    # {json.dumps(name or '(unknown name)', ensure_ascii=False)}, "
                         f"used by {len(users)} flow(s), in {', '.join(sorted(fields))}")
        lines.append("")
    if unclassified:
        lines += ["[references]  # ID fields no rule classifies: the import refuses their flows until you say",
                  "# what each one is: a resource type above, \"none\" (not a reference) or \"keep\" (same ID",
                  "# in the target). A key is a field name or a dotted path as listed."]
        for fld, count, sample in field_summary(unclassified):
            lines.append(f'# "{fld}" = "?"    # in {count} step(s), e.g. {", ".join(map(str, sample))}')
        lines.append("")
    if keys:
        lines.append("[secrets]  # values of secret variables redacted at export (or env FLOWVAULT_SECRET_<KEY>)")
        lines += [f'# {k} = ""' for k in sorted(keys)]
        lines.append("")
    return "\n".join(lines)
