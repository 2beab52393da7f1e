"""``syncframe serve``: webhook endpoints and scheduled flows in one long-running process."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from syncframe.cli.commands.config import load_flow_file
from syncframe.cli.errors import UserError, guarded
from syncframe.cli.output import console
from syncframe.host import Host


def register(app: typer.Typer, host: Host) -> None:
    """Add the ``serve`` command."""

    @app.command("serve")
    @guarded
    def serve(
        file: Path = typer.Argument(
            ..., help="The flow file (TOML or YAML).", metavar="FILE", show_default=False
        ),
        bind: str = typer.Option(
            "127.0.0.1", "--host", metavar="ADDRESS", help="Address to listen on."
        ),
        port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port to listen on."),
        schedules: bool = typer.Option(
            True,
            "--schedules/--no-schedules",
            help="Also run the flows that have a [flows.X.schedule] on it.",
        ),
    ) -> None:
        """Serve the flow file: receive webhooks at /webhooks/FLOW for the flows whose source
        takes them (each delivery is stored, then its flow runs at once) and run scheduled
        flows on their schedules, until Ctrl-C."""
        import uvicorn

        from syncframe.engine import Engine
        from syncframe.serve import service_app

        loaded = load_flow_file(file, host)
        out = console()
        with Engine(loaded, host) as engine:
            app = service_app(engine, schedules=schedules)
            service = app.state.service
            hooks, timed = service.webhook_flows(), service.scheduled_flows()
            plugin_paths: list[str] = app.state.plugin_paths
            if not hooks and not (schedules and timed) and not plugin_paths:
                raise UserError(
                    f"{file}: nothing to serve: no flow takes webhooks"
                    + ("" if schedules else " (and --no-schedules)")
                    + ", no enabled flow has a schedule and no plugin serves an API for it"
                )
            shown = "127.0.0.1" if bind in ("0.0.0.0", "::") else bind
            for path in plugin_paths:
                out.print(f"plugin endpoint: http://{shown}:{port}{path}", highlight=False)
            for name in hooks:
                out.print(
                    f"webhooks for flow {name}: POST http://{shown}:{port}/webhooks/{name}",
                    highlight=False,
                )
            for name, every in timed if schedules else ():
                out.print(f"flow {name} runs every {every}", highlight=False)
            config = uvicorn.Config(app, host=bind, port=port, log_level="warning", lifespan="on")
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how serving ends
                uvicorn.Server(config).run()
            out.print("stopped", style="yellow")
