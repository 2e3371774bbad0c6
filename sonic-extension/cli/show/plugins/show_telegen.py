"""sonic-utilities `show telegen ...`: a click plugin that sonic-package-manager installs.

The image carries it at /cli/show/plugins/ (the manifest's `cli.show`, laid out as SONiC's own
extensions lay theirs); sonic-package-manager copies it to the host's
show/plugins/telegen-sonic.py, which sonic-utilities imports, calling `register(cli)`. Each
command runs the agent's own `show` verb inside the telegen-sonic container, so the host needs
nothing else.
"""
import subprocess

import click

CONTAINER = "telegen-sonic"


def _show(what: str, fmt: str) -> None:
    cmd = ["docker", "exec", CONTAINER, "telegen-sonic", "show", what, "--format", fmt]
    result = subprocess.run(cmd, capture_output=True, text=True)
    click.echo(result.stdout, nl=False)
    if result.returncode:
        raise click.ClickException(result.stderr.strip() or f"{' '.join(cmd)} failed")


@click.group(name="telegen", help="telegen-sonic: probes, mirror sessions and the agent's model")
def telegen():
    pass


def _command(what: str):
    @click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
    def command(fmt):
        _show(what, fmt)
    command.__name__ = what.replace("-", "_")
    return telegen.command(name=what, help=f"show {what} as the agent sees them")(command)


for _what in ("ports", "lags", "vlans", "mirror-sessions", "probes"):
    _command(_what)


def register(cli):
    cli.add_command(telegen)
