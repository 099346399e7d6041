"""Forms of the dashboard pages. They only parse input; the services validate and save."""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from tenants.constants import PiiMode, PiiOnDetect, Role

MONEY = {"max_digits": 14, "decimal_places": 6, "min_value": Decimal("0")}
_SEPARATORS = re.compile(r"[\s,]+")


def _money(label: str, **kwargs) -> forms.DecimalField:
    return forms.DecimalField(label=label, required=False, **{**MONEY, **kwargs})


def _rpm(label: str = "Requests per minute") -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, min_value=1, max_value=1_000_000)


class ModelListField(forms.CharField):
    """Model names or patterns separated by commas or spaces, as a list."""

    def to_python(self, value) -> list[str]:  # type: ignore[override]
        text = super().to_python(value)
        return [part for part in _SEPARATORS.split(text) if part]

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value


def attach_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's validation error on the form: on its field when the form has one."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, errors in error.error_dict.items():
        form.add_error(name if name in form.fields else None, errors)


class BudgetForm(forms.Form):
    daily_budget_usd = _money("Daily budget (USD)", help_text="Empty: no daily limit.")
    rate_limit_rpm = _rpm()


class NewUserForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(
        choices=[(Role.DEVELOPER, "Developer"), (Role.ADMIN, "Tenant admin")],
        initial=Role.DEVELOPER,
    )
    daily_budget_usd = _money("Daily budget (USD)")
    rate_limit_rpm = _rpm()
    password = forms.CharField(
        required=False,
        min_length=8,
        widget=forms.PasswordInput(render_value=False),
        help_text="Empty: the user cannot sign in until an admin sets one.",
    )


def _model_list() -> ModelListField:
    return ModelListField(
        label="Allowed models",
        required=False,
        max_length=2000,
        help_text='e.g. "gpt-4o*, byo:*"; empty allows all.',
        widget=forms.TextInput(attrs={"class": "wide", "placeholder": "all models"}),
    )


class KeyPolicyForm(forms.Form):
    allowed_models = _model_list()
    rate_limit_rpm = _rpm()


class MintKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    allowed_models = _model_list()


class GrantForm(forms.Form):
    user = forms.ModelChoiceField(queryset=None)  # set per request: the users one may govern
    amount_usd = forms.DecimalField(
        label="Amount (USD)", max_digits=14, decimal_places=6, min_value=Decimal("0.000001")
    )
    expires_at = forms.DateTimeField(
        label="Expires (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    reason = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, users, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["user"]
        field.queryset = users  # type: ignore[attr-defined]
        field.label_from_instance = lambda user: user.email  # type: ignore[attr-defined]


class TenantSettingsForm(forms.Form):
    daily_cap_usd = _money("Daily cap (USD)", help_text="Empty: no cap.")
    monthly_cap_usd = _money("Monthly cap (USD)", help_text="Empty: no cap.")
    alert_threshold_pct = forms.IntegerField(
        label="Alert at (% of cap)", min_value=1, max_value=100
    )
    pii_mode = forms.ChoiceField(label="PII handling", choices=PiiMode.choices)
    pii_on_detect = forms.ChoiceField(label="When PII is found", choices=PiiOnDetect.choices)
