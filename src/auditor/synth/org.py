"""The synthetic organisation: director, VPs, regions, branches, managers, reps and partners."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from auditor.synth.context import Context, add_months

FIRST_NAMES = (
    "Alice", "Ben", "Chloe", "Daniel", "Emma", "Farid", "Grace", "Hugo", "Isla", "James",
    "Karin", "Liam", "Maya", "Noah", "Olivia", "Pavel", "Quinn", "Rosa", "Samir", "Tara",
    "Umar", "Vera", "William", "Ximena", "Yusuf", "Zoe", "Anika", "Bruno", "Carmen", "Dmitri",
    "Elena", "Felix", "Greta", "Hannah", "Ivan", "Julia", "Kofi", "Lena", "Marco", "Nadia",
)  # fmt: skip
LAST_NAMES = (
    "Anderson", "Brennan", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad",
    "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov",
    "Quinlan", "Rossi", "Schmidt", "Tanaka", "Umarov", "Varga", "Wagner", "Xu", "Yilmaz",
    "Zimmermann", "Barros", "Novak", "Hughes", "Larsen",
)  # fmt: skip
PARTNER_NAMES = (
    "Northstar Solutions Ltd", "Bluebridge Resellers", "Meridian Channel Partners",
    "Keystone Distribution", "Harbour Point Trading", "Summit Retail Group",
)  # fmt: skip
REGION_BRANCHES = {
    "North": ("Leeds", "Newcastle"),
    "South": ("Brighton", "Southampton"),
    "East": ("Norwich", "Cambridge"),
    "West": ("Bristol", "Exeter"),
}

# Rep lifecycles that exercise the coaching rule's population edges.
STAYER = "stayer"
JOINS_FIRST = "joins_on_first"  # joins on the 1st: judged that very month
JOINS_MID = "joins_mid_month"  # joins on the 2nd: not judged that month
JOINS_LATER = "joins_later"  # joins on a random workday inside the window (new-joiner rules)
LEAVES_MID = "leaves_mid_month"  # leaves before the last day: not judged that month
LEAVES_LAST = "leaves_on_last_day"  # leaves on the last day: still judged that month
LEFT_BEFORE = "left_before_window"  # gone before the window: never judged


@dataclass
class Member:
    """One person of the roster."""

    id: str
    name: str
    role: str
    manager_id: str | None
    region: str | None
    branch: str | None
    joined_on: date
    left_on: date | None = None
    lifecycle: str = STAYER

    def active_on(self, day: date) -> bool:
        """Employed on `day` (joined on or before it, not yet left)."""
        return self.joined_on <= day and (self.left_on is None or day <= self.left_on)

    def judged_in(self, first: date, last: date) -> bool:
        """Employed for the whole period [first, last] (the coaching rule's population test)."""
        return self.joined_on <= first and (self.left_on is None or self.left_on >= last)


@dataclass
class Org:
    """The roster and its structure."""

    members: list[Member] = field(default_factory=list)
    branches: list[tuple[str, str]] = field(default_factory=list)

    def by_role(self, *roles: str) -> list[Member]:
        """Members with one of `roles`, in roster order."""
        return [m for m in self.members if m.role in roles]

    @property
    def reps(self) -> list[Member]:
        return self.by_role("sales_person")

    @property
    def partners(self) -> list[Member]:
        return self.by_role("partner")

    @property
    def team_leads(self) -> list[Member]:
        """The first-line managers who coach reps."""
        return self.by_role("sales_manager", "team_leader")

    def get(self, member_id: str) -> Member:
        """The member with an id."""
        for member in self.members:
            if member.id == member_id:
                return member
        raise KeyError(member_id)

    def team_of(self, manager_id: str) -> list[Member]:
        """Direct reports of a manager."""
        return [m for m in self.members if m.manager_id == manager_id]


def _names(ctx: Context, count: int) -> list[str]:
    pairs = [f"{f} {last}" for f in FIRST_NAMES for last in LAST_NAMES]
    return ctx.rng.sample(pairs, count)


def _old_join(ctx: Context, earliest_year: int = 2014) -> date:
    """A joining day well before the window."""
    first = date(min(earliest_year, ctx.since.year - 2), 1, 1)
    last = ctx.since - timedelta(days=90)
    return first + timedelta(days=ctx.rng.randint(0, (last - first).days))


def build_org(ctx: Context, reps: int) -> Org:
    """Build and emit the roster (`person` facts)."""
    rng = ctx.rng
    org = Org()
    n_regions = min(4, max(1, -(-reps // 5)))
    regions = list(REGION_BRANCHES)[:n_regions]
    for region in regions:
        count = rng.choice((1, 2)) if reps >= 2 * n_regions else 1
        org.branches.extend((region, b) for b in REGION_BRANCHES[region][:count])
    org.branches = org.branches[: max(1, reps)]
    n_vps = 1 if n_regions <= 2 else 2
    n_partners = min(len(PARTNER_NAMES), max(1, reps // 6))
    names = iter(_names(ctx, 1 + n_vps + 2 * len(org.branches) + reps))

    director = Member("DIR-01", next(names), "director", None, None, None, _old_join(ctx, 2012))
    org.members.append(director)
    vps = []
    for i in range(n_vps):
        vp = Member(f"VP-{i + 1:02d}", next(names), "vp", director.id, None, None, _old_join(ctx))
        vps.append(vp)
        org.members.append(vp)
    leads: list[Member] = []
    for i, (region, branch) in enumerate(org.branches):
        vp = vps[regions.index(region) % n_vps]
        bm = Member(f"BM-{i + 1:02d}", next(names), "branch_manager", vp.id, region, branch, _old_join(ctx))
        role = "sales_manager" if i % 2 == 0 else "team_leader"
        prefix = "SM" if role == "sales_manager" else "TL"
        lead = Member(f"{prefix}-{i + 1:02d}", next(names), role, bm.id, region, branch, _old_join(ctx))
        org.members.extend([bm, lead])
        leads.append(lead)
    lifecycles = _lifecycles(ctx, reps)
    for i in range(reps):
        lead = leads[i % len(leads)]
        member = Member(
            f"SP-{i + 1:03d}", next(names), "sales_person", lead.id, lead.region, lead.branch,
            _old_join(ctx), lifecycle=lifecycles[i],
        )  # fmt: skip
        _apply_lifecycle(ctx, member)
        org.members.append(member)
    for i in range(n_partners):
        region, branch = org.branches[i % len(org.branches)]
        bm = next(m for m in org.by_role("branch_manager") if m.branch == branch)
        org.members.append(
            Member(f"PT-{i + 1:02d}", PARTNER_NAMES[i], "partner", bm.id, region, branch,
                   _old_join(ctx))
        )  # fmt: skip
    for m in org.members:
        ctx.emit(
            "person", id=m.id, name=m.name, role=m.role, manager_id=m.manager_id,
            region=m.region, branch=m.branch, joined_on=m.joined_on, left_on=m.left_on,
        )  # fmt: skip
    return org


def _lifecycles(ctx: Context, reps: int) -> list[str]:
    """Which reps join, leave or left; only when the organisation and window are big enough."""
    lifecycles = [STAYER] * reps
    if reps < 6 or len(ctx.months) < 3:
        return lifecycles
    special = [JOINS_FIRST, JOINS_MID, LEAVES_MID, LEAVES_LAST, LEFT_BEFORE]
    if reps >= 10:
        special += [JOINS_LATER] * max(3, reps // 5)
    for index, lifecycle in zip(ctx.rng.sample(range(reps), len(special)), special, strict=True):
        lifecycles[index] = lifecycle
    return lifecycles


def _apply_lifecycle(ctx: Context, member: Member) -> None:
    """Set joined_on / left_on for a special lifecycle."""
    months = ctx.months
    if member.lifecycle == JOINS_FIRST:
        member.joined_on = months[1]
    elif member.lifecycle == JOINS_MID:
        member.joined_on = months[2] + timedelta(days=1)
    elif member.lifecycle == JOINS_LATER:
        first, last = months[1], months[-1] - timedelta(days=1)
        member.joined_on = ctx.workday_between(first, last)
    elif member.lifecycle == LEAVES_MID:
        member.left_on = months[-2] + timedelta(days=ctx.rng.randint(9, 19))
    elif member.lifecycle == LEAVES_LAST:
        member.left_on = add_months(months[-3], 1) - timedelta(days=1)
    elif member.lifecycle == LEFT_BEFORE:
        member.left_on = ctx.since - timedelta(days=ctx.rng.randint(10, 40))
        if member.left_on < member.joined_on:
            member.joined_on = member.left_on - timedelta(days=400)
