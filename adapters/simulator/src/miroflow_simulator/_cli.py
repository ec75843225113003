"""``miroflow-simulator``: serve a simulated Miro with one or more registered apps.

    miroflow-simulator --port 8765 --redirect-uri http://localhost:8000/callback

As Miro serves miro.com and api.miro.com apart, the consent host listens on ``--port`` and the
API host on ``--api-port`` (``--port`` + 1 by default; both free ports with ``--port 0``);
``--single-host`` serves both on one port. The app comes from flags, or the apps from a small
JSON or TOML file (``--config``; flags win for the first app). The environment variables a
client needs are printed, then the server runs until interrupted. It listens on 127.0.0.1
unless ``--host`` says otherwise.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from miroflow import MiroflowError
from miroflow.simulator import DEFAULT_SCOPES, ID_FIELDS, LEGACY_REVOKE_PATH

from ._browser import SIGN_IN_PATH, SignIn
from ._serve import bind, uvicorn_server
from ._simulator import CONTROL_PREFIX, Simulator

__all__ = ["main"]

DEFAULT_REDIRECT_URI = "http://localhost:8000/callback"
_APP_KEYS = ("client_id", "client_secret", "redirect_uris", "expiring", "scopes", "name")
_KEYS = (
    *_APP_KEYS,
    "apps",
    "big_team_ids",
    "number_ids",
    "return_empty_state",
    "v1_revoke_unknown_ok",
    "sign_in",
    "auto_approve",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="miroflow-simulator",
        description="Serve a simulated Miro OAuth 2.0 authorization server.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=8765, help="consent host's port (0: free)")
    parser.add_argument("--api-port", type=int, help="API host's port (default --port + 1)")
    parser.add_argument(
        "--single-host", action="store_true", help="serve the consent host and the API on one port"
    )
    parser.add_argument("--config", type=Path, help="a JSON or TOML file describing the apps")
    parser.add_argument("--client-id", help="the app's client ID (drawn if absent)")
    parser.add_argument("--client-secret", help="the app's client secret (drawn if absent)")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        help=f"a registered redirect URI, repeatable (default {DEFAULT_REDIRECT_URI})",
    )
    parser.add_argument(
        "--non-expiring",
        dest="expiring",
        action="store_false",
        default=None,
        help="tokens never expire (no refresh token, no expires_in)",
    )
    parser.add_argument("--scopes", help=f"space-separated (default {' '.join(DEFAULT_SCOPES)})")
    parser.add_argument(
        "--big-team-ids",
        action="store_true",
        default=None,
        help="send team_id as a bare JSON number (the same as --number-ids team_id)",
    )
    parser.add_argument(
        "--number-ids",
        help=f"comma-separated IDs sent as bare JSON numbers, of: {', '.join(ID_FIELDS)}",
    )
    parser.add_argument(
        "--drop-empty-state",
        dest="return_empty_state",
        action="store_false",
        default=None,
        help="an empty state= is not sent back (by default it comes back as state=)",
    )
    parser.add_argument(
        "--sign-in",
        choices=[mode.value for mode in SignIn],
        help="automatic (default): a browser without a session is the first user; "
        "page: it signs in first",
    )
    parser.add_argument(
        "--auto-approve",
        metavar="USER_ID",
        nargs="?",
        const="",
        help="skip the consent page: approve at once as this user (the first if none given)",
    )
    parser.add_argument(
        "--public-url", help="the URL clients use to reach the consent host (default from host)"
    )
    parser.add_argument("--public-api-url", help="the URL clients use to reach the API host")
    return parser


def _load_config(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
        document: Any = tomllib.loads(text)
    else:
        document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("The config file must hold an object/table.")
    _check_keys(document, _KEYS, "the config file")
    apps = document.get("apps", [])
    if not isinstance(apps, list) or not all(isinstance(app, dict) for app in apps):
        raise ValueError("'apps' must be a list of tables/objects.")
    for app in apps:
        _check_keys(app, _APP_KEYS, "an app")
    return document


def _check_keys(document: dict[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = set(document) - set(allowed)
    if unknown:
        raise ValueError(f"Unknown keys in {where}: {', '.join(sorted(unknown))}.")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = _load_config(args.config) if args.config else {}
    flags = {
        "client_id": args.client_id,
        "client_secret": args.client_secret,
        "redirect_uris": args.redirect_uris,
        "expiring": args.expiring,
        "scopes": args.scopes.split() if args.scopes else None,
        "big_team_ids": args.big_team_ids,
        "number_ids": args.number_ids.replace(",", " ").split() if args.number_ids else None,
        "return_empty_state": args.return_empty_state,
        "sign_in": args.sign_in,
        "auto_approve": args.auto_approve,
    }
    settings.update({key: value for key, value in flags.items() if value is not None})
    apps: list[dict[str, Any]] = [dict(app) for app in settings.pop("apps", [])]
    top = {key: settings.pop(key) for key in _APP_KEYS if key in settings}
    if top or not apps:
        apps.insert(0, top)
    for app in apps:
        if isinstance(app.get("redirect_uris"), str):
            app["redirect_uris"] = [app["redirect_uris"]]
        app.setdefault("redirect_uris", [DEFAULT_REDIRECT_URI])
    settings["apps"] = apps
    return settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _configure(simulator: Simulator, settings: dict[str, Any]) -> None:
    for app in settings["apps"]:
        simulator.register_app(
            app["redirect_uris"],
            client_id=app.get("client_id"),
            client_secret=app.get("client_secret"),
            expiring=bool(app.get("expiring", True)),
            scopes=tuple(app.get("scopes") or DEFAULT_SCOPES),
            name=str(app.get("name") or "Simulated app"),
        )
    number_ids = set(settings.get("number_ids") or ())
    if settings.get("big_team_ids"):
        number_ids.add("team_id")
    simulator.server.set_number_ids(number_ids)
    simulator.server.set_return_empty_state(bool(settings.get("return_empty_state", True)))
    simulator.server.set_v1_revoke_unknown_ok(bool(settings.get("v1_revoke_unknown_ok", False)))
    simulator.sign_in = SignIn(settings.get("sign_in", SignIn.AUTOMATIC))
    if settings.get("auto_approve") is not None:
        simulator.auto_approve(settings["auto_approve"] or None)


def _banner(simulator: Simulator) -> list[str]:
    apps = list(simulator.apps.values())
    lines = [f"miroflow simulator serving on {simulator.base_url}"]
    if simulator.api_url != simulator.base_url:
        lines.append(f"API host:               {simulator.api_url}")
    lines += ["", *(f"{k}={v}" for k, v in simulator.environment(apps[0]).items()), ""]
    lines += [
        f"authorize endpoint:     {simulator.environment()['MIRO_AUTHORIZE_URL']}",
        f"token endpoint:         {simulator.environment()['MIRO_TOKEN_URL']}",
        f"revoke endpoint:        {simulator.environment()['MIRO_REVOKE_URL']}",
        f"v1 revoke (deprecated): {simulator.api_endpoint(LEGACY_REVOKE_PATH)}",
        f"token context endpoint: {simulator.environment()['MIRO_TOKEN_CONTEXT_URL']}",
        f"sign-in page:           {simulator.endpoint(SIGN_IN_PATH)}",
        f"test controls:          {simulator.endpoint(CONTROL_PREFIX)}/state",
        *(f"also registered redirect URI: {uri}" for uri in apps[0].redirect_uris[1:]),
    ]
    for number, app in enumerate(apps[1:], start=2):
        lines += [
            "",
            f"app {number} ({app.name}): client id {app.client_id}, "
            f"secret {app.client_secret.reveal()}, redirect URIs {' '.join(app.redirect_uris)}",
        ]
    return [*lines, "", "Press Ctrl+C to stop."]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sockets: list[socket.socket] = []
    try:
        settings = _settings(args)
        sockets.append(bind(args.host, args.port))
        if not args.single_host:
            api_port = args.api_port
            if api_port is None:
                api_port = args.port + 1 if args.port else 0
            sockets.append(bind(args.host, api_port))
    except (OSError, ValueError) as error:
        for sock in sockets:
            sock.close()
        print(f"miroflow-simulator: {error}", file=sys.stderr)
        return 2
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    urls = [f"http://{shown_host}:{sock.getsockname()[1]}" for sock in sockets]
    base_url = args.public_url or urls[0]
    api_url = args.public_api_url or (urls[-1] if len(urls) > 1 else base_url)
    try:
        simulator = Simulator(base_url=base_url, api_url=api_url)
        _configure(simulator, settings)
    except (MiroflowError, ValueError) as error:
        for sock in sockets:
            sock.close()
        print(f"miroflow-simulator: {error}", file=sys.stderr)
        return 2
    if not _is_loopback(args.host):
        print(
            f"WARNING: listening on {args.host}, not loopback: anyone who can reach this "
            "machine can use the simulator.",
            file=sys.stderr,
        )
    print("\n".join(_banner(simulator)), flush=True)
    server = uvicorn_server(simulator, log_level="info", show_access=True)
    try:
        server.run(sockets=sockets)
    except KeyboardInterrupt:  # pragma: no cover - uvicorn handles the signal itself
        pass
    finally:
        for sock in sockets:
            sock.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
