"""Property-based tests of the whole API from its OpenAPI schema (schemathesis), over real HTTP.

Every operation gets a bounded number of generated requests, valid (positive) and
invalid (negative); no answer may be a server error, and every error answer is a
problem document with a request id. The one 5xx allowed is the documented 501 of
/v1/generate and /v1/edit when no generator model is installed on the server (the case
here: the fuzzed server has none, so that examples do not start generation jobs).

(schemathesis' pytest plugin does not load under pytest 9 here, so the operations
are driven with hypothesis directly: same strategies, same bounded examples.)
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from testkit.service import Server, create_key  # noqa: E402

MAX_EXAMPLES = 10


@pytest.fixture(scope="module")
def st_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("st-home")
    # No generator model on this server (an empty model folder): fuzzing checks the HTTP contract, and
    # must not start minutes of generation per example; generation is tested in test_api.py.
    no_model = tmp_path_factory.mktemp("no-model")
    srv = Server(home, home / "server.log", env={"KINOSEAL_MAX_UPLOAD_BYTES": "2000000",
                                                "KINOSEAL_GENERATOR_MODEL": str(no_model)}, args=("--public-verify",))
    yield srv, home
    srv.stop()


@pytest.fixture(scope="module")
def st_key(st_server, run_cli):
    _, home = st_server
    return create_key(run_cli, "fuzz", "verify,generate,sign", "--rate", "1000000", env={"KINOSEAL_HOME": str(home)})


def _operations(url: str):
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    return [r.ok() for r in schema.get_all_operations()]


def _header(response, name: str) -> str:
    v = response.headers.get(name) or response.headers.get(name.lower()) or ""
    return v[0] if isinstance(v, list) and v else v


def _check(case, response) -> None:
    allowed = response.status_code == 501 and case.operation.path in ("/v1/generate", "/v1/edit")
    assert response.status_code < 500 or allowed, (
        f"{case.method} {case.operation.path} -> {response.status_code}: {response.text[:500]}")
    assert _header(response, "x-request-id")
    if response.status_code >= 400:
        assert _header(response, "content-type").startswith("application/problem+json"), response.text[:300]
        body = response.json()
        assert body["status"] == response.status_code and body["title"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("with_key", [True, False])
def test_no_server_errors(st_server, st_key, mode, with_key):
    srv, _ = st_server
    headers = {"Authorization": f"Bearer {st_key}"} if with_key else {}
    ops = _operations(srv.url)
    assert len(ops) >= 14
    calls = []
    for op in ops:
        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES if with_key else 3, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate], database=None)
        def run(case):
            response = case.call(base_url=srv.url, headers=headers, timeout=60)
            calls.append(response.status_code)
            _check(case, response)

        try:
            run()
        except Unsatisfiable:
            # nothing to make invalid (an operation without parameters or body) in negative mode
            assert mode == GenerationMode.NEGATIVE, op.path
    assert calls
