"""Digest authentication: RFC 7616 vectors, server verify, nonces, replay, throttle."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.sip.auth import (
    BAD_CREDENTIALS,
    Algorithm,
    AuthOutcome,
    DigestAuthenticator,
    FailureThrottle,
    choose_challenge,
    compute_response,
    digest_response,
)
from firmware.sip.headers import AuthParams, parse_auth

# RFC 7616 §3.9.1
RFC = dict(username="Mufasa", realm="http-auth@example.org", password="Circle of Life",
           method="GET", uri="/dir/index.html",
           nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v")
CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [(Algorithm.MD5, "8ca523f5e9506fed4657c9700eebdbec"),
     (Algorithm.SHA256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")],
)
def test_rfc7616_vectors(algorithm: Algorithm, expected: str) -> None:
    assert digest_response(algorithm, RFC["username"], RFC["realm"], RFC["password"],
                           RFC["method"], RFC["uri"], RFC["nonce"], qop="auth", nc="00000001",
                           cnonce=CNONCE) == expected
    challenge = parse_auth(
        f'Digest realm="{RFC["realm"]}", qop="auth, auth-int", algorithm={algorithm.value}, '
        f'nonce="{RFC["nonce"]}", opaque="{OPAQUE}"')
    value = compute_response(challenge, RFC["method"], RFC["uri"], RFC["username"],
                             RFC["password"], 1, CNONCE)
    creds = parse_auth(value)
    assert creds.get("response") == expected
    assert (creds.get("qop"), creds.get("nc"), creds.get("opaque")) == ("auth", "00000001", OPAQUE)
    assert "qop=auth," in value and "nc=00000001" in value  # unquoted (RFC 7616 §3.4)


PASSWORDS = {"200": "s3cret", "201": "other"}
SECRET = b"0123456789abcdef0123456789abcdef"


def lookup(user: str) -> str | None:
    return PASSWORDS.get(user)


def answer(auth: DigestAuthenticator, now: float, *, user: str = "200", password: str = "s3cret",
           index: int = 0, nc: int = 1, method: str = "REGISTER") -> str:
    challenge = parse_auth(auth.challenge(now)[index])
    return compute_response(challenge, method, "sip:pbx", user, password, nc, "abc")


def test_challenge_offers_sha256_then_md5_with_one_nonce() -> None:
    auth = DigestAuthenticator("switchbox", SECRET)
    sha, md5 = (parse_auth(v) for v in auth.challenge(1.0))
    assert (sha.get("algorithm"), md5.get("algorithm")) == ("SHA-256", "MD5")
    assert sha.get("nonce") == md5.get("nonce") and sha.get("qop") == "auth"
    assert sha.get("stale") is None
    assert parse_auth(auth.challenge(1.0, stale=True)[0]).get("stale") == "true"
    assert auth.challenge(1.0)[0].startswith('Digest realm="switchbox", nonce="')


@pytest.mark.parametrize("index", [0, 1])
def test_verify_accepts_both_algorithms(index: int) -> None:
    auth = DigestAuthenticator("switchbox", SECRET)
    result = auth.verify("REGISTER", answer(auth, 10.0, index=index), lookup, 11.0,
                         request_uri="sip:pbx")
    assert result.ok and result.username == "200"


def test_legacy_rfc2069_without_qop() -> None:
    auth = DigestAuthenticator("switchbox", SECRET)
    nonce = auth.make_nonce(5.0)
    response = digest_response(Algorithm.MD5, "200", "switchbox", "s3cret", "INVITE", "sip:201@pbx",
                               nonce)
    value = (f'Digest username="200", realm="switchbox", nonce="{nonce}", uri="sip:201@pbx", '
             f'response="{response}"')
    assert auth.verify("INVITE", value, lookup, 6.0).ok
    legacy = AuthParams("Digest", (("realm", "switchbox"), ("nonce", nonce)))
    assert "qop" not in compute_response(legacy, "INVITE", "sip:201@pbx", "200", "s3cret", 1, "c")


def test_wrong_password_and_unknown_user_fail_alike() -> None:
    auth = DigestAuthenticator("switchbox", SECRET)
    wrong = auth.verify("REGISTER", answer(auth, 0.0, password="guess"), lookup, 1.0)
    unknown = auth.verify("REGISTER", answer(auth, 0.0, user="999"), lookup, 1.0)
    assert wrong == unknown
    assert (wrong.outcome, wrong.reason, wrong.username) == (AuthOutcome.FAILED, BAD_CREDENTIALS,
                                                            None)


def test_unknown_user_is_checked_against_a_dummy_password() -> None:
    calls: list[str] = []

    def spy(user: str) -> str | None:
        calls.append(user)
        return None

    auth = DigestAuthenticator("switchbox", SECRET)
    assert not auth.verify("REGISTER", answer(auth, 0.0, user="999"), spy, 1.0).ok
    assert calls == ["999"]


def test_expired_nonce_with_right_password_is_stale() -> None:
    auth = DigestAuthenticator("switchbox", SECRET, nonce_ttl_s=300)
    value = answer(auth, 0.0)
    assert auth.verify("REGISTER", value, lookup, 299.0).ok
    stale = auth.verify("REGISTER", answer(auth, 0.0, nc=2), lookup, 301.0)
    assert stale.outcome is AuthOutcome.STALE and stale.username == "200"
    wrong = auth.verify("REGISTER", answer(auth, 0.0, password="x"), lookup, 301.0)
    assert wrong.outcome is AuthOutcome.FAILED


def test_forged_or_foreign_nonce_fails() -> None:
    auth = DigestAuthenticator("switchbox", SECRET)
    other = DigestAuthenticator("switchbox", b"another secret of 32 bytes......")
    result = auth.verify("REGISTER", answer(other, 0.0), lookup, 1.0)
    assert result.reason == "unknown nonce"
    tampered = answer(auth, 0.0).replace('nonce="AAAA', 'nonce="AAAB')
    assert auth.verify("REGISTER", tampered, lookup, 1.0).reason == "unknown nonce"


def test_replayed_nonce_count_fails_and_window_is_bounded() -> None:
    auth = DigestAuthenticator("switchbox", SECRET, replay_window=3)
    value = answer(auth, 0.0)
    assert auth.verify("REGISTER", value, lookup, 1.0).ok
    assert auth.verify("REGISTER", value, lookup, 1.0).reason == "replayed nonce count"
    assert auth.verify("REGISTER", answer(auth, 0.0, nc=2), lookup, 1.0).ok
    for nc in range(3, 10):
        auth.verify("REGISTER", answer(auth, 0.0, nc=nc), lookup, 1.0)
    assert len(auth._seen) == 3


def test_phones_challenged_in_the_same_millisecond_each_get_in_with_nc_1() -> None:
    # After a power cut every phone registers at once; each starts its nonce count at 1.
    auth = DigestAuthenticator("switchbox", SECRET)
    values = [answer(auth, 5.0, nc=1) for _ in range(4)]
    assert len({parse_auth(v).get("nonce") for v in values}) == 4
    assert all(auth.verify("REGISTER", v, lookup, 5.0).ok for v in values)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [(lambda v: "Basic dXNlcjpwYXNz", "not digest"),
     (lambda v: v.replace('realm="switchbox"', 'realm="evil"'), "wrong realm"),
     (lambda v: v.replace("algorithm=SHA-256", "algorithm=SHA-256-sess"), "unsupported algorithm"),
     (lambda v: v.replace("qop=auth", "qop=auth-int"), "unsupported qop"),
     (lambda v: v.replace("nc=00000001", "nc=1"), "malformed nc or cnonce"),
     (lambda v: v.replace('uri="sip:pbx"', 'uri="sip:other"'), "uri mismatch"),
     (lambda v: v.split(", response=")[0], "incomplete credentials"),
     (lambda v: 'Digest username="unterminated', "malformed credentials")],
)
def test_malformed_credentials_fail_with_reason(mutate: object, reason: str) -> None:
    auth = DigestAuthenticator("switchbox", SECRET)
    assert callable(mutate)
    value = mutate(answer(auth, 0.0))
    result = auth.verify("REGISTER", value, lookup, 1.0, request_uri="sip:pbx")
    assert (result.outcome, result.reason) == (AuthOutcome.FAILED, reason)


def test_choose_challenge_prefers_sha256() -> None:
    auth = DigestAuthenticator("switchbox", SECRET)
    md5_first = list(reversed(auth.challenge(0.0)))
    chosen = choose_challenge(["Basic realm=x", "garbage", *md5_first])
    assert chosen is not None and chosen.get("algorithm") == "SHA-256"
    assert choose_challenge(md5_first[1:]) is not None
    assert choose_challenge(["Basic realm=x"]) is None


def test_failure_throttle_locks_out_a_source_then_releases() -> None:
    throttle = FailureThrottle(max_failures=3, window_s=60.0, lockout_s=300.0)
    assert not throttle.record_failure("10.0.0.9", 0.0)
    assert not throttle.record_failure("10.0.0.9", 1.0)
    assert throttle.allowed("10.0.0.8", 1.0)
    assert throttle.record_failure("10.0.0.9", 2.0)
    assert not throttle.allowed("10.0.0.9", 100.0)
    assert throttle.retry_after_s("10.0.0.9", 100.0) == pytest.approx(202.0)
    assert throttle.allowed("10.0.0.9", 302.0)


def test_failure_throttle_forgets_old_failures_and_successes() -> None:
    throttle = FailureThrottle(max_failures=2, window_s=10.0, lockout_s=30.0)
    throttle.record_failure("a", 0.0)
    assert not throttle.record_failure("a", 11.0)    # the first fell out of the window
    throttle.record_success("a")
    assert not throttle.record_failure("a", 12.0)


def test_failure_throttle_memory_is_bounded() -> None:
    throttle = FailureThrottle(max_failures=1, lockout_s=10.0, max_sources=100)
    for i in range(10_000):
        throttle.record_failure(f"10.{i // 256}.{i % 256}.1", float(i))
        throttle.record_failure(f"spray-{i}", float(i)) if i % 2 else None
    assert len(throttle) <= 200


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(
    ["Digest ", "username=", '"200"', ", ", "realm=", '"switchbox"', "nonce=", '"', "\\", "=",
     "qop=auth", "nc=00000001", "response=", "algorithm=MD5", "uri=", "é"]),
    max_size=30).map("".join)))
def test_verify_never_raises_on_peer_input(value: str) -> None:
    auth = DigestAuthenticator("switchbox", SECRET)
    result = auth.verify("INVITE", value, lookup, 1.0)
    assert not result.ok


def test_configured_algorithms_set_the_challenge_and_what_is_accepted() -> None:
    auth = DigestAuthenticator("switchbox", SECRET, algorithms=[Algorithm.SHA256])
    assert [parse_auth(v).get("algorithm") for v in auth.challenge(0.0)] == ["SHA-256"]
    both = DigestAuthenticator("switchbox", SECRET)
    md5 = answer(both, 0.0, index=1)
    assert auth.verify("REGISTER", md5, lookup, 1.0).reason == "unsupported algorithm"
    assert auth.verify("REGISTER", answer(auth, 0.0), lookup, 1.0).ok
