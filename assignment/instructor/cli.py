"""``python -m assignment``: the course's commands for instructors."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from assignment import PACKAGE_DIR

COURSE_ROOT = PACKAGE_DIR.parent


def _train(args: argparse.Namespace) -> int:
    """Train an MLP with the reference mytorch on the digits, epoch by epoch."""
    from tqdm import tqdm

    sys.path.insert(0, str(COURSE_ROOT))  # the reference mytorch lives at the course root
    from mytorch import nn, optim

    from assignment.shared.data import load_digits
    from assignment.shared.training import build_mlp, train

    data = load_digits()
    sizes = (data.num_features, *args.hidden, data.num_classes)
    model = build_mlp(nn, sizes, seed=args.seed)
    steps_per_epoch = -(-len(data.x_train) // args.batch_size)
    print(f"training {model} on {len(data.x_train)} digits, testing on {len(data.x_test)}")
    bar = tqdm(total=args.epochs * steps_per_epoch, unit="step", file=sys.stdout, leave=False)

    def on_epoch(stats) -> None:
        tqdm.write(
            f"epoch {stats.epoch:3d}  loss {stats.train_loss:.4f}  "
            f"train acc {stats.train_accuracy:6.2%}  test acc {stats.test_accuracy:6.2%}",
            file=sys.stdout,
        )

    start = time.perf_counter()
    history = train(
        model, data, nn, optim, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        seed=args.seed, on_batch=lambda *_: bar.update(), on_epoch=on_epoch,
    )
    bar.close()
    final = history.epochs[-1]
    print(f"final test accuracy {final.test_accuracy:.2%} after {time.perf_counter() - start:.2f} s")
    return 0 if final.test_accuracy >= args.require else 1


def _demo(args: argparse.Namespace) -> int:
    """Release, collect, autograde and give feedback on the example submissions."""
    from assignment.instructor.demo import main as demo_main

    return demo_main(Path(args.workdir) if args.workdir else None)


def _autograde(args: argparse.Namespace) -> int:
    """Grade every submitted student in parallel (see assignment.instructor.parallel)."""
    from assignment.instructor.quick_import import skip_iri_format_checks

    skip_iri_format_checks()  # before parallel imports nbgrader (quick_import says why it is safe)
    from assignment.instructor.parallel import autograde

    return autograde(Path(args.course).resolve(), args.assignment, args.jobs, args.student or None,
                     scheduler=args.scheduler)


def _lab(args: argparse.Namespace) -> int:
    """JupyterLab on a working copy of the release, in student mode."""
    from assignment.instructor.student_lab import main as lab_main

    workdir = Path(args.workdir) if args.workdir else COURSE_ROOT / ".artifacts" / "student-lab"
    return lab_main(workdir, port=args.port, fresh=args.fresh)


def _report(args: argparse.Namespace) -> int:
    """Per-question score distributions, the grades CSV and the most common failures."""
    from assignment.instructor.report import write_report

    course = Path(args.course).resolve()
    out = Path(args.out).resolve() if args.out else course / "reports" / args.assignment
    write_report(course, args.assignment, out)
    return 0


def _doctor(args: argparse.Namespace) -> int:
    """Check the installation: sandbox, permissions, exchange, package, gradebook, limits, disk."""
    from assignment.instructor.doctor import main as doctor_main

    return doctor_main(Path(args.course), python=args.python, min_free_gib=args.min_free_gib)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assignment", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train an MLP with the reference mytorch on the digits")
    p.add_argument("--hidden", type=int, nargs="*", default=[128], help="hidden layer widths")
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--require", type=float, default=0.0, help="exit 1 below this test accuracy")
    p.set_defaults(run=_train)

    p = commands.add_parser("demo", help="the instructor's flow on the example submissions")
    p.add_argument("--workdir", help="scratch folder (default: .artifacts/demo)")
    p.set_defaults(run=_demo)

    p = commands.add_parser("autograde", help="autograde every submission in parallel, with serial scores")
    p.add_argument("assignment")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once")
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")
    p.add_argument("--course", default=".", help="the course root (default: the current folder)")
    p.add_argument("--scheduler", default=None,
                   help="run the sandboxes on the Dask cluster of this scheduler (tcp://HOST:PORT or tls://...); "
                        "default: c.ParallelAutograde.scheduler, else local threads")
    p.set_defaults(run=_autograde)

    p = commands.add_parser("lab", help="open the release notebooks in JupyterLab as a student")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--workdir", help="where the working copy lives (default: .artifacts/student-lab)")
    p.add_argument("--fresh", action="store_true", help="start again from the release")
    p.set_defaults(run=_lab)

    p = commands.add_parser("report", help="score distributions, grades CSV and common failures of a graded class")
    p.add_argument("assignment")
    p.add_argument("--course", default=".", help="the course root (default: the current folder)")
    p.add_argument("--out", help="output folder (default: COURSE/reports/ASSIGNMENT)")
    p.set_defaults(run=_report)

    p = commands.add_parser("doctor", help="check the course's installation: one line per check, exit 1 on a FAIL")
    p.add_argument("--course", default=".", help="the course root (default: the current folder)")
    p.add_argument("--python", help="the Python that runs formgrader (default: this one)")
    p.add_argument("--min-free-gib", type=float, default=2.0, help="warn below this much free disk")
    p.set_defaults(run=_doctor)

    args = parser.parse_args(argv)
    return args.run(args)
