"""A real single-node Apache Kafka 4.x broker (KRaft, combined mode) run locally.

The broker jars come from Maven Central through ``pom.xml`` shipped in this
package (``mvn dependency:copy-dependencies``), are cached once (``.cache/kafka``
in a checkout, the per-user data directory when installed), and the broker is run
as a detached ``java`` process that outlives the Python process that started
it. A pid file in the data directory lets another process stop it.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

from meterstream.config import default_data_dir, project_root

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
JVM_OPTS = ("-Xms256m", "-Xmx1g", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true")


class KafkaStartError(RuntimeError):
    """The broker could not be fetched, formatted or started (message has the log tail)."""


def _resource(name: str) -> Path:
    """A file shipped in this package, as a path Maven and the JVM can open.

    Found through the package's resources, so it is the installed copy in a wheel
    install and the checkout's in an editable one (never a checkout-relative guess).
    """
    path = resources.files(__package__ or __name__).joinpath(name)
    if not isinstance(path, Path):  # e.g. a zip: as_file() would only lend a path for a while
        raise KafkaStartError(f"{name} of {__package__} is not a file on disk ({path})")
    return path


def pom_file() -> Path:
    """The Maven project that pins the broker's version and lists its jars."""
    return _resource("pom.xml")


def log4j_config() -> Path:
    """The broker's logging configuration."""
    return _resource("log4j2.yaml")


def kafka_version() -> str:
    """The Kafka version pinned in ``pom.xml`` (the single source of truth)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom = pom_file()
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    version = (node.text or "").strip() if node is not None else ""
    if not version:
        raise KafkaStartError(f"no <kafka.version> in {pom}")
    return version


def _read_from(path: Path, offset: int = 0) -> list[str]:
    """Lines of ``path`` from byte ``offset`` on (empty if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` is a live (not zombie) java process running the broker."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our dead child
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.exists():  # not Linux: trust kill(0)
        return True
    try:
        if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        cmdline = proc.joinpath("cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    # Empty right after Popen returns: the child is still inside execve (the
    # CLOEXEC pipe Popen waits on closes before the new argv is in place).
    # Non-empty without the broker's main class: the pid was reused.
    return not cmdline or MAIN_CLASS.encode() in cmdline


def _default_home() -> Path:
    """Where the fetched jars are cached: ``.cache/kafka`` of a checkout, else under the data directory."""
    root = project_root()
    return root / ".cache" / "kafka" if root else default_data_dir() / "cache" / "kafka"


class LocalKafka:
    """Fetch, format, start and stop one local KRaft broker+controller (node.id=1)."""

    def __init__(self, *, home: Path | None = None, data_dir: Path | None = None,
                 host: str = "127.0.0.1", port: int = 9092, controller_port: int = 9093,
                 partitions: int = 4, log_file: Path | None = None) -> None:
        if home is None:
            env = os.environ.get("METERSTREAM_KAFKA_HOME")
            home = Path(env) if env else _default_home()
        if data_dir is None:
            env = os.environ.get("METERSTREAM_KAFKA_DATA_DIR")
            data_dir = Path(env) if env else default_data_dir() / f"kafka-{port}"
        self.home = Path(home).expanduser().resolve()
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.host, self.port, self.controller_port = host, port, controller_port
        self.partitions = partitions
        self.log_file = Path(log_file) if log_file else self.data_dir / "broker.log"
        self.out_file = self.data_dir / "broker.out"  # JVM stdout/stderr
        self.pid_file = self.data_dir / "broker.pid"
        self.config_file = self.data_dir / "server.properties"
        self.log_dir = self.data_dir / "kafka-logs"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # size of log_file when this object last launched the broker

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"LocalKafka({self.bootstrap_servers}, data_dir={str(self.data_dir)!r})"

    # -- fetch / format ----------------------------------------------------------------
    @property
    def lib_dir(self) -> Path:
        """Directory holding the broker's jars for the pinned version."""
        return self.home / f"kafka-{kafka_version()}" / "lib"

    def fetch(self) -> Path:
        """Download the broker jars with Maven once (reused while pom.xml is unchanged)."""
        lib = self.lib_dir
        marker = lib.parent / ".fetched"
        pom = pom_file()
        digest = hashlib.sha256(pom.read_bytes()).hexdigest()
        if marker.is_file() and marker.read_text().strip() == digest and lib.is_dir():
            return lib
        lib.parent.mkdir(parents=True, exist_ok=True)
        with open(lib.parent / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be fetching too
            if marker.is_file() and marker.read_text().strip() == digest and lib.is_dir():
                return lib
            mvn = shutil.which("mvn")
            if mvn is None:
                raise KafkaStartError("Maven ('mvn') is needed to fetch the Kafka broker jars")
            tmp = lib.parent / "lib.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                   f"-DoutputDirectory={tmp}"]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0 or not any(tmp.glob("kafka_2.13-*.jar")):
                raise KafkaStartError(f"{' '.join(cmd)} failed ({res.returncode}):\n"
                                      f"{(res.stdout + res.stderr)[-4000:]}")
            shutil.rmtree(lib, ignore_errors=True)
            tmp.rename(lib)
            marker.write_text(digest + "\n")
        return lib

    def _java(self, main: str, *args: str) -> list[str]:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if not java:
            raise KafkaStartError("no 'java' on PATH (Kafka 4.x needs Java 17+)")
        return [java, *JVM_OPTS, f"-Dlog4j2.configurationFile={log4j_config()}",
                f"-Dmeterstream.kafka.log.file={self.log_file}",
                f"-Dkafka.logs.dir={self.log_file.parent}",
                "-cp", str(self.lib_dir / "*"), main, *args]

    def _write_config(self) -> None:
        h = self.host
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # Kafka 4.x: dynamic quorum (KIP-853), formatted with --standalone.
            "controller.quorum.bootstrap.servers": f"{h}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{h}:{self.port},CONTROLLER://{h}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{h}:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": str(self.partitions),
            "auto.create.topics.enable": "true",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "8",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "min.insync.replicas": "1",
            "default.replication.factor": "1",
            "num.network.threads": "2",
            "num.io.threads": "4",
            # After a crash (kill) the restarted broker cannot register until the
            # controller expires the dead incarnation's session (default 9 s).
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "4000",
        }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))

    def is_formatted(self) -> bool:
        """True once ``kafka-storage format`` has run on the data directory."""
        return (self.log_dir / "meta.properties").is_file()

    def format(self) -> None:
        """Format the data directory with a new cluster id, unless already formatted."""
        self.fetch()
        self._write_config()
        if self.is_formatted():
            return
        # Same shape as org.apache.kafka.common.Uuid.randomUuid().toString().
        cid = "-"
        while cid.startswith("-"):
            cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        cmd = self._java(STORAGE_TOOL, "format", "--config", str(self.config_file),
                         "--cluster-id", cid, "--standalone", "--ignore-formatted")
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise KafkaStartError(f"kafka-storage format failed ({res.returncode}):\n"
                                  f"{(res.stdout + res.stderr)[-4000:]}")

    # -- process control ---------------------------------------------------------------
    def _pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _port_open(self, port: int | None = None) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(
                (self.host, port or self.port), timeout=1.0):
            return True
        return False

    def is_running(self) -> bool:
        """True if the pid file names a live broker process and its port answers."""
        pid = self._pid()
        return pid is not None and _pid_alive(pid) and self._port_open()

    def start(self, timeout: float = 90.0) -> None:
        """Fetch and format if needed, launch the broker detached and wait until ready.

        Idempotent: if a broker already answers on ``host:port`` this returns at once.
        """
        pid = self._pid()
        if pid is not None and _pid_alive(pid):  # ours, running or still starting
            return self.wait_ready(timeout)
        self.pid_file.unlink(missing_ok=True)
        if self._port_open():
            if self._probe(5.0):  # a broker we did not start (another data dir, Docker)
                return
            raise KafkaStartError(f"{self.bootstrap_servers} is in use by something that "
                                  "is not a Kafka broker")
        if self._port_open(self.controller_port):
            raise KafkaStartError(f"{self.host}:{self.controller_port} (controller port) "
                                  "is already in use by another process")
        self.format()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.out_file, "ab") as out:
            self._proc = subprocess.Popen(
                self._java(MAIN_CLASS, str(self.config_file)), cwd=self.data_dir,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.pid_file.write_text(f"{self._proc.pid}\n")
        try:
            self.wait_ready(timeout)
        except KafkaStartError:
            self.kill()
            raise

    def _probe(self, timeout: float) -> bool:
        """One metadata round trip with an AdminClient; True if a broker answered."""
        from confluent_kafka.admin import AdminClient  # heavy import: only when needed

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0,
                             "socket.timeout.ms": max(1000, int(timeout * 1000))})
        try:
            return bool(admin.list_topics(timeout=timeout).brokers)
        except Exception:  # KafkaException while the broker is still starting
            return False

    def wait_ready(self, timeout: float) -> None:
        """Block until an AdminClient can list topics; raise KafkaStartError otherwise."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            pid = self._pid()
            if pid is not None and not _pid_alive(pid):
                raise self._error("broker process exited during startup")
            if self._port_open() and self._probe(min(5.0, max(0.5, left))):
                return
            time.sleep(0.25)
        raise self._error(f"broker not ready after {timeout:.0f}s")

    def _error(self, what: str) -> KafkaStartError:
        lines = _read_from(self.log_file, self._log_offset)
        errors = [ln for ln in lines if " ERROR " in ln or " FATAL " in ln][-5:]
        out = _read_from(self.out_file)[-20:]
        return KafkaStartError(
            f"{what} [{self.bootstrap_servers}, data {self.data_dir}]\n"
            + "".join(f"{ln}\n" for ln in errors)
            + f"--- tail of {self.log_file} ---\n" + "\n".join(lines[-40:])
            + (f"\n--- tail of {self.out_file} ---\n" + "\n".join(out) if out else ""))

    def _signal_and_wait(self, sig: signal.Signals, timeout: float) -> bool:
        pid = self._pid()
        if pid is None or not _pid_alive(pid):
            return True
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return True
            time.sleep(0.1)
        return False

    def stop(self, timeout: float = 30.0) -> None:
        """Shut the broker down cleanly (SIGTERM), SIGKILL after ``timeout``; drop the pid file."""
        if not self._signal_and_wait(signal.SIGTERM, timeout):
            self._signal_and_wait(signal.SIGKILL, 10.0)
        self._forget()

    def kill(self) -> None:
        """Crash the broker (SIGKILL): no clean shutdown, data is recovered on next start."""
        if not self._signal_and_wait(signal.SIGKILL, 10.0):
            raise OSError(errno.EBUSY, f"broker pid {self._pid()} survived SIGKILL")
        self._forget()

    def _forget(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=1)
            self._proc = None
        self.pid_file.unlink(missing_ok=True)
