"""Fetches the pinned Kafka jars and Elasticsearch distribution once, and builds the connector.

Maven resolves everything from Maven Central with `--strict-checksums`, so a corrupt or
tampered download fails instead of being used; its local repository lives in the cache, and once
a version is there the launcher never goes online again for it.
"""

import hashlib
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imgsim_stack.errors import StackError
from imgsim_stack.settings import CONNECTOR_POM, CONNECTOR_SOURCES, POM, StackSettings

_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
# The plugin's directory inside the worker's plugin path: every jar in it shares one class loader.
PLUGIN_NAME = "imgsim-elasticsearch-sink"


@dataclass(frozen=True)
class Versions:
    kafka: str
    elasticsearch: str


def pom_property(pom: Path, name: str) -> str:
    node = ET.parse(pom).getroot().find(f"m:properties/m:{name}", _POM_NS)
    if node is None or not node.text:
        raise StackError("fetch", f"{pom} does not pin {name}")
    return node.text.strip()


def pinned_versions(pom: Path = POM) -> Versions:
    return Versions(
        kafka=pom_property(pom, "kafka.version"),
        elasticsearch=pom_property(pom, "elasticsearch.version"),
    )


@dataclass(frozen=True)
class Installation:
    kafka_libs: Path
    elasticsearch_home: Path
    plugin_dir: Path


def installation(settings: StackSettings, versions: Versions | None = None) -> Installation:
    versions = versions or pinned_versions()
    cache = settings.cache_dir
    return Installation(
        kafka_libs=cache / f"kafka-{versions.kafka}" / "libs",
        elasticsearch_home=cache / f"elasticsearch-{versions.elasticsearch}",
        plugin_dir=cache / "connect-plugins" / f"imgsim-elasticsearch-sink-{connector_digest()}",
    )


def _mvn(settings: StackSettings, goal: list[str], log: Path, pom: Path = POM) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("fetch", "Apache Maven (mvn) is not installed; it downloads the stack")
    command = [
        mvn,
        "-B",
        "--strict-checksums",
        "-f",
        str(pom),
        f"-Dmaven.repo.local={settings.cache_dir / 'm2'}",
        *(["-s", str(settings.maven_settings)] if settings.maven_settings else []),
        *goal,
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(("\n$ " + " ".join(command) + "\n").encode())
        out.flush()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise StackError("fetch", "downloading the pinned artifacts from Maven Central failed", log)


Report = Callable[[str], None]


def fetch(settings: StackSettings, report: Report) -> Installation:
    install = installation(settings)
    log = settings.logs_dir / "fetch.log"
    marker = install.kafka_libs / ".complete"
    if not marker.exists() or marker.read_text() != pom_digest():
        report("fetching Kafka jars into " + str(install.kafka_libs))
        staging = install.kafka_libs.with_name("libs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        _mvn(
            settings,
            ["dependency:copy-dependencies", "-DexcludeTypes=zip", f"-DoutputDirectory={staging}"],
            log,
        )
        if marker.exists():
            # A jar added to the pom (same Kafka version): added beside the others, none
            # replaced or removed, since running JVMs may still open jars from this folder.
            for jar in staging.glob("*.jar"):
                if not (install.kafka_libs / jar.name).exists():
                    shutil.copy2(jar, install.kafka_libs / jar.name)
            shutil.rmtree(staging)
        else:
            shutil.rmtree(install.kafka_libs, ignore_errors=True)
            staging.rename(install.kafka_libs)
        marker.write_text(pom_digest())
    if not (install.elasticsearch_home / ".complete").exists():
        report("fetching Elasticsearch into " + str(install.elasticsearch_home))
        staging = settings.cache_dir / "elasticsearch.partial"
        shutil.rmtree(staging, ignore_errors=True)
        _mvn(
            settings,
            [
                "dependency:unpack-dependencies",
                "-DincludeTypes=zip",
                f"-DoutputDirectory={staging}",
            ],
            log,
        )
        unpacked = [p for p in staging.iterdir() if p.name.startswith("elasticsearch-")]
        if len(unpacked) != 1:
            raise StackError("fetch", f"unexpected Elasticsearch archive layout in {staging}", log)
        shutil.rmtree(install.elasticsearch_home, ignore_errors=True)
        unpacked[0].rename(install.elasticsearch_home)
        shutil.rmtree(staging)
        (install.elasticsearch_home / ".complete").touch()
    if not (install.plugin_dir / ".complete").exists():
        report("building the Elasticsearch sink connector into " + str(install.plugin_dir))
        build_connector(settings, install)
    return install


def pom_digest(pom: Path = POM) -> str:
    """Names the set of pinned jars: a changed pom fetches again."""
    return hashlib.sha256(pom.read_bytes()).hexdigest()[:12]


def connector_digest() -> str:
    """Names a build of the plugin: a changed source or dependency pin makes a new build."""
    digest = hashlib.sha256()
    for source in sorted(CONNECTOR_SOURCES.rglob("*")):
        if source.is_file():
            digest.update(str(source.relative_to(CONNECTOR_SOURCES)).encode())
            digest.update(source.read_bytes())
    digest.update(CONNECTOR_POM.read_bytes())
    return digest.hexdigest()[:12]


def check_jackson(install: Installation) -> None:
    # jackson-dataformat-cbor runs on the jackson-core and -databind that Kafka ships (they are
    # on the worker's class path); a Jackson module needs the core of its own version.
    wanted = pom_property(CONNECTOR_POM, "jackson.version")
    for artifact in ("jackson-core", "jackson-databind"):
        if not (install.kafka_libs / f"{artifact}-{wanted}.jar").exists():
            shipped = sorted(p.name for p in install.kafka_libs.glob(f"{artifact}-*.jar"))
            raise StackError(
                "connector build",
                f"{CONNECTOR_POM} pins jackson.version {wanted}, but Kafka ships "
                f"{', '.join(shipped) or f'no {artifact}'}: set jackson.version to Kafka's",
            )


def build_connector(settings: StackSettings, install: Installation) -> None:
    """Compiles the connector against the very Kafka jars the worker runs, and puts it with its
    own dependencies into one plugin directory (its own class loader on the worker)."""
    if settings.java_home is None:
        raise StackError("connector build", "no JDK found: set JAVA_HOME or IMGSIM_STACK_JAVA_HOME")
    javac = settings.java_home / "bin" / "javac"
    jar = settings.java_home / "bin" / "jar"
    if not javac.exists():
        raise StackError("connector build", f"{javac} not found: a JDK (not a JRE) is needed")
    log = settings.logs_dir / "connector-build.log"
    build = settings.cache_dir / "connector-build"
    shutil.rmtree(build, ignore_errors=True)
    classes, dependencies = build / "classes", build / "dependencies"
    classes.mkdir(parents=True)
    check_jackson(install)
    _mvn(
        settings,
        ["dependency:copy-dependencies", f"-DoutputDirectory={dependencies}"],
        settings.logs_dir / "fetch.log",
        pom=CONNECTOR_POM,
    )
    sources = [str(p) for p in sorted((CONNECTOR_SOURCES / "java").rglob("*.java"))]
    shutil.copytree(CONNECTOR_SOURCES / "resources", classes, dirs_exist_ok=True)
    staging = install.plugin_dir.with_name(install.plugin_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    plugin = staging / PLUGIN_NAME
    plugin.mkdir(parents=True)
    with log.open("wb") as out:
        for command in (
            [
                str(javac),
                "--release",
                "17",
                "-Xlint:all",
                "-Werror",
                "-cp",
                f"{install.kafka_libs / '*'}:{dependencies / '*'}",
                "-d",
                str(classes),
                *sources,
            ],
            [
                str(jar),
                "--create",
                "--file",
                str(plugin / f"{PLUGIN_NAME}.jar"),
                "-C",
                str(classes),
                ".",
            ],
        ):
            if subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                raise StackError("connector build", "compiling the sink connector failed", log)
    for dependency in dependencies.glob("*.jar"):
        shutil.copy2(dependency, plugin)
    # Only one build of the plugin may be on the worker's plugin path.
    for old in install.plugin_dir.parent.iterdir():
        if old != staging:
            shutil.rmtree(old, ignore_errors=True)
    staging.rename(install.plugin_dir)
    (install.plugin_dir / ".complete").touch()
    shutil.rmtree(build)
