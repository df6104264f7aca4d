"""Representation: mystery shopping (REP-001 score, REP-002 checklist) and trainings."""

from __future__ import annotations

from datetime import date, timedelta

from auditor.synth.context import Context, add_months, add_workdays, next_workday
from auditor.synth.org import Org

COVERED: tuple[str, ...] = ("REP-001", "REP-002")
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

COURSES = {
    "orientation": ("Company orientation",),
    "product": ("Product range update", "New tariff plans", "Solution selling basics"),
    "certification": ("Certified sales professional", "Product specialist certificate"),
    "compliance": ("Anti-bribery and ethics", "Data protection"),
}


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
            LOW_SCORE: 0.09,
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
    """Orientation for joiners, product trainings, certifications and a compliance course."""
    rng = ctx.rng
    staff = [m for m in org.members if m.left_on is None or m.left_on >= ctx.since]
    for person in staff:
        first = max(ctx.since, person.joined_on)
        last = min(ctx.as_of, person.left_on) if person.left_on else ctx.as_of
        if person.joined_on >= ctx.since:
            done = add_workdays(person.joined_on, rng.choice((2, 5, 8, 15)))
            if done <= last:
                _training(ctx, person.id, "orientation", done)
        if person.role not in ("sales_person", "partner", "team_leader", "sales_manager"):
            continue
        for month in ctx.months:
            if rng.random() < 0.6:
                continue
            done = next_workday(month + timedelta(days=rng.randint(0, 25)))
            if first <= done <= last:
                _training(ctx, person.id, "product", done)
        if person.role != "partner" and rng.random() < 0.5:
            done = next_workday(first + timedelta(days=rng.randint(0, max(0, (last - first).days))))
            if done <= last:
                _training(ctx, person.id, "certification", done)
        done = next_workday(first + timedelta(days=rng.randint(5, 75)))
        if done <= last and rng.random() < 0.9:
            _training(ctx, person.id, "compliance", done)


def _training(ctx: Context, person_id: str, training_type: str, done: date) -> None:
    expires = None
    if training_type in ("certification", "compliance"):
        expires = done + timedelta(days=730 if training_type == "certification" else 365)
    ctx.emit(
        "training",
        id=ctx.next_id("TR"),
        person_id=person_id,
        course=ctx.rng.choice(COURSES[training_type]),
        training_type=training_type,
        completed_on=done,
        expires_on=expires,
    )
