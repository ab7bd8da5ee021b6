"""The API's rate limit: one budget per valid token, and one per client IP for every request
without a valid token, so made-up tokens buy no fresh allowance."""

from __future__ import annotations

import dataclasses

from tests.api.conftest import POSTGRES_ONLY, bearer
from tests.conftest import running_app

ATTACKER = {"REMOTE_ADDR": "203.0.113.7"}
CLIENT = {"REMOTE_ADDR": "198.51.100.2"}


@POSTGRES_ONLY
def test_made_up_tokens_share_their_ip_budget_and_valid_tokens_keep_theirs(config, tokens) -> None:  # type: ignore[no-untyped-def]
    limited = dataclasses.replace(config, api_rate_limit="3/minute")
    with running_app(limited) as app:
        client = app.test_client()
        codes = [client.get("/api/lists", headers=bearer(f"nl_made-up-{n}"), environ_base=ATTACKER
                            ).status_code for n in range(5)]
        assert codes == [401, 401, 401, 429, 429]
        # No token at all counts against the same budget.
        assert client.get("/api/lists", environ_base=ATTACKER).status_code == 429

        # A valid token has a budget of its own, wherever it is sent from.
        editor = bearer(tokens["editor"])
        assert client.get("/api/lists", headers=editor, environ_base=CLIENT).status_code == 200
        assert client.get("/api/lists", headers=editor, environ_base=ATTACKER).status_code == 200
        # Spelling the same token another way buys no second budget either.
        again = {"Authorization": "bearer  " + tokens["editor"] + " "}
        assert client.get("/api/lists", headers=again, environ_base=CLIENT).status_code == 200
        assert client.get("/api/lists", headers=editor, environ_base=CLIENT).status_code == 429
        # The other IP's own budget is untouched by all this.
        assert client.get("/api/lists", environ_base=CLIENT).status_code == 401
