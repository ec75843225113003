"""``miroflow-simulator``: serve a simulated Miro with one registered app.

    miroflow-simulator --port 8765 --redirect-uri http://localhost:8000/callback

The app comes from flags or a small JSON or TOML file (``--config``; flags win). The values a
client needs are printed, then the server runs until interrupted. It listens on 127.0.0.1
unless ``--host`` says otherwise.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from miroflow import MiroflowError
from miroflow.simulator import CONTEXT_PATH, DEFAULT_SCOPES, REVOKE_PATH, TOKEN_PATH

from ._serve import bind, uvicorn_server
from ._simulator import AUTHORIZE_PATH, CONTROL_PREFIX, Simulator

__all__ = ["main"]

DEFAULT_REDIRECT_URI = "http://localhost:8000/callback"
_KEYS = ("client_id", "client_secret", "redirect_uris", "expiring", "scopes", "big_team_ids")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="miroflow-simulator",
        description="Serve a simulated Miro OAuth 2.0 authorization server for one app.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument("--config", type=Path, help="a JSON or TOML file describing the app")
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
        help="send team_id as a bare JSON number, as Miro sometimes does",
    )
    parser.add_argument(
        "--auto-approve",
        metavar="USER_ID",
        nargs="?",
        const="",
        help="skip the consent page: approve at once as this user (the first if none given)",
    )
    parser.add_argument(
        "--public-url", help="the URL clients use to reach the server (default from host/port)"
    )
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
    unknown = set(document) - set(_KEYS) - {"auto_approve"}
    if unknown:
        raise ValueError(f"Unknown keys in the config file: {', '.join(sorted(unknown))}.")
    return document


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = _load_config(args.config) if args.config else {}
    flags = {
        "client_id": args.client_id,
        "client_secret": args.client_secret,
        "redirect_uris": args.redirect_uris,
        "expiring": args.expiring,
        "scopes": args.scopes.split() if args.scopes else None,
        "big_team_ids": args.big_team_ids,
        "auto_approve": args.auto_approve,
    }
    settings.update({key: value for key, value in flags.items() if value is not None})
    if isinstance(settings.get("redirect_uris"), str):
        settings["redirect_uris"] = [settings["redirect_uris"]]
    settings.setdefault("redirect_uris", [DEFAULT_REDIRECT_URI])
    return settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
        sock = bind(args.host, args.port)
    except (OSError, ValueError) as error:
        print(f"miroflow-simulator: {error}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    base_url = args.public_url or f"http://{shown_host}:{port}"
    simulator = Simulator(base_url=base_url)
    try:
        app = simulator.register_app(
            settings["redirect_uris"],
            client_id=settings.get("client_id"),
            client_secret=settings.get("client_secret"),
            expiring=bool(settings.get("expiring", True)),
            scopes=tuple(settings.get("scopes") or DEFAULT_SCOPES),
        )
        simulator.server.set_big_team_ids(bool(settings.get("big_team_ids", False)))
        if settings.get("auto_approve") is not None:
            simulator.auto_approve(settings["auto_approve"] or None)
    except (MiroflowError, ValueError) as error:
        sock.close()
        print(f"miroflow-simulator: {error}", file=sys.stderr)
        return 2
    if not _is_loopback(args.host):
        print(
            f"WARNING: listening on {args.host}, not loopback: anyone who can reach this "
            "machine can use the simulator.",
            file=sys.stderr,
        )
    lines = [
        f"miroflow simulator serving on {simulator.base_url}",
        "",
        f"MIRO_CLIENT_ID={app.client_id}",
        f"MIRO_CLIENT_SECRET={app.client_secret.reveal()}",
        f"MIRO_REDIRECT_URL={app.redirect_uris[0]}",
        "",
        f"authorize endpoint:     {simulator.endpoint(AUTHORIZE_PATH)}",
        f"token endpoint:         {simulator.endpoint(TOKEN_PATH)}",
        f"revoke endpoint:        {simulator.endpoint(REVOKE_PATH)}",
        f"token context endpoint: {simulator.endpoint(CONTEXT_PATH)}",
        f"test controls:          {simulator.endpoint(CONTROL_PREFIX)}/state",
        *(f"also registered redirect URI: {uri}" for uri in app.redirect_uris[1:]),
        "",
        "Press Ctrl+C to stop.",
    ]
    print("\n".join(lines), flush=True)
    server = uvicorn_server(simulator, log_level="info")
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # pragma: no cover - uvicorn handles the signal itself
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
