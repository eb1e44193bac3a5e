"""Schemathesis against the OpenAPI document the running server serves: for generated requests to every
route, no 5xx, every status code documented, every response matching its declared schema and media type.
Few examples per route so `make test` stays fast."""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,  # noqa: E402
                                               status_code_conformance)

from .harness import Server, copy_store  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 8


def test_api_conforms_to_its_openapi(sample_store_file, tmp_path):
    db = copy_store(sample_store_file, str(tmp_path / "fuzz.duckdb"))
    with Server(db, extra_args=("--max-upload-mb", "2")) as srv:
        schema = schemathesis.openapi.from_url(srv.api + "/openapi.json")
        ran, failures = [], []
        for result in schema.get_all_operations():
            op = result.ok()

            @given(case=op.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def run(case):
                case.call_and_validate(headers={"X-Medviz-User": "Schemathesis"}, checks=CHECKS, timeout=60)
            try:
                run()
            except Exception as e:  # noqa: BLE001 - collect every operation's failure, report them together
                failures.append(f"{op.label}: {e}")
            ran.append(op.label)
        assert len(ran) >= 25
        assert not failures, "\n\n".join(failures)
        assert "Traceback" not in srv.log()
