"""The two sides of P2 and P3: Wess's run endpoint and the floor's ``/run``, both live.

Wess gets ``examples/sum.wasm`` uploaded through /v1 (``function=sum``) and is loaded
with ``POST /v1/modules/<id>/run {"function":"sum","args":[1,2]}``; the floor with
``POST /run [1,2]``. Both answers are checked before any load is sent.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from servers import Feature, Server, floor_server, production_features, sum_wasm, wess_server
from wrk import Target

RUN_BODY = {"function": "sum", "args": [1, 2]}
FLOOR_BODY = [1, 2]


@dataclass
class InvocationPair:
    floor: Target
    wess: Target
    features: dict[str, Feature]
    wess_server: Server

    @property
    def targets(self) -> list[Target]:
        return [self.floor, self.wess]


@contextlib.contextmanager
def invocation_pair() -> Iterator[InvocationPair]:
    with floor_server() as floor, wess_server() as wess:
        module_id = wess.upload(sum_wasm(), name="adder", function="sum")
        features = production_features(wess, module_id)

        client = wess.client()
        answer = client.post_json(f"/v1/modules/{module_id}/run", RUN_BODY)
        client.close()
        if answer.status != 200 or answer.json().get("results") != [3]:
            raise RuntimeError(f"Wess run answered {answer.status}: {answer.body[:300]!r}")
        probe = floor.client()
        answer = probe.post_json("/run", FLOOR_BODY)
        probe.close()
        if answer.status != 200 or answer.json().get("results") != [3]:
            raise RuntimeError(f"floor answered {answer.status}: {answer.body[:300]!r}")

        json_type = {"Content-Type": "application/json"}
        yield InvocationPair(
            floor=Target("floor", f"{floor.url}/run", json.dumps(FLOOR_BODY).encode(), json_type),
            wess=Target(
                "wess",
                f"{wess.url}/v1/modules/{module_id}/run",
                json.dumps(RUN_BODY).encode(),
                {**json_type, **wess.auth_headers},
            ),
            features=features,
            wess_server=wess,
        )
