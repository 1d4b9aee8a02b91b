"""Security building blocks: passwords, tokens, the secret key, IP hashes (governance/security.py), and CSRF
protection of forms (web/csrf.py) through a small FastAPI app and its test client."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from exquisite.errors import InputError
from exquisite.governance import security
from exquisite.governance.security import (
    common_passwords,
    constant_time_equal,
    hash_password,
    ip_hash,
    load_secret,
    needs_rehash,
    new_token,
    password_problem,
    password_rules,
    token_hash,
    verify_password,
)
from exquisite.web import csrf
from exquisite.web.csrf import COOKIE, check_csrf, csrf_token, set_csrf_cookie

# ---------------------------------------------------------------- passwords


def test_hash_is_argon2id_with_the_owasp_parameters() -> None:
    storage = password_rules()["storage"]
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$")
    m, t, p = storage["memory_kib"], storage["time_cost"], storage["parallelism"]
    assert f"$m={m},t={t},p={p}$" in stored
    assert (m, t, p) >= (19 * 1024, 2, 1)  # OWASP Password Storage Cheat Sheet minimum for Argon2id
    assert stored != hash_password("correct horse battery staple")  # salted


def test_verify_accepts_the_password_exactly_as_typed() -> None:
    stored = hash_password("Correct horse battery staple ")
    assert verify_password(stored, "Correct horse battery staple ")
    assert not verify_password(stored, "correct horse battery staple ")  # no case change (ASVS 6.2.8)
    assert not verify_password(stored, "Correct horse battery staple")  # no trimming
    assert not verify_password(stored, "")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=19456,t=2,p=1$bm90LWJhc2U2NA",
        "$argon2id$v=19$m=19456,t=2,p=1$!!!!$!!!!",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
        None,
    ],
)
def test_verify_never_raises_on_a_malformed_hash(bad: str | None) -> None:
    assert verify_password(bad, "whatever password") is False  # type: ignore[arg-type]
    assert needs_rehash(bad) is True  # type: ignore[arg-type]


def test_needs_rehash_after_the_parameters_change() -> None:
    assert not needs_rehash(hash_password("correct horse battery staple"))
    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(
        "correct horse battery staple"
    )
    assert needs_rehash(weaker)
    assert verify_password(weaker, "correct horse battery staple")  # still valid until rehashed


def test_password_rules_come_from_the_data_file() -> None:
    rules = password_rules()["rules"]
    shortest, longest = rules["min_chars"], rules["max_chars"]
    assert shortest >= 8  # ASVS v5.0.0-6.2.1
    assert longest >= 64  # ASVS v5.0.0-6.2.9
    assert "shorter than" in password_problem("fern lamp tide over moss"[: shortest - 1], "")
    assert password_problem("fern lamp tide over moss"[:shortest], "") is None
    assert password_problem("fern lamp tide", "") is None
    assert "longer than" in password_problem("fern lamp tide " * 20, "")
    assert password_problem(("abcdefghij" * 20)[:longest], "") is None
    assert password_problem(("abcdefghij" * 20)[: longest + 1], "") is not None


def test_password_has_no_composition_rules() -> None:
    # ASVS v5.0.0-6.2.5: lower case only, digits only, spaces, other scripts are all fine
    for ok in ["fern lamp tide", "8203 5561 9917 4", "城市的每一条街道都很安静", "glück über straße"]:
        assert password_problem(ok, "anna") is None, ok


def test_password_is_not_the_username() -> None:
    assert "username" in password_problem("anna.lindqvist", "Anna.Lindqvist")
    assert "username" in password_problem("anna.lindqvist", "anna.lindqvist@city.example")
    # the username does not count towards the length
    assert password_problem("anna.lindqvist99", "anna.lindqvist") is not None
    assert password_problem("anna.lindqvist rides a bike", "anna.lindqvist") is None


def test_password_context_words_do_not_count() -> None:
    assert password_problem("exquisitecity1", "") is not None
    assert password_problem("ExquisiteCity admin", "") is not None
    assert password_problem("exquisite fern lamp tide", "") is None


def test_common_passwords_are_refused() -> None:
    listed = common_passwords()
    assert len(listed) > 19_000
    assert {"123456", "password", "qwerty"} <= listed
    long_common = sorted(word for word in listed if len(word) >= password_rules()["rules"]["min_chars"])
    assert "1q2w3e4r5t6y" in long_common
    for word in long_common[:50]:
        assert password_problem(word, "") is not None, word
    assert "common" in password_problem("Q1W2E3R4T5Y6", "someone")
    assert password_problem("q1w2e3r4t5y6 and mine", "someone") is None


# ---------------------------------------------------------------- tokens


def test_tokens_are_random_and_hashed() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens)
    assert len(new_token(16)) == 22
    token = new_token()
    assert re.fullmatch(r"[0-9a-f]{64}", token_hash(token))
    assert token_hash(token) == token_hash(token) != token_hash(new_token())
    assert (
        token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )  # FIPS 180-2


def test_constant_time_equal() -> None:
    assert constant_time_equal("abc", "abc")
    assert constant_time_equal(b"abc", "abc")
    assert not constant_time_equal("abc", "abd")
    assert not constant_time_equal("abc", "abcd")
    assert not constant_time_equal("städt", "stadt")  # non-ASCII text does not raise


# ---------------------------------------------------------------- the secret key


def test_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    key = load_secret(data_dir)
    path = data_dir / security.SECRET_FILE
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(data_dir) == key
    assert [p.name for p in data_dir.iterdir()] == [security.SECRET_FILE]  # no temporary file left
    assert load_secret(tmp_path / "other") != key


def test_world_readable_secret_is_refused(tmp_path: Path) -> None:
    load_secret(tmp_path)
    path = tmp_path / security.SECRET_FILE
    os.chmod(path, 0o644)
    with pytest.raises(InputError) as error:
        load_secret(tmp_path)
    assert str(path) in str(error.value)
    assert "chmod 600" in str(error.value)
    os.chmod(path, 0o640)
    with pytest.raises(InputError):
        load_secret(tmp_path)


def test_secret_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / security.SECRET_FILE
    path.write_bytes(b"short")
    os.chmod(path, 0o600)
    with pytest.raises(InputError) as error:
        load_secret(tmp_path)
    assert str(path) in str(error.value)
    assert "5 bytes instead of 32" in str(error.value)
    assert path.read_bytes() == b"short"  # never overwritten


def test_ip_hash_is_stable_keyed_and_not_the_ip() -> None:
    one, two = b"k" * 32, b"j" * 32
    digest = ip_hash(one, "203.0.113.7")
    assert re.fullmatch(r"[0-9a-f]{32}", digest)
    assert ip_hash(one, "203.0.113.7") == digest
    assert ip_hash(one, " ::ffff:203.0.113.7") == digest  # the same client over IPv6-mapped IPv4
    assert ip_hash(two, "203.0.113.7") != digest  # keyed
    assert ip_hash(one, "203.0.113.8") != digest
    assert ip_hash(one, "2001:db8:0:0::1") == ip_hash(one, "2001:DB8::1")
    assert re.fullmatch(r"[0-9a-f]{32}", ip_hash(one, "testclient"))


# ---------------------------------------------------------------- CSRF

SECRET = b"s" * 32


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/form")
    def form(request: Request, response: Response, session: str | None = None) -> dict[str, str]:
        return {"token": csrf_token(request, response, SECRET, session)}

    @app.get("/page", response_class=HTMLResponse)
    def page(request: Request) -> HTMLResponse:
        token = csrf_token(request, None, SECRET)
        again = csrf_token(request, None, SECRET)
        assert again == token
        rendered = HTMLResponse(f'<input type="hidden" name="csrf_token" value="{token}">')
        set_csrf_cookie(request, rendered)
        return rendered

    @app.post("/form")
    def send(request: Request, csrf_token: str = Form(""), session: str | None = None) -> dict[str, bool]:
        check_csrf(request, csrf_token, SECRET, session)
        return {"ok": True}

    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(_app())


def _set_cookie_headers(response) -> list[str]:
    return [value for key, value in response.headers.multi_items() if key == "set-cookie"]


def test_csrf_cookie_flags_over_http(client: TestClient) -> None:
    response = client.get("/form")
    (cookie,) = _set_cookie_headers(response)
    assert cookie.startswith(f"{COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    assert "secure" not in flags
    # a second form in the same browser keeps the cookie and gets the same token
    again = client.get("/form")
    assert _set_cookie_headers(again) == []
    assert again.json()["token"] == response.json()["token"]


def test_csrf_cookie_is_secure_over_https() -> None:
    with TestClient(_app(), base_url="https://testserver") as client:
        (cookie,) = _set_cookie_headers(client.get("/form"))
        assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_csrf_cookie_set_on_a_rendered_response(client: TestClient) -> None:
    response = client.get("/page")
    assert len(_set_cookie_headers(response)) == 1  # one cookie, though csrf_token ran twice
    token = re.search(r'value="([0-9a-f]{64})"', response.text).group(1)
    assert client.post("/form", data={"csrf_token": token}).json() == {"ok": True}


def test_csrf_form_with_its_token_is_accepted(client: TestClient) -> None:
    token = client.get("/form").json()["token"]
    assert client.post("/form", data={"csrf_token": token}).json() == {"ok": True}
    same_origin = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/form", data={"csrf_token": token}, headers=same_origin).status_code == 200


def test_csrf_refuses_without_cookie(client: TestClient) -> None:
    token = client.get("/form").json()["token"]
    client.cookies.clear()
    response = client.post("/form", data={"csrf_token": token})
    assert response.status_code == 403
    assert response.json()["detail"] == csrf.EXPIRED


def test_csrf_refuses_without_or_with_a_wrong_token(client: TestClient) -> None:
    token = client.get("/form").json()["token"]
    missing = client.post("/form", data={})
    assert (missing.status_code, missing.json()["detail"]) == (403, csrf.MISSING)
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    wrong = client.post("/form", data={"csrf_token": flipped})
    assert (wrong.status_code, wrong.json()["detail"]) == (403, csrf.MISMATCH)
    assert client.post("/form", data={"csrf_token": "città"}).status_code == 403


def test_csrf_token_of_another_browser_is_refused(client: TestClient) -> None:
    attacker = TestClient(_app())
    stolen = attacker.get("/form").json()["token"]  # the attacker's own valid token
    client.get("/form")
    response = client.post("/form", data={"csrf_token": stolen})
    assert (response.status_code, response.json()["detail"]) == (403, csrf.MISMATCH)


def test_csrf_token_is_bound_to_the_session(client: TestClient) -> None:
    token = client.get("/form", params={"session": "s1"}).json()["token"]
    assert client.post("/form", params={"session": "s1"}, data={"csrf_token": token}).status_code == 200
    assert client.post("/form", params={"session": "s2"}, data={"csrf_token": token}).status_code == 403
    assert client.post("/form", data={"csrf_token": token}).status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "https://testserver"},  # another scheme is another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_csrf_refuses_cross_site_posts_even_with_a_token(client: TestClient, headers: dict[str, str]) -> None:
    token = client.get("/form").json()["token"]
    response = client.post("/form", data={"csrf_token": token}, headers=headers)
    assert (response.status_code, response.json()["detail"]) == (403, csrf.CROSS_SITE)


def test_csrf_garbage_cookie_is_replaced(client: TestClient) -> None:
    client.cookies.set(COOKIE, "x")
    response = client.get("/form")
    (cookie,) = _set_cookie_headers(response)
    assert re.match(rf"{COOKIE}=[A-Za-z0-9_-]{{43}};", cookie)
