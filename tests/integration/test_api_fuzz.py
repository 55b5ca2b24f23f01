"""schemathesis against the running `molar serve` app (Uvicorn on 127.0.0.1, real DuckDB):
no server errors and no status code the OpenAPI document does not list."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, status_code_conformance

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "realtime"))

from rtsupport import NOW, ThreadServer, seed_identity, seed_profile  # noqa: E402

from molar.config import Settings  # noqa: E402
from molar.privacy.accounts import create_token  # noqa: E402
from molar.serve import build_server  # noqa: E402
from molar.warehouse import open_warehouse  # noqa: E402

TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz") / "molar.duckdb"
    engine = open_warehouse(path=db)
    seed_identity(engine)
    seed_profile(engine)
    TOKEN["admin"] = create_token(engine, "fuzz", "admin", now=NOW, by="test")
    engine.close()
    app = build_server(Settings(warehouse_path=db, api_rate_per_minute=1_000_000), clock=lambda: NOW,
                       profile_first_after=timedelta(days=3650))
    with ThreadServer(app) as srv:
        yield schemathesis.openapi.from_url(f"{srv.url}/openapi.json")


# The schemathesis pytest plugin does not load under this pytest, so each operation's
# strategy is run with hypothesis directly.
@pytest.mark.timeout(900)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_no_server_errors_and_every_status_documented(api_schema, mode):
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN['admin']}"},
                                   checks=[not_a_server_error, status_code_conformance])

        try:
            run()
        except Unsatisfiable:
            pass  # negative data for an operation without parameters or body: nothing to send
        except (Exception, BaseExceptionGroup) as exc:  # try every operation; report all failures together
            failures.append(f"{operation.label}: {exc}")
    assert failures == []
