"""Login over real HTTP: password flow, problem details, single-use refresh, roles."""

import httpx


def test_login_and_me(api):
    token = api.login("crew-03")
    with api.client(token) as c:
        me = c.get("/v1/auth/me").json()
    assert me == {"username": "crew-03", "role": "crew", "crew_id": "CREW-03"}


def test_wrong_password_is_a_problem_document(api):
    r = httpx.post(f"{api.base_url}/v1/auth/token", data={"username": "crew-03", "password": "x"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "bad_credentials"


def test_refresh_tokens_are_single_use(api):
    pair = httpx.post(
        f"{api.base_url}/v1/auth/token", data={"username": "dispatcher", "password": "gridcrew"}
    ).json()
    first = httpx.post(
        f"{api.base_url}/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert first.status_code == 200 and first.json()["role"] == "dispatcher"
    again = httpx.post(
        f"{api.base_url}/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert again.status_code == 401 and again.json()["code"] == "bad_refresh_token"


def test_no_token_and_garbage_token_are_401(api):
    with api.client() as c:
        assert c.get("/v1/auth/me").status_code == 401
    with api.client("garbage") as c:
        assert c.get("/v1/auth/me").status_code == 401


def _token(seconds: float) -> str:
    import time

    import jwt

    from gridcrew.config import get_settings

    claims = {"sub": "crew-03", "role": "crew", "crew": "CREW-03", "typ": "access"}
    return jwt.encode({**claims, "exp": time.time() + seconds}, get_settings().jwt_secret)


def test_a_verified_token_is_refused_once_it_expires_and_a_tampered_one_at_once(api):
    import time

    token = _token(2)
    with api.client(token) as c:
        assert c.get("/v1/auth/me").status_code == 200  # verified, remembered
        assert c.get("/v1/auth/me").status_code == 200
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with api.client(tampered) as c:
        assert c.get("/v1/auth/me").status_code == 401
    time.sleep(2.5)
    with api.client(token) as c:
        r = c.get("/v1/auth/me")
    assert r.status_code == 401 and "expired" in r.json()["detail"]
