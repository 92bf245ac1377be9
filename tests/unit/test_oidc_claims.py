"""OpenID Connect: claims to carewatch role and teams, and the ID-token checks (issuer, audience, expiry,
nonce, signature) against keys made here."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from carewatch.settings import Settings
from services.alerts.oidc import Flow, Identity, OidcError, Provider, map_claims, validate_id_token

ISSUER = "https://login.example.test/tenant/v2.0"
SETTINGS = Settings(
    oidc_issuer=ISSUER,
    oidc_client_id="carewatch-app",
    oidc_role_map={"CW.Manager": "manager", "CW.Board": "board", "CW.Admin": "admin"},
    oidc_team_map={"0b1c-north": "north", "7e2a-south": "south"},
)


def test_roles_and_teams_come_from_the_mapped_claims() -> None:
    claims = {"preferred_username": "a.b@council.test", "roles": ["CW.Manager"], "groups": ["0b1c-north", "zz"]}
    assert map_claims(claims, SETTINGS) == Identity("a.b@council.test", "manager", frozenset({"north"}))


def test_admin_wins_over_manager_over_board_and_only_managers_have_teams() -> None:
    both = {"preferred_username": "x", "roles": ["CW.Board", "CW.Admin", "CW.Manager"], "groups": ["0b1c-north"]}
    assert map_claims(both, SETTINGS) == Identity("x", "admin", frozenset())
    board = {"preferred_username": "x", "roles": ["CW.Board", "CW.Manager"], "groups": []}
    assert map_claims(board, SETTINGS).role == "manager"
    assert map_claims({"preferred_username": "x", "roles": "CW.Board"}, SETTINGS).role == "board"


def test_without_a_team_map_claim_values_are_team_names() -> None:
    settings = Settings(oidc_role_map={"m": "manager"}, oidc_teams_claim="teams")
    claims = {"email": "m@council.test", "roles": ["m"], "teams": ["north", " east "]}
    assert map_claims(claims, settings) == Identity("m@council.test", "manager", frozenset({"north", "east"}))


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"preferred_username": "x", "roles": ["Other"]}, "no-role"),
        ({"preferred_username": "x"}, "no-role"),
        ({"roles": ["CW.Admin"]}, "no-name"),
        ({"preferred_username": "x" * 65, "roles": ["CW.Admin"]}, "name-too-long"),
    ],
)
def test_refusals(claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(OidcError) as raised:
        map_claims(claims, SETTINGS)
    assert raised.value.reason == reason


def test_the_flow_cookie_round_trips_and_rejects_junk() -> None:
    flow = Flow("s", "n", "v")
    assert Flow.from_cookie(flow.cookie()) == flow
    assert Flow.from_cookie(None) is None
    assert Flow.from_cookie("a.b") is None
    assert Flow.from_cookie("a..c") is None


class KnownKeys(Provider):
    """The provider's published document and keys, without the network."""

    def __init__(self, keys: KeySet) -> None:
        super().__init__(SETTINGS)
        self.keys = keys
        self.fetches = 0

    def metadata(self, refresh: bool = False) -> dict[str, Any]:
        return {"issuer": ISSUER}

    def jwks(self, refresh: bool = False) -> dict[str, Any]:
        self.fetches += 1
        return self.keys.as_dict()


KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER = RSAKey.generate_key(2048, parameters={"kid": "k1"})
PROVIDER = KnownKeys(KeySet([KEY]))


def signed(key: RSAKey = KEY, alg: str = "RS256", **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "carewatch-app", "sub": "u1", "iat": now, "exp": now + 300, "nonce": "n1"}
    claims.update(changes)
    return jwt.encode({"alg": alg, "kid": "k1"}, {k: v for k, v in claims.items() if v is not None}, key)


def test_a_good_id_token_passes() -> None:
    assert validate_id_token(PROVIDER, signed(), "n1")["sub"] == "u1"
    assert validate_id_token(PROVIDER, signed(aud=["other", "carewatch-app"]), "n1")["sub"] == "u1"


@pytest.mark.parametrize(
    "token",
    [
        signed(iss="https://evil.test"),
        signed(aud="someone-else"),
        signed(exp=int(time.time()) - 3600),
        signed(exp=None),
        signed(nonce="replayed"),
        signed(nonce=None),
        signed(key=OTHER),
    ],
    ids=["issuer", "audience", "expired", "no-expiry", "nonce", "no-nonce", "signature"],
)
def test_a_bad_id_token_is_refused(token: str) -> None:
    with pytest.raises(OidcError):
        validate_id_token(PROVIDER, token, "n1")


def test_an_unsigned_id_token_is_refused() -> None:
    header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    body = signed().split(".")[1]
    with pytest.raises(OidcError):
        validate_id_token(PROVIDER, f"{header}.{body}.", "n1")


ENTRA_OVERAGE = {
    "_claim_names": {"groups": "src1"},
    "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/tenant/users/oid/getMemberObjects"}},
}


def test_groups_overage_leaves_a_managers_teams_to_carewatch() -> None:
    claims = {"preferred_username": "a.b@council.test", "roles": ["CW.Manager"], **ENTRA_OVERAGE}
    assert map_claims(claims, SETTINGS) == Identity("a.b@council.test", "manager", None)
    implicit = {"preferred_username": "a.b@council.test", "roles": ["CW.Manager"], "hasgroups": True}
    assert map_claims(implicit, SETTINGS).teams is None
    board = {"preferred_username": "b@council.test", "roles": ["CW.Board"], **ENTRA_OVERAGE}
    assert map_claims(board, SETTINGS) == Identity("b@council.test", "board", frozenset())


def test_groups_overage_on_the_roles_claim_is_refused_with_what_to_change() -> None:
    settings = SETTINGS.updated(oidc_roles_claim="groups", oidc_role_map={"g-manager": "manager"})
    with pytest.raises(OidcError, match="more groups than the sign-in can list") as refused:
        map_claims({"preferred_username": "x", **ENTRA_OVERAGE}, settings)
    assert refused.value.reason == "groups-overage"
    with pytest.raises(OidcError) as plain:  # no overage: the ordinary "no role" refusal
        map_claims({"preferred_username": "x", "groups": ["other"]}, settings)
    assert plain.value.reason == "no-role"


def test_an_odd_claim_names_value_is_not_an_overage() -> None:
    claims = {"preferred_username": "x", "roles": ["CW.Manager"], "groups": ["0b1c-north"], "_claim_names": "x"}
    assert map_claims(claims, SETTINGS).teams == frozenset({"north"})
    listed = {"preferred_username": "x", "roles": ["CW.Manager"], "groups": ["0b1c-north"], "hasgroups": True}
    assert map_claims(listed, SETTINGS).teams == frozenset({"north"})
