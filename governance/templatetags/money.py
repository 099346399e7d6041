"""Template filters for money: `{{ amount|usd }}` → "$0.25", exact to the micro-dollar."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

from candela.api_types import money_text

register = template.Library()


@register.filter
def usd(value: object) -> str:
    """ "$1.35", "$0.000125"; an unset amount (no cap, no limit) reads "—"."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"${money_text(amount)}"


@register.filter
def bar_width(value: object, peak: object) -> int:
    """A leaderboard bar's width in percent of the biggest value."""
    try:
        share = Decimal(str(value)) * 100 / Decimal(str(peak))
    except (InvalidOperation, ArithmeticError):
        return 0
    return max(0, min(100, int(share)))
