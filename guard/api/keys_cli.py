"""``videoguard keys``: create, list and revoke API keys (mounted by ``guard.cli``).

The key is printed once at creation and never stored; only its SHA-256 is kept.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from guard.api.keys import SCOPES, KeyStore

keys_app = typer.Typer(help="API keys for the moderation API.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@keys_app.command("create")
def create(
    scope: Annotated[list[str], typer.Option("--scope", help=f"A scope to grant ({', '.join(SCOPES)}); repeatable.")],
    name: Annotated[str, typer.Option("--name", help="A label to recognise the key by.")] = "",
    rate: Annotated[float | None, typer.Option("--rate", help="Requests per second (default: the server's).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it once.

    Example: videoguard keys create --scope moderate --scope generate --name ci --rate 50
    """
    store = KeyStore()
    record, secret = store.create(scope, name=name, rate_per_s=rate)
    if as_json:
        typer.echo(json.dumps({**record.to_dict(), "key": secret}))
    else:
        typer.echo(secret)
        typer.echo(f"key id {record.key_id}, scopes {','.join(sorted(record.scopes))}: store the key now, "
                   "it is not shown again", err=True)


@keys_app.command("list")
def list_keys(as_json: JsonOpt = False) -> None:
    """List key ids, names, scopes and rates (never the keys)."""
    for record in KeyStore().list():
        if as_json:
            typer.echo(json.dumps(record.to_dict()))
        else:
            state = "revoked" if record.revoked_at is not None else "active"
            rate = f"{record.rate_per_s:g}/s" if record.rate_per_s else "default rate"
            typer.echo(f"{record.key_id}  {state:7}  {','.join(sorted(record.scopes)):24}  {rate:12}  {record.name}")


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id shown by create or list.")],
           as_json: JsonOpt = False) -> None:
    """Revoke a key; it stops working at once, also for a running server."""
    record = KeyStore().revoke(key_id)
    if as_json:
        typer.echo(json.dumps(record.to_dict()))
    else:
        typer.echo(f"revoked {record.key_id} ({record.name})")
