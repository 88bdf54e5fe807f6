"""`imgsim-stack up|down|status|logs|fetch|provision`: the native stack from one command."""

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Sequence

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from imgsim_stack import artifacts, credentials, kafka_security, provision
from imgsim_stack.components import Component, Connect, Kafka
from imgsim_stack.elasticsearch_node import Elasticsearch
from imgsim_stack.errors import StackError
from imgsim_stack.processes import port_in_use
from imgsim_stack.prometheus import Prometheus
from imgsim_stack.settings import StackSettings

console = Console(stderr=True, highlight=False, soft_wrap=True)


def report(message: str) -> None:
    console.print(f"  [dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


def check_java(settings: StackSettings) -> None:
    java = settings.java_home / "bin" / "java" if settings.java_home else None
    if java is None or not java.exists():
        raise StackError("java", "Java 17 or newer is required: install a JDK or set JAVA_HOME")
    output = subprocess.run([str(java), "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', output)
    if match is None or int(match.group(1)) < 17:
        raise StackError("java", f"Java 17 or newer is required, {java} is: {output.strip()}")


def components(settings: StackSettings) -> tuple[Elasticsearch, Kafka, Connect]:
    install = artifacts.installation(settings)
    return Elasticsearch(settings, install), Kafka(settings, install), Connect(settings, install)


def observability(settings: StackSettings) -> Prometheus:
    """Debian's Prometheus scraping the services: started when installed, never required."""
    return Prometheus(settings, artifacts.installation(settings))


def _launch(component: Component, started: list[Component]) -> None:
    if component.healthy():
        report(f"{component.name} already running and healthy")
        return
    if component.process.alive():
        report(f"{component.name} already starting")
        return
    for setting, port in component.ports.items():
        if port_in_use(component.settings.host, port):
            raise StackError(
                component.name,
                f"port {port} is already in use by another process; stop it or set {setting}",
            )
    component.prepare()
    started.append(component)
    pid = component.process.spawn(
        component.command(), component.environment(), component.home, component.user()
    )
    report(f"{component.name} started (pid {pid}), log {component.process.log}")


def _wait(component: Component, settings: StackSettings) -> None:
    t0 = time.monotonic()
    component.process.wait_until(component.healthy, settings.health_timeout_s)
    report(f"{component.name} healthy ({time.monotonic() - t0:.1f} s)")


def _launch_prometheus(prometheus: Prometheus, started: list[Component]) -> None:
    # The stack works without it: its absence is a note, not an error.
    if not prometheus.enabled:
        report("prometheus not started (IMGSIM_STACK_PROMETHEUS_PORT=0)")
    elif prometheus.binary is None:
        report("prometheus is not installed, not started (apt-get install prometheus)")
    else:
        _launch(prometheus, started)
        _wait(prometheus, prometheus.settings)


def up(settings: StackSettings) -> None:
    t0 = time.monotonic()
    check_java(settings)
    artifacts.fetch(settings, report)
    elasticsearch, kafka, connect = components(settings)
    if settings.secured:
        credentials.prepare(settings)
        security = credentials.secrets_dir(settings.state_dir).parent
        report(f"secured mode: CA, certificates and secrets in {security}")
    started: list[Component] = []
    try:
        _launch(elasticsearch, started)
        _launch(kafka, started)
        _wait(kafka, settings)
        if settings.secured:
            # Before Connect starts: it logs in as its own user.
            kafka_security.ensure_users(settings, report)
        if connect.runs_an_older_plugin():
            # Else provisioning would configure converters or transforms it cannot load.
            report("connect runs an older build of the sink connector: restarting it")
            connect.process.stop()
        # Connect needs only Kafka: it starts while Elasticsearch is still booting.
        _launch(connect, started)
        _wait(elasticsearch, settings)
        _wait(connect, settings)
        provision.provision(settings, report)
        _launch_prometheus(observability(settings), started)
    except BaseException:
        # No half-started stack is left behind: what this run started, it stops.
        for component in reversed(started):
            if component.process.stop():
                report(f"stopped {component.name} after the failure")
        raise
    console.print(f"[green]stack up[/green] in {time.monotonic() - t0:.1f} s")
    if settings.secured:
        env = credentials.client_env_path(settings.state_dir)
        console.print(f"services' settings for this stack: set -a; . {env}; set +a")


def down(settings: StackSettings) -> None:
    for component in [observability(settings), *reversed(components(settings))]:
        if component.process.stop():
            report(f"{component.name} stopped")
        else:
            report(f"{component.name} was not running (from this launcher)")


def status(settings: StackSettings) -> bool:
    table = Table("component", "pid", "healthy", "ports", "heap", "rss", "log")
    all_healthy = True
    prometheus = observability(settings)
    optional = [prometheus] if prometheus.enabled and prometheus.binary else []
    for component in [*components(settings), *optional]:
        healthy = component.healthy()
        all_healthy &= healthy
        table.add_row(
            component.name,
            str(component.process.pid() or "-"),
            "[green]yes[/green]" if healthy else "[red]no[/red]",
            ", ".join(str(p) for p in component.ports.values()),
            component.heap,
            f"{rss / 2**20:.0f} MiB" if (rss := component.process.rss_bytes()) else "-",
            str(component.process.log),
        )
    Console(highlight=False, width=160).print(table)
    return all_healthy


def logs(settings: StackSettings, names: Sequence[str], lines: int) -> None:
    for component in [*components(settings), observability(settings)]:
        if names and component.name not in names:
            continue
        console.rule(f"{component.name}: {component.process.log}")
        if component.process.log.exists():
            tail = component.process.log.read_text(errors="replace").splitlines()[-lines:]
            print("\n".join(tail))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imgsim-stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "up",
        help="fetch (once), start Kafka, Connect, Elasticsearch; provision; Prometheus if there",
    )
    commands.add_parser("down", help="stop what `up` started, nothing else")
    commands.add_parser("status", help="health of each component; exit 1 if one is down")
    log_parser = commands.add_parser("logs", help="the last lines of each component's log")
    log_parser.add_argument(
        "component", nargs="*", choices=["kafka", "connect", "elasticsearch", "prometheus"]
    )
    log_parser.add_argument("-n", "--lines", type=int, default=40)
    commands.add_parser("fetch", help="download and verify the pinned artifacts; build connector")
    commands.add_parser("provision", help="topics, index template and alias, sink connector")
    args = parser.parse_args(argv)
    try:
        settings = StackSettings()
    except ValidationError as e:
        console.print(f"[red]invalid IMGSIM_STACK_* setting[/red]\n{e}")
        return 2
    try:
        if args.command == "up":
            up(settings)
        elif args.command == "down":
            down(settings)
        elif args.command == "status":
            return 0 if status(settings) else 1
        elif args.command == "logs":
            logs(settings, args.component, args.lines)
        elif args.command == "fetch":
            artifacts.fetch(settings, report)
        elif args.command == "provision":
            provision.provision(settings, report)
    except StackError as e:
        console.print(f"[red]error[/red] {e}")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
