"""Sign-in with the council's identity provider: OpenID Connect, authorization code flow with PKCE.

Microsoft Entra ID is the usual provider; any conforming one works. The browser is sent to the provider with a
fresh ``state``, ``nonce`` and PKCE challenge (kept in a short-lived HttpOnly cookie bound to that browser); on
its return the state must match, the code is exchanged for tokens with the PKCE verifier, and the ID token is
checked: signature against the provider's published keys (JWKS), issuer, audience, expiry and nonce. Its claims
name the user and give their role and teams (:func:`map_claims`); the user is then signed in with an ordinary
server-side web session (:func:`services.alerts.auth.start_web_session`), never holding a provider token.

Authlib does the protocol work (authorization URL with PKCE, code exchange) and joserfc, its JOSE library, checks
the ID token; this module keeps the carewatch rules.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import httpx
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from carewatch.settings import AlertsProcess
from services.alerts.auth import Principal
from services.alerts.models import User, UserTeam

ROLE_PRECEDENCE: Final = ("admin", "manager", "board")
"""With several mapped roles, the first of these wins."""
FLOW_COOKIE: Final = "carewatch_oidc"
SIGNED_IN_COOKIE: Final = "carewatch_oidc_session"
"""Marks a browser signed in through the provider, so signing out signs it out of the provider too."""
FLOW_PATH: Final = "/login/oidc"
FLOW_SECONDS: Final = 600
"""How long a browser has to come back from the provider."""
METADATA_SECONDS: Final = 3600.0
CLOCK_LEEWAY_SECONDS: Final = 60


class OidcError(Exception):
    """A sign-in that must be refused; ``reason`` is a short audit word, the message is for the person."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


OVERAGE_ROLE: Final = (
    "Your account is in more groups than the sign-in can list, so carewatch cannot tell your role: ask an "
    "administrator to give you a carewatch app role, or to send only the groups assigned to carewatch."
)
OVERAGE_TEAMS: Final = (
    "Your account is in more groups than the sign-in can list, so carewatch cannot tell your teams and has none "
    "recorded for you: ask an administrator to set your teams in carewatch (carewatch users teams), or to send "
    "only the groups assigned to carewatch."
)


@dataclass(frozen=True)
class Identity:
    name: str
    role: str
    teams: frozenset[str] | None
    """None: the provider left the teams claim out (groups overage); the teams carewatch has recorded stand."""


def overage(claims: Mapping[str, Any], claim: str) -> bool:
    """Whether the provider left ``claim`` out of the token because there were too many values to list.

    Microsoft Entra ID does so past 200 groups (150 in SAML, 6 in the implicit flow): the ID token then names
    the claim in ``_claim_names`` (pointing at a Graph endpoint through ``_claim_sources``) or says
    ``hasgroups: true``, with no ``groups`` claim. carewatch does not call Graph: it uses what it already
    knows of the user, or refuses with a message saying what an administrator can change."""
    names = claims.get("_claim_names")
    if isinstance(names, Mapping) and claim in names:
        return True
    return claim == "groups" and claim not in claims and claims.get("hasgroups") in (True, "true", "True")


def _values(claim: Any) -> list[str]:
    if claim is None:
        return []
    if isinstance(claim, str):
        return [claim]
    if isinstance(claim, list | tuple):
        return [str(v) for v in claim]
    return [str(claim)]


def map_claims(claims: Mapping[str, Any], settings: AlertsProcess) -> Identity:
    """Name, carewatch role and teams from validated ID-token claims, by the configured claim names and maps.

    Role: every value of the roles claim found in ``oidc_role_map``; admin wins over manager over board; none
    mapped = refused. Teams (managers only): values of the teams claim through ``oidc_team_map``, or the values
    themselves when no map is configured. Teams carewatch does not know still sign in (the page says so)."""
    name = claims.get(settings.oidc.username_claim) or claims.get("email") or claims.get("sub")
    if not isinstance(name, str) or not name.strip():
        raise OidcError("no-name", "Your account did not say who you are: ask an administrator to check the set-up.")
    name = name.strip()
    if len(name) > 64:
        raise OidcError("name-too-long", "Your account name is too long for carewatch (64 characters at most).")
    role_map = settings.oidc.role_map
    mapped = {role_map[v] for v in _values(claims.get(settings.oidc.roles_claim)) if v in role_map}
    role = next((r for r in ROLE_PRECEDENCE if r in mapped), None)
    if role is None and overage(claims, settings.oidc.roles_claim):
        raise OidcError("groups-overage", OVERAGE_ROLE)
    if role is None:
        raise OidcError("no-role", "Your account has no carewatch role: ask an administrator to grant one.")
    if role != "manager":
        return Identity(name, role, frozenset())
    if overage(claims, settings.oidc.teams_claim):
        return Identity(name, role, None)
    raw = _values(claims.get(settings.oidc.teams_claim))
    if settings.oidc.team_map:
        teams = {settings.oidc.team_map[v] for v in raw if v in settings.oidc.team_map}
    else:
        teams = {v.strip() for v in raw if v.strip() and len(v.strip()) <= 64}
    return Identity(name, role, frozenset(teams))


def sign_in_user(session: Session, identity: Identity, now: datetime) -> Principal:
    """The carewatch user for ``identity``, created on first sign-in, role and teams refreshed from the claims
    every time. A user revoked with ``carewatch users revoke`` stays out. When the provider could not list the
    teams (groups overage), a manager keeps the teams carewatch has recorded; with none recorded, refused."""
    user = session.scalar(select(User).where(User.name == identity.name))
    if user is not None and user.revoked_at is not None:
        raise OidcError("revoked", "Your carewatch access has been revoked.")
    current = {t.team for t in user.teams} if user is not None and user.role == "manager" else set()
    if identity.teams is None and not current:
        raise OidcError("groups-overage", OVERAGE_TEAMS)
    if user is None:
        user = User(name=identity.name, role=identity.role, created_at=now, teams=[])
        session.add(user)
    user.role = identity.role
    teams = frozenset(current) if identity.teams is None else identity.teams
    if {t.team for t in user.teams} != set(teams):
        user.teams = [UserTeam(team=t) for t in sorted(teams)]
    session.flush()
    return Principal(identity.name, identity.role, teams)


# The provider: discovery document and keys, cached ---------------------------------------------------------


class Provider:
    """The configured provider's metadata and keys (fetched on first use, refreshed hourly or on an unknown key)."""

    def __init__(self, settings: AlertsProcess) -> None:
        if not settings.oidc.issuer or not settings.oidc.client_id:
            raise ValueError("OpenID Connect is not configured")
        self.settings = settings
        self.issuer = settings.oidc.issuer.rstrip("/")
        self.client_id = settings.oidc.client_id
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None
        self._fetched = 0.0

    def _get(self, url: str) -> dict[str, Any]:
        response = httpx.get(url, timeout=self.settings.oidc.http_timeout_seconds)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def metadata(self, refresh: bool = False) -> dict[str, Any]:
        with self._lock:
            if refresh or self._metadata is None or time.monotonic() - self._fetched > METADATA_SECONDS:
                meta = self._get(f"{self.issuer}/.well-known/openid-configuration")
                if meta.get("issuer", "").rstrip("/") != self.issuer:
                    raise OidcError("issuer-mismatch", "The identity provider is misconfigured (issuer mismatch).")
                self._metadata = meta
                self._jwks = self._get(meta["jwks_uri"])
                self._fetched = time.monotonic()
            return self._metadata

    def jwks(self, refresh: bool = False) -> dict[str, Any]:
        self.metadata(refresh=refresh)
        assert self._jwks is not None
        return self._jwks

    def client(self, redirect_uri: str) -> OAuth2Session:
        secret = self.settings.oidc.client_secret
        return OAuth2Session(
            client_id=self.client_id,
            client_secret=secret.get_secret_value() if secret is not None else None,
            token_endpoint_auth_method="client_secret_basic" if secret is not None else "none",
            scope=" ".join(self.settings.oidc.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )


@dataclass(frozen=True)
class Flow:
    """One browser's trip to the provider: what it must bring back (``state``) and what the ID token must carry."""

    state: str
    nonce: str
    verifier: str

    def cookie(self) -> str:
        return f"{self.state}.{self.nonce}.{self.verifier}"

    @classmethod
    def from_cookie(cls, value: str | None) -> Flow | None:
        parts = (value or "").split(".")
        if len(parts) != 3 or not all(parts):
            return None
        return cls(*parts)


def start(provider: Provider, redirect_uri: str) -> tuple[str, Flow]:
    """The provider URL to send the browser to, and the flow to remember in the browser's cookie."""
    flow = Flow(generate_token(32), generate_token(32), generate_token(48))
    with provider.client(redirect_uri) as client:
        url, _ = client.create_authorization_url(
            provider.metadata()["authorization_endpoint"],
            state=flow.state,
            nonce=flow.nonce,
            code_verifier=flow.verifier,
        )
    return url, flow


def finish(provider: Provider, redirect_uri: str, flow: Flow | None, params: Mapping[str, str]) -> dict[str, Any]:
    """Check the provider's answer against ``flow``, exchange the code and return the validated ID-token claims."""
    import hmac

    if flow is None:
        raise OidcError("no-flow", "The sign-in took too long or was started elsewhere: please try again.")
    if not hmac.compare_digest(params.get("state", ""), flow.state):
        raise OidcError("state-mismatch", "The sign-in could not be verified: please try again.")
    if "error" in params:
        raise OidcError("provider-error", "Your council account did not sign you in: please try again.")
    code = params.get("code")
    if not code:
        raise OidcError("no-code", "The sign-in could not be verified: please try again.")
    try:
        with provider.client(redirect_uri) as client:
            token = client.fetch_token(
                provider.metadata()["token_endpoint"],
                code=code,
                code_verifier=flow.verifier,
                state=flow.state,
                timeout=provider.settings.oidc.http_timeout_seconds,
            )
    except Exception as exc:  # Authlib's OAuth errors and transport errors alike: nothing of them is shown
        raise OidcError("token-exchange", "The identity provider refused the sign-in: please try again.") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise OidcError("no-id-token", "The identity provider sent no ID token.")
    return validate_id_token(provider, id_token, flow.nonce)


def end_session_url(provider: Provider, post_logout_redirect_uri: str) -> str | None:
    """Where to send a browser signing out so it signs out of the provider too (OpenID Connect RP-initiated
    logout), or None when the provider publishes no ``end_session_endpoint``. No ID token is kept, so none is
    sent as a hint: the provider may ask which account to sign out."""
    from urllib.parse import urlencode

    endpoint = provider.metadata().get("end_session_endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        return None
    query = urlencode({"client_id": provider.client_id, "post_logout_redirect_uri": post_logout_redirect_uri})
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def validate_id_token(provider: Provider, id_token: str, nonce: str) -> dict[str, Any]:
    """The ID token's claims once its signature (the provider's JWKS), issuer, audience, expiry and nonce hold."""
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY_SECONDS,
        iss={"essential": True, "value": provider.metadata()["issuer"]},
        aud={"essential": True, "value": provider.client_id},
        exp={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    for refresh in (False, True):  # an unknown key may be a rotation: fetch the keys once more
        keys = KeySet.import_key_set(provider.jwks(refresh=refresh))  # type: ignore[arg-type]
        try:
            token = jwt.decode(id_token, keys)
        except (ValueError, JoseError) as exc:
            if refresh:
                raise OidcError("bad-signature", "The sign-in could not be verified.") from exc
            continue
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            raise OidcError(f"id-token-{exc.error}", "The sign-in could not be verified.") from exc
        return dict(token.claims)
    raise OidcError("bad-signature", "The sign-in could not be verified.")
