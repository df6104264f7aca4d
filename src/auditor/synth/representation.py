"""Representation: mystery shopping (REP-001 score, REP-002 checklist, REP-003 certification) and trainings
(TRN-001 orientation, TRN-002 certification renewal)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta

from auditor.synth.context import Context, add_months, add_workdays, is_workday, next_workday
from auditor.synth.material import flagged_count, own_stream
from auditor.synth.org import Member, Org

COVERED: tuple[str, ...] = ("REP-001", "REP-002", "REP-003", "TRN-001", "TRN-002")
"""Rules of this module whose every deviation is injected and recorded in the ground truth."""

MIN_SCORE = 70.0
LOW_SCORE = "low_score"
NO_BADGE = "no_badge"
NO_CARD = "no_card"
OLD_BROCHURE = "old_brochure"
SEVERAL = "several_lapses"
WRONG_CLAIMS = "wrong_claims"  # wrong product claims, everything else fine
AT_THRESHOLD = "at_threshold"  # near-miss: score exactly 70, all checks passed
LAPSES = frozenset({LOW_SCORE, NO_BADGE, NO_CARD, OLD_BROCHURE, SEVERAL, WRONG_CLAIMS})

CSP, PSC = "Certified sales professional", "Product specialist certificate"
LEGACY = "Sales foundation certificate"  # issued before certifications expired: valid without end
COURSES = {
    "orientation": ("Company orientation",),
    "product": ("Product range update", "New tariff plans", "Solution selling basics"),
    "certification": (CSP, PSC, LEGACY),
    "compliance": ("Anti-bribery and ethics", "Data protection"),
}
CERT_VALID = timedelta(days=730)  # a certification expires two years after completion
ORIENTATION_LIMIT = timedelta(days=30)  # TRN-001: orientation within 30 days of joining

# TRN-001 cases for a joiner's orientation.
ON_TIME = "clean"
AT_LIMIT = "at_limit"  # near-miss: completed exactly 30 days after joining
EARLY = "before_joining"  # near-miss: completed before the joining day
LATE = "late"  # completed 31-60 days after joining: finding
NEVER = "never"  # not completed: finding

# TRN-002 cases for a certification (REP-003 follows: shops while it has lapsed).
NOT_DUE = "clean"  # expires after the window
EXPIRES_SOON = "expires_soon"  # near-miss: expires within 40 days after the as-of day, not yet renewed
RENEWED_EARLY = "renewed_early"  # renewed up to 40 workdays before expiry
RENEWED_ON_EXPIRY = "renewed_on_expiry"  # near-miss: renewed on the expiry day itself
RENEWED_LATE = "renewed_late"  # renewed 1-60 days after expiry: finding (and a gap for REP-003)
LAPSED = "lapsed"  # expired before some of the person's shops, never renewed: finding


def mystery_shops(ctx: Context, org: Org) -> None:
    """About one mystery shop per person every two months; lapses are recorded in the truth."""
    rng = ctx.rng
    visits = []
    for person in [*org.reps, *org.partners]:
        for month in ctx.months:
            for _ in range(rng.choice((0, 1, 1, 1, 2))):
                day = next_workday(month + timedelta(days=rng.randint(0, 26)))
                if person.active_on(day) and day < add_months(month, 1):
                    visits.append((person, day))
    cases = ctx.pick_counts(
        len(visits),
        {
            LOW_SCORE: 0.12,
            NO_BADGE: 0.03,
            NO_CARD: 0.03,
            OLD_BROCHURE: 0.03,
            SEVERAL: 0.02,
            WRONG_CLAIMS: 0.02,
            AT_THRESHOLD: 0.03,
        },
    )
    for (person, day), case in zip(visits, cases, strict=True):
        shop_id = ctx.next_id("MS", 4)
        score = round(rng.uniform(72, 98), 1)
        badge = card = brochure = True
        if case == LOW_SCORE:
            score = rng.choice((69.9, 69.5, round(rng.uniform(35, 69), 1)))
        elif case == NO_BADGE:
            badge = False
        elif case == NO_CARD:
            card = False
        elif case == OLD_BROCHURE:
            brochure = False
        elif case == SEVERAL:
            score = round(rng.uniform(40, 68), 1)
            badge, card, brochure = rng.choice(((False, False, True), (True, False, False), (False, True, False)))
        elif case == AT_THRESHOLD:
            score = MIN_SCORE
        # Claims not checked (None) is a near-miss for REP-002: unknown is not a failure.
        claims = rng.choice((True, True, True, None)) if case not in LAPSES else rng.random() < 0.7
        if case == WRONG_CLAIMS:
            claims = False
        ctx.emit(
            "mystery_shop",
            id=shop_id,
            subject_id=person.id,
            at=ctx.clock(day, 9, 17),
            score=score,
            badge_worn=badge,
            visiting_card_given=card,
            brochure_current=brochure,
            correct_claims=claims,
        )
        if score < MIN_SCORE:
            ctx.truth.add("REP-001", shop_id, "")
        if not (badge and card and brochure) or claims is False:
            ctx.truth.add("REP-002", shop_id, "")


def trainings(ctx: Context, org: Org) -> None:
    """Orientation for joiners (TRN-001), product and compliance trainings, and certifications.

    Certifications are valid for two years (TRN-002); a mystery shop of someone
    without a current certification is a REP-003 deviation.
    """
    rng = own_stream(ctx, "trainings")
    staff = [m for m in org.members if m.left_on is None or m.left_on >= ctx.since]
    _orientation(ctx, rng, [m for m in staff if m.joined_on >= ctx.since])
    for person in staff:
        if person.role not in ("sales_person", "partner", "team_leader", "sales_manager"):
            continue
        first = max(ctx.since, person.joined_on)
        last = min(ctx.as_of, person.left_on) if person.left_on else ctx.as_of
        for month in ctx.months:
            if rng.random() < 0.6:
                continue
            done = next_workday(month + timedelta(days=rng.randint(0, 25)))
            if first <= done <= last:
                _training(ctx, rng, person.id, "product", done)
        done = next_workday(first + timedelta(days=rng.randint(5, 75)))
        if done <= last and rng.random() < 0.9:
            _training(ctx, rng, person.id, "compliance", done)
    held = _certifications(ctx, rng, org)
    for shop in ctx.rows.get("mystery_shop", []):
        day = shop["at"].date()
        current = any(done <= day and (expires is None or day <= expires) for done, expires in held[shop["subject_id"]])
        if shop["at"] >= ctx.since_start and not current:
            ctx.truth.add("REP-003", shop["subject_id"], shop["id"])


def _orientation(ctx: Context, rng: random.Random, joiners: list[Member]) -> None:
    """Orientation within 30 days of joining; most joiners of a run are late or never oriented (TRN-001)."""
    flagged = flagged_count(len(joiners))
    late = flagged - flagged * 2 // 5
    cases = [LATE] * late + [NEVER] * (flagged - late)
    rng.shuffle(cases)
    clean = [AT_LIMIT, EARLY, *(ON_TIME for _ in joiners)][: len(joiners) - flagged]
    for joiner, case in zip(joiners, cases + clean, strict=True):
        if case == ON_TIME:
            done: date | None = add_workdays(joiner.joined_on, rng.choice((2, 5, 8, 15)))
        elif case == AT_LIMIT:
            done = joiner.joined_on + ORIENTATION_LIMIT  # the deadline itself
        elif case == EARLY:
            done = _workdays_before(joiner.joined_on, rng.randint(1, 3))  # before the first day
        elif case == LATE:
            done = next_workday(joiner.joined_on + ORIENTATION_LIMIT + timedelta(days=rng.randint(1, 30)))
        else:
            done = None
        if done is not None and done <= ctx.as_of:
            _training(ctx, rng, joiner.id, "orientation", done, course=COURSES["orientation"][0])
        if case in (LATE, NEVER) and joiner.joined_on + ORIENTATION_LIMIT <= ctx.as_of:
            ctx.truth.add("TRN-001", joiner.id, "")


def _certifications(ctx: Context, rng: random.Random, org: Org) -> dict[str, list[tuple[date, date | None]]]:
    """Every certification held (completed, expires) per person, emitted; lapses recorded (TRN-002).

    Reps and managers hold the sales certification, partners the product
    specialist one; some reps hold both, two people also an old certificate
    that does not expire. Joiners certify some weeks after joining. Of the
    certifications falling due in the window, some are renewed early or on
    the expiry day, some late (a gap) and some not at all; leavers need no
    renewal after they left.
    """
    held: dict[str, list[tuple[date, date | None]]] = defaultdict(list)
    shops: dict[str, list[date]] = defaultdict(list)
    for shop in ctx.rows.get("mystery_shop", []):
        shops[shop["subject_id"]].append(shop["at"].date())

    def certify(person: Member, course: str, done: date, expires: date | None) -> None:
        held[person.id].append((done, expires))
        _training(ctx, rng, person.id, "certification", done, course=course, expires=expires)

    holders = [m for m in org.members if m.role in ("sales_person", "partner", "team_leader", "sales_manager")]
    joiners = [m for m in holders if m.joined_on >= ctx.since]
    leavers = [m for m in holders if m.left_on is not None and m not in joiners]
    shopped = [m for m in holders if m.role in ("sales_person", "partner") and m not in joiners + leavers]
    others = [m for m in holders if m not in joiners + leavers + shopped]
    cases = list(zip(shopped, _cert_cases(ctx, rng, len(shopped)), strict=True))
    cases += [(m, rng.choice((NOT_DUE, NOT_DUE, RENEWED_EARLY, RENEWED_LATE))) for m in others]
    on_shop_day = False  # near-miss: one joiner certifies on the day of a mystery shop, which counts
    for person in joiners:
        done = next_workday(person.joined_on + timedelta(days=rng.randint(10, 50)))
        later = [d for d in shops[person.id] if d >= person.joined_on + timedelta(days=10)]
        if later and not on_shop_day:
            done, on_shop_day = min(later), True
        if done <= ctx.as_of:
            certify(person, CSP, done, done + CERT_VALID)
    for person, left in [(m, m.left_on) for m in leavers if m.left_on is not None]:
        course = PSC if person.role == "partner" else CSP
        if left < ctx.since:  # gone before the window: lapses unrenewed inside it
            expires = _day_between(rng, ctx.since, ctx.as_of)
        else:  # expires on the day they leave or soon after
            expires = left + timedelta(days=rng.choice((0, rng.randint(1, 20))))
        certify(person, course, expires - CERT_VALID, expires)
    on_expiry_day = False  # near-miss: one lapse is on the day of a shop, which the certification still covers
    for person, case in cases:
        course = PSC if person.role == "partner" else CSP
        judged = sorted(d for d in shops[person.id] if d >= ctx.since)
        if case == LAPSED and judged and not on_expiry_day:
            expires, on_expiry_day = judged[0], True
        else:
            expires = _expiry(ctx, rng, case, judged)
        certify(person, course, expires - CERT_VALID, expires)
        renewal = {
            RENEWED_EARLY: _workdays_before(expires, rng.randint(1, 40)),
            RENEWED_ON_EXPIRY: expires,
            RENEWED_LATE: next_workday(expires + timedelta(days=rng.choice((1, rng.randint(5, 60))))),
        }.get(case)
        if renewal is not None and renewal <= ctx.as_of:
            certify(person, course, renewal, renewal + CERT_VALID)
        if case in (LAPSED, RENEWED_LATE) and ctx.since <= expires <= ctx.as_of:
            ctx.truth.add("TRN-002", person.id, course)
    for person in shopped:
        if person.role == "sales_person" and rng.random() < 0.3:
            done = _day_between(rng, ctx.as_of - CERT_VALID + timedelta(days=60), ctx.since - timedelta(days=30))
            certify(person, PSC, done, done + CERT_VALID)
    # An old certificate without expiry: held by someone in good standing, and by someone whose renewal came
    # late (near-miss for REP-003: still certified in the gap, while TRN-002 finds the late renewal).
    good = [p for p, case in cases if p in shopped and case not in (LAPSED, RENEWED_LATE)]
    gap = [p for p, case in cases if p in shopped and case == RENEWED_LATE]
    for group in (good, gap):
        if group:
            certify(rng.choice(group), LEGACY, _day_between(rng, date(2017, 1, 1), date(2019, 12, 31)), None)
    return held


def _cert_cases(ctx: Context, rng: random.Random, count: int) -> list[str]:
    """Renewal cases of `count` certifications, shuffled: enough lapses and gaps for TRN-002 and REP-003."""
    shares = {LAPSED: (0.12, 2), RENEWED_LATE: (0.15, 3), RENEWED_EARLY: (0.2, 1), RENEWED_ON_EXPIRY: (0.06, 1)}
    shares[EXPIRES_SOON] = (0.06, 1)
    cases = [case for case, (share, least) in shares.items() for _ in range(max(least, round(count * share)))]
    cases = cases[:count] + [NOT_DUE] * (count - len(cases))
    rng.shuffle(cases)
    return cases


def _expiry(ctx: Context, rng: random.Random, case: str, shops: list[date]) -> date:
    """The expiry day of a certification with a renewal case (lapses fall before some of the person's shops,
    given sorted)."""
    if case == NOT_DUE:
        return _day_between(rng, ctx.as_of + timedelta(days=41), ctx.since + CERT_VALID - timedelta(days=1))
    if case == EXPIRES_SOON:
        return ctx.as_of + timedelta(days=rng.randint(1, 40))
    if case == LAPSED and shops:
        before = rng.choice(shops[: max(1, len(shops) // 3)]) - timedelta(days=rng.randint(1, 20))
        return min(max(before, ctx.since), ctx.as_of)
    if case == RENEWED_LATE:
        return _day_between(rng, ctx.since + timedelta(days=5), ctx.as_of - timedelta(days=45))
    return _day_between(rng, ctx.since, ctx.as_of)


def _day_between(rng: random.Random, first: date, last: date) -> date:
    """A random day in [first, last] (`first` when the range is empty)."""
    return first + timedelta(days=rng.randint(0, max(0, (last - first).days)))


def _workdays_before(day: date, count: int) -> date:
    """`count` workdays before `day`."""
    while count > 0:
        day -= timedelta(days=1)
        if is_workday(day):
            count -= 1
    return day


def _training(
    ctx: Context,
    rng: random.Random,
    person_id: str,
    training_type: str,
    done: date,
    course: str | None = None,
    expires: date | None = None,
) -> None:
    """Emit one completed training (compliance courses expire after a year)."""
    if training_type == "compliance":
        expires = done + timedelta(days=365)
    ctx.emit(
        "training",
        id=ctx.next_id("TR"),
        person_id=person_id,
        course=course or rng.choice(COURSES[training_type]),
        training_type=training_type,
        completed_on=done,
        expires_on=expires,
    )
