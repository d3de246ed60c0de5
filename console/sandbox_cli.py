"""`syncops sandbox …`: reset the demo data, serve the fakes on loopback, inject faults."""
from __future__ import annotations

import asyncio

import click
from rich.console import Console
from rich.text import Text

from engine.workspace import Workspace

out = Console(highlight=False)


@click.group()
def sandbox() -> None:
    """The embedded fake Zoho CRM and Mailchimp."""


@sandbox.command()
@click.option("--records", default=2000, show_default=True, help="Contacts in the large demo org.")
@click.option("--seed", default=7, show_default=True)
@click.pass_context
def reset(ctx: click.Context, records: int, seed: int) -> None:
    """Fresh demo accounts, profiles and data (sandbox profiles' history is cleared)."""
    summary = Workspace(ctx.obj).reset_sandbox(records, seed)
    for account, counts in summary["records"].items():
        out.print(Text(f"{account}: " + ", ".join(f"{v} {k}" for k, v in counts.items())))
    out.print(Text("profiles: " + "; ".join(summary["profiles"])))


@sandbox.command()
@click.option("--port", default=8765, show_default=True)
@click.pass_context
def serve(ctx: click.Context, port: int) -> None:
    """Serve the fakes on 127.0.0.1:PORT; point syncops at it with SYNCOPS_SANDBOX_PORT=PORT."""
    from engine.sandbox.server import serve as serve_sandbox

    ws = Workspace(ctx.obj)
    out.print(Text(f"sandbox on 127.0.0.1:{port} (data in {ws.layout.sandbox}); Ctrl-C stops"))
    try:
        asyncio.run(serve_sandbox(ws.sandbox, port))
    except KeyboardInterrupt:
        pass


@sandbox.command()
@click.option("--rate-429", type=float, default=None)
@click.option("--rate-5xx", type=float, default=None)
@click.option("--rate-timeout", type=float, default=None)
@click.option("--latency-ms", type=float, default=None)
@click.option("--retry-after", "retry_after_s", type=float, default=None)
@click.option("--token-ttl-requests", type=int, default=None, help="Expire Zoho access tokens after N requests.")
@click.option("--fake-domain", "fake_domains", multiple=True, help="Domains Mailchimp rejects as fake.")
@click.option("--clear", is_flag=True, help="Turn every fault off.")
@click.pass_context
def faults(ctx: click.Context, clear: bool, fake_domains: tuple[str, ...], **knobs) -> None:
    """Show or set fault injection."""
    from engine.sandbox.state import Faults

    ws = Workspace(ctx.obj)
    box = ws.sandbox
    with box.lock:
        box.state.load()
        current = Faults() if clear else box.state.faults
        for name, value in knobs.items():
            if value is not None:
                setattr(current, name, value)
        if fake_domains:
            current.fake_domains = list(fake_domains)
        box.state.faults = current
        box.state.save()
    out.print(Text(", ".join(f"{k}={v}" for k, v in current.to_doc().items())))
