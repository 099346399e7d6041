"""Loads the shipped list-price table (governance/fixtures/prices.json)."""

import json
from decimal import Decimal
from pathlib import Path

from django.db import migrations

PRICES = Path(__file__).resolve().parent.parent / "fixtures" / "prices.json"


def load_prices(apps, schema_editor):
    Price = apps.get_model("governance", "Price")
    for row in json.loads(PRICES.read_text()):
        Price.objects.update_or_create(
            model=row["model"],
            defaults={
                "vendor": row["vendor"],
                "input_usd_per_mtok": Decimal(row["input"]),
                "output_usd_per_mtok": Decimal(row["output"]),
            },
        )


class Migration(migrations.Migration):
    dependencies = [("governance", "0002_initial")]
    operations = [migrations.RunPython(load_prices, migrations.RunPython.noop)]
