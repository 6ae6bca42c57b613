"""Benchmark: grading a whole class, serially with nbgrader and in parallel with ``python -m assignment autograde``.

    python bench/autograde.py                 # 40 submissions, the shipped config, --jobs 2
    python bench/autograde.py --students 12 --timeout 3 --training-timeout 10
    python bench/autograde.py --stock 8       # also stock nbgrader (in-kernel Execute) on 8 honest ones,
                                              # and the parallel command on the honest ones alone

The class: ``--students`` synthetic submissions made from the four example
students (correct, untouched stubs, three planted bugs, forward passes only)
under new ids, plus a few hostile ones (an endless loop in ``ReLU.forward``, an
endless loop at import, ``os._exit(0)`` at import, a memory hog in
``Linear.forward``). Every submission's files are made distinct (a comment
naming the student), as a real class's are: the verdict cache is keyed by the
files' contents, so identical copies would be graded once and flatter the
parallel command.

The contenders, each in its own fresh scratch course (one ``nbgrader
generate_assignment``, then copied; the same submissions collected into each):

``serial``
    ``nbgrader autograde mlp`` with the course's ``nbgrader_config.py``: one
    submission after another (each question's tests still run in sandboxes,
    one per CPU core at a time, inside a notebook).
``parallel``
    ``python -m assignment autograde mlp --jobs J``: sandbox verdicts for
    ``J`` submissions at a time, the grades written by stock ``nbgrader
    autograde`` from the verdict cache (see ``assignment/instructor/parallel.py``).
``dask``
    ``python -m assignment autograde mlp --scheduler tcp://...``: the same
    command with its sandbox phase on a local Dask cluster of the
    ``distributed`` package's command line (one ``dask scheduler`` and
    ``--dask-workers`` ``dask worker`` processes sharing ``J`` threads, one by
    default, as on a grading machine; on 127.0.0.1); the cluster's CPU time is
    counted with the command's.
``rewrite``
    the parallel command run again on the graded course: every verdict is
    cached, so this is the cost of writing the grades alone (the long-lived
    writer of ``assignment/instructor/writer.py``), and ``stock writer`` the same with
    one plain ``nbgrader autograde`` process reading the same cache. The
    difference between ``serial`` and ``stock writer`` is what the sandboxes
    cost.
``stock`` (with ``--stock N``)
    nbgrader's own pipeline, no course preprocessors: the tests run in the
    student's kernel (``Execute``), on ``N`` honest or buggy submissions only
    (a hostile one would hang or fool it). For reference only: its grades are
    not trusted, and are not compared.
``parallel, honest`` (with ``--stock N``)
    the parallel command on the class's honest submissions alone (every
    correct or buggy one): the like-for-like comparison with ``stock``, whose
    ``vs stock`` column is the speed-up over nbgrader as it ships.

``--timeout``/``--training-timeout`` change the limits of every contender
alike (appended to each scratch course's config); by default the shipped
limits (20 s per test, 120 s for the training check) apply, and then the
endless loop in ``ReLU.forward`` dominates the serial run: its three tests and
the training check each wait out their limit.

The grades of ``serial``, ``parallel``, ``dask`` and the re-runs must agree
exactly; the benchmark fails if they do not.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assignment.instructor.demo import collect, make_course, nbgrader_env, run_nbgrader  # noqa: E402
from assignment.instructor.gradebook_table import grade_table  # noqa: E402

ASSIGNMENT = "mlp"
EXAMPLES = ROOT / "examples" / "submissions"
HONEST = ("ada_correct", "ben_untouched", "cy_buggy", "dee_forward_only")
FILES = ("__init__.py", "nn.py", "optim.py")

# Hostile variants: appended to a correct nn.py.
HOSTILE = {
    "relu_loop": ("\n\ndef _forward_forever(self, x):\n    while True:\n        pass\n\n\n"
                  "ReLU.forward = _forward_forever\n"),
    "import_loop": "\n\nwhile True:\n    pass\n",
    "import_exit": "\n\nimport os\n\nos._exit(0)\n",
    "memory_hog": ("\n\n_linear_forward = Linear.forward\n\n\ndef _hog(self, x):\n"
                   "    blocks = []\n    while True:\n        blocks.append(np.ones(2**27))\n\n\n"
                   "Linear.forward = _hog\n"),
}

STOCK_AUTOGRADE = [
    "nbgrader.preprocessors.Execute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]


def class_plan(students: int, hostile: int | None = None) -> list[tuple[str, str]]:
    """[(student id, kind)] for a class of ``students``: honest kinds in turn, then hostile ones.

    ``hostile``: how many hostile submissions (default: one of each kind, at
    most a tenth of the class, none below 10 students).
    """
    kinds = list(HOSTILE)
    if hostile is None:
        hostile = min(len(kinds), students // 10)
    plan = []
    honest = students - hostile
    for i in range(honest):
        kind = HONEST[i % len(HONEST)]
        plan.append((f"s{i + 1:03d}_{kind.split('_')[0]}", kind))
    for j in range(hostile):
        kind = kinds[j % len(kinds)]
        plan.append((f"s{honest + j + 1:03d}_{kind}", kind))
    return plan


def make_class(folder: Path, plan: list[tuple[str, str]]) -> Path:
    """Write each planned student's ``mlp/mytorch`` into ``folder`` (distinct files per student)."""
    if folder.exists():
        shutil.rmtree(folder)
    for student, kind in plan:
        base = kind if kind in HONEST else "ada_correct"
        target = folder / student / ASSIGNMENT / "mytorch"
        target.mkdir(parents=True)
        for name in FILES:
            source = EXAMPLES / base / ASSIGNMENT / "mytorch" / name
            if not source.exists():
                continue
            text = f"# {student}'s copy\n" + source.read_text(encoding="utf-8")
            if name == "nn.py" and kind in HOSTILE:
                text += HOSTILE[kind]
            (target / name).write_text(text, encoding="utf-8")
    return folder


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed and could not be installed."""


def postgres_bin() -> Path | None:
    """The folder of the newest installed PostgreSQL server programs (Debian's layout), if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else None


def ensure_postgres() -> Path:
    """PostgreSQL's bin/ folder, installing Debian's ``postgresql`` package if it is missing."""
    found = postgres_bin()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], env=env, capture_output=True)
        found = postgres_bin()
    if found is None:
        raise PostgresUnavailable("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb) and "
                                  "`apt-get install postgresql` did not install it")
    return found


class PostgresServer:
    """A throwaway PostgreSQL server: its own data folder, a free loopback port, trust
    authentication, no durability (fsync off). Run as the ``postgres`` user when started as
    root (the server refuses root). ``stop()`` kills it and removes every file."""

    def __init__(self) -> None:
        import socket

        self.bin = ensure_postgres()
        self.folder = Path(tempfile.mkdtemp(prefix="mytorch-postgres-"))
        self.data = self.folder / "data"
        self.user = "postgres"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.started = False
        if os.geteuid() == 0:
            import pwd

            try:
                entry = pwd.getpwnam("postgres")
            except KeyError as error:
                raise PostgresUnavailable("there is no `postgres` user to run the server as") from error
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else None
            if self.prefix is None:
                raise PostgresUnavailable("runuser is missing: cannot run the server as `postgres`")
        else:
            self.prefix = []
            self.user = os.environ.get("USER", "postgres")

    def _run(self, *command: str) -> None:
        result = subprocess.run([*self.prefix, *command], capture_output=True, text=True, cwd=self.folder)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")

    def start(self) -> "PostgresServer":
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user,
                  "--no-sync", "-E", "UTF8", "--locale=C")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "server.log"), "-w", "-t", "60", "start")
        self.started = True
        return self

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name`` (a copy of ``template``, if given); return its URL."""
        command = [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]
        if template:
            command += ["-T", template]
        self._run(*command, name)
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            if self.started:
                subprocess.run([*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                                "-w", "stop"], capture_output=True, cwd="/")
                self.started = False
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DaskCluster:
    """A local Dask cluster of real processes: ``dask scheduler`` and ``workers`` × ``dask worker``
    (``--nworkers 1 --nthreads THREADS``), the ``distributed`` package's own command line, each on
    127.0.0.1 with a free port and in a session of its own (``kill`` ends it with its nanny and its
    sandboxes). ``close()`` kills them all. ``meter``, if given, counts their CPU time."""

    def __init__(self, folder: Path, workers: int = 2, meter: "CpuMeter | None" = None, threads: int = 1) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.workers = workers
        self.threads = threads
        self.meter = meter
        self.processes: dict[str, subprocess.Popen] = {}
        self.client = None

    def _dask(self, name: str, *args: str) -> None:
        log = open(self.folder / f"{name}.log", "w", encoding="utf-8")
        self.processes[name] = subprocess.Popen(
            [str(Path(sys.executable).parent / "dask"), *args], stdout=log, stderr=subprocess.STDOUT,
            env=nbgrader_env(), cwd=self.folder, start_new_session=True,
            preexec_fn=self.meter.enter if self.meter else None)

    def start(self, timeout: float = 120) -> "DaskCluster":
        from distributed import Client

        port = self.address.rsplit(":", 1)[1]
        self._dask("scheduler", "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard")
        for number in range(1, self.workers + 1):
            work = self.folder / f"w{number}"
            work.mkdir(exist_ok=True)
            self._dask(f"w{number}", "worker", self.address, "--name", f"w{number}", "--nworkers", "1",
                       "--nthreads", str(self.threads), "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(work))
        self.client = Client(self.address, timeout=timeout, set_as_default=False)
        self.client.wait_for_workers(self.workers, timeout=timeout)
        return self

    def worker_address(self, name: str) -> str:
        return next(addr for addr, info in self.client.scheduler_info()["workers"].items() if info["name"] == name)

    def kill(self, name: str) -> None:
        """SIGKILL one process's whole session (a worker: its nanny, itself and its sandboxes)."""
        import signal

        process = self.processes[name]
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=30)

    def close(self) -> None:
        try:
            if self.client is not None:
                self.client.close()
                self.client = None
        finally:
            for name in self.processes:
                self.kill(name)

    def __enter__(self) -> "DaskCluster":
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()


def prepare_base(workdir: Path, extra_config: str = "") -> Path:
    """A scratch course with the assignment generated (copied for each contender)."""
    base = workdir / "base"
    make_course(base)
    if extra_config:
        with open(base / "nbgrader_config.py", "a", encoding="utf-8") as handle:
            handle.write("\n# bench/autograde.py\n" + extra_config)
    run_nbgrader(base, "generate_assignment", ASSIGNMENT, "--force")
    return base


def fresh_course(base: Path, target: Path, submissions: Path, extra_config: str = "") -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(base, target, ignore=shutil.ignore_patterns("logs", ".nbgrader.log"))
    # The config computes paths from its own location: the copy has its own gradebook.
    if extra_config:
        with open(target / "nbgrader_config.py", "a", encoding="utf-8") as handle:
            handle.write("\n" + extra_config)
    collect(target, submissions)
    return target


class CpuMeter:
    """CPU seconds used by a command and every process it starts (sandboxes included), from a
    cgroup's CPU accounting; None where cgroups cannot be created (not root, no cpuacct)."""

    V1 = Path("/sys/fs/cgroup/cpuacct")
    V2 = Path("/sys/fs/cgroup")

    def __init__(self, name: str) -> None:
        self.path: Path | None = None
        for root, counter in ((self.V1, "cpuacct.usage"), (self.V2, "cpu.stat")):
            if (root / counter).exists() or (root == self.V1 and root.is_dir()):
                try:
                    path = root / f"mytorch-bench-{os.getpid()}-{name}"
                    path.mkdir(exist_ok=True)
                    if (path / counter).exists():
                        self.path, self.counter = path, counter
                        return
                    path.rmdir()
                except OSError:
                    continue

    def enter(self) -> None:
        """In the child, before exec: join the cgroup."""
        if self.path is not None:
            try:
                (self.path / "cgroup.procs").write_text(str(os.getpid()))
            except OSError:
                pass

    def seconds(self) -> float | None:
        if self.path is None:
            return None
        try:
            text = (self.path / self.counter).read_text()
        except OSError:
            return None
        if self.counter == "cpuacct.usage":
            return int(text) / 1e9
        fields = dict(line.split() for line in text.splitlines() if line.strip())
        return int(fields.get("usage_usec", 0)) / 1e6

    def close(self) -> None:
        if self.path is not None:
            try:
                self.path.rmdir()
            except OSError:
                pass


def run_timed(name: str, command: list[str], cwd: Path, log: Path) -> tuple[float, float | None, str]:
    """Run ``command``; return (wall seconds, CPU seconds or None, its stdout)."""
    meter = CpuMeter(name)
    started = time.perf_counter()
    try:
        result = subprocess.run(command, cwd=cwd, env=nbgrader_env(), capture_output=True, text=True,
                                preexec_fn=meter.enter)
        seconds = time.perf_counter() - started
        cpu = meter.seconds()
    finally:
        meter.close()
    log.parent.mkdir(exist_ok=True)
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode != 0:
        raise SystemExit(f"{name} failed (exit {result.returncode}); see {log}:\n{result.stderr[-3000:]}")
    return seconds, cpu, result.stdout


def run_serial(course: Path, name: str = "serial") -> tuple[float, float | None]:
    seconds, cpu, _ = run_timed(name, [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"],
                                course, course / "logs" / "autograde.log")
    return seconds, cpu


def run_parallel(course: Path, jobs: int, *args: str, name: str = "parallel") -> tuple[float, float | None, str]:
    seconds, cpu, stdout = run_timed(name, [sys.executable, "-m", "assignment", "autograde", ASSIGNMENT,
                                            "--jobs", str(jobs), "--course", str(course), *args],
                                     ROOT, course / "logs" / f"{name}.log")
    summary = [line for line in stdout.splitlines() if line.startswith("graded ")]
    return seconds, cpu, summary[-1] if summary else ""


def run_dask(course: Path, workers: int, threads: int, folder: Path) -> tuple[float, float | None, str]:
    """The parallel command on a fresh local Dask cluster of ``workers`` workers of ``threads``
    threads; the CPU seconds are the command's and the cluster's once started (scheduler and
    workers, sandboxes included)."""
    meter = CpuMeter("dask-cluster")
    try:
        with DaskCluster(folder, workers, meter, threads=threads) as cluster:
            before = meter.seconds()
            seconds, cpu, summary = run_parallel(course, workers * threads, "--scheduler", cluster.address,
                                                 name="dask")
            after = meter.seconds()
    finally:
        meter.close()
    if cpu is not None and before is not None and after is not None:
        cpu += after - before
    return seconds, cpu, summary


def run_stock_writer(course: Path) -> tuple[float, float | None]:
    """One plain ``nbgrader autograde`` process on a graded course, every verdict read from its cache."""
    cache_dir = next((course / ".grading_cache" / ASSIGNMENT).iterdir())
    seconds, cpu, _ = run_timed("stock-writer", [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force",
                                                 f"--GradeInSandbox.cache_dir={cache_dir}"],
                                course, course / "logs" / "stock-writer.log")
    return seconds, cpu


def scores(course: Path) -> dict[str, dict[str, float]]:
    return {student: {key: score for key, (score, _) in row.items()}
            for student, row in grade_table(course, ASSIGNMENT).items()}


def format_results(rows: list[tuple[str, int, list[float], list[float | None]]], reference: str = "serial") -> str:
    """A table: contender, submissions, runs, median wall seconds, wall and CPU seconds per
    submission, speed-up (``reference``'s wall s/sub over the contender's) and, when stock
    nbgrader ran, the speed-up over it (stock's wall s/sub over the contender's)."""
    per_sub = {name: statistics.median(walls) / count for name, count, walls, _ in rows}
    lines = [f"{'contender':<16} {'subs':>5} {'runs':>4} {'median s':>9} {'s/sub':>7} {'CPU s/sub':>10} "
             f"{'speed-up':>9} {'vs stock':>9}", "-" * 77]
    for name, count, walls, cpus in rows:
        known = [c for c in cpus if c is not None]
        cpu = f"{statistics.median(known) / count:.2f}" if known else "n/a"
        speedup = per_sub[reference] / per_sub[name] if reference in per_sub else float("nan")
        over_stock = f"{per_sub['stock'] / per_sub[name]:>8.2f}x" if "stock" in per_sub else f"{'':>9}"
        lines.append(f"{name:<16} {count:>5} {len(walls):>4} {statistics.median(walls):>9.1f} "
                     f"{per_sub[name]:>7.2f} {cpu:>10} {speedup:>8.2f}x {over_stock}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--hostile", type=int, default=None, help="hostile submissions among them")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--dask-workers", type=int, default=1,
                        help="Dask workers (processes) sharing the --jobs threads (default 1: one worker per machine)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each contender (median reported)")
    parser.add_argument("--timeout", type=float, help="seconds per test, for every contender")
    parser.add_argument("--training-timeout", type=float, help="seconds for the training check")
    parser.add_argument("--stock", type=int, default=0, help="also stock nbgrader on this many honest submissions")
    parser.add_argument("--workdir", default=str(ROOT / ".artifacts" / "bench_autograde"))
    args = parser.parse_args(argv)

    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if os.environ.pop("MYTORCH_GRADEBOOK_URL", None):  # scratch courses must never touch a real gradebook
        print("MYTORCH_GRADEBOOK_URL ignored: each scratch course keeps its own SQLite gradebook")
    extra = ""
    if args.timeout is not None:
        extra += f"c.GradeInSandbox.timeout = {args.timeout!r}\n"
    if args.training_timeout is not None:
        extra += f"c.GradeInSandbox.training_timeout = {args.training_timeout!r}\n"
    plan = class_plan(args.students, args.hostile)
    submissions = make_class(workdir / "submissions", plan)
    kinds: dict[str, int] = {}
    for _, kind in plan:
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"class: {len(plan)} submissions: " + ", ".join(f"{n} {k}" for k, n in kinds.items()))
    print(f"limits: {'shipped config' if not extra else extra.strip().replace(chr(10), '; ')}; "
          f"{os.cpu_count()} CPU cores; parallel --jobs {args.jobs}; dask {args.dask_workers} worker(s) x "
          f"{max(1, args.jobs // args.dask_workers)} thread(s); load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    base = prepare_base(workdir, extra)

    names = ("serial", "parallel", "dask", "rewrite", "stock writer", "stock")
    walls: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float | None]] = {name: [] for name in names}

    def record(name: str, wall: float, cpu: float | None) -> None:
        walls[name].append(wall)
        cpus[name].append(cpu)

    def same_as_serial(name: str, course: Path, serial_scores: dict) -> bool:
        got = scores(course)
        if got != serial_scores:
            differ = sorted(s for s in set(serial_scores) | set(got) if serial_scores.get(s) != got.get(s))
            print(f"MISMATCH between serial and {name} grades for: {', '.join(differ)}", file=sys.stderr)
            return False
        return True

    for round_ in range(args.repeat):
        course = fresh_course(base, workdir / "serial", submissions)
        record("serial", *run_serial(course))
        serial_scores = scores(course)
        course = fresh_course(base, workdir / "parallel", submissions)
        wall, cpu, summary = run_parallel(course, args.jobs)
        record("parallel", wall, cpu)
        if not same_as_serial("parallel", course, serial_scores):
            return 1
        # The writing alone: every verdict is cached now.
        wall, cpu, rewrite_summary = run_parallel(course, args.jobs, name="rewrite")
        record("rewrite", wall, cpu)
        if not same_as_serial("rewrite", course, serial_scores):
            return 1
        record("stock writer", *run_stock_writer(course))
        if not same_as_serial("stock writer", course, serial_scores):
            return 1
        dask_course = fresh_course(base, workdir / "dask", submissions)
        wall, cpu, dask_summary = run_dask(dask_course, args.dask_workers, max(1, args.jobs // args.dask_workers),
                                           workdir / "dask-cluster")
        record("dask", wall, cpu)
        if not same_as_serial("dask", dask_course, serial_scores):
            return 1
        print(f"round {round_ + 1}: serial {walls['serial'][-1]:.1f} s, parallel {walls['parallel'][-1]:.1f} s, "
              f"dask {wall:.1f} s, rewrite {walls['rewrite'][-1]:.1f} s, stock writer "
              f"{walls['stock writer'][-1]:.1f} s; grades identical for {len(serial_scores)} students\n"
              f"  parallel: {summary}\n  dask: {dask_summary}\n  rewrite: {rewrite_summary}")
    rows = [(name, len(plan), walls[name], cpus[name]) for name in names[:-1]]

    if args.stock:
        # The honest class alone (every correct or buggy submission), which is what stock nbgrader
        # can grade at all: the parallel command on it, side by side with stock nbgrader.
        everyone_honest = [student for student, kind in plan if kind in HONEST]
        honest = everyone_honest[: args.stock]
        stock_extra = ("c.Autograde.autograde_preprocessors = " + repr(STOCK_AUTOGRADE) + "\n"
                       "c.Autograde.exporter_class = 'nbconvert.exporters.NotebookExporter'\n")
        honest_submissions = workdir / "honest_submissions"
        stock_submissions = workdir / "stock_submissions"
        for folder, chosen in ((honest_submissions, everyone_honest), (stock_submissions, honest)):
            if folder.exists():
                shutil.rmtree(folder)
            for student in chosen:
                shutil.copytree(submissions / student, folder / student)
        walls["parallel, honest"], cpus["parallel, honest"] = [], []
        for _ in range(args.repeat):
            course = fresh_course(base, workdir / "parallel-honest", honest_submissions)
            wall, cpu, _ = run_parallel(course, args.jobs, name="parallel-honest")
            record("parallel, honest", wall, cpu)
            course = fresh_course(base, workdir / "stock", stock_submissions, stock_extra)
            record("stock", *run_serial(course, "stock"))
        rows.append(("parallel, honest", len(everyone_honest), walls["parallel, honest"], cpus["parallel, honest"]))
        rows.append(("stock", len(honest), walls["stock"], cpus["stock"]))

    print()
    print(format_results(rows))
    print("\ns/sub: median wall-clock seconds of a run over its submissions; CPU s/sub: CPU seconds of "
          "every process of the run (sandboxes included), where a cgroup could measure them; "
          "speed-up: serial's s/sub over the contender's; vs stock: stock nbgrader's s/sub over the "
          "contender's. rewrite and stock writer re-grade the parallel "
          "course with every verdict cached: the cost of writing alone.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
