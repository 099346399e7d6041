"""Property-based run of the whole management API against its own OpenAPI schema.

Schemathesis generates requests for every operation (valid and invalid), sends them over
a real socket as an operator, and checks that no answer is a server error and that every
answer matches what the schema documents (including the shared 4xx error shape).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from candela.api import api
from tests.conftest import token_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

# Hypothesis caches what it learns from the source; keep that with the other test output.
set_hypothesis_home_dir(Path(__file__).resolve().parent.parent / "test-artifacts" / "hypothesis")
schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture
def operator_token(operator, admin_a, dev_a, admin_b, dev_b) -> str:
    """An operator's token, with both tenants' people present so ids sometimes hit."""
    return token_for(operator)


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,  # the same examples every run: CI failures reproduce locally
    database=None,  # and no .hypothesis/ example store in the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case, live_api, operator_token):
    case.call_and_validate(
        base_url=live_api,
        headers={"Authorization": f"Bearer {operator_token}"},
        checks=CHECKS,
        timeout=10,
    )
