"""A non-editable install works from any folder: everything read at run time ships inside the package.

The virtualenv reuses this interpreter's site-packages for the dependencies (torch, numpy, pybullet, setuptools,
pip), so the test needs no network; our own code is a real wheel built and installed into the venv.
"""

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from motion_model.body.motion import Motion

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "configs", "terrain", "motion_model", "controller", "sim")


def run(args, cwd, env):
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
def test_a_non_editable_install_generates_from_an_empty_folder(tmp_path):
    # A copy of the sources, so that the build leaves nothing in the checkout.
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    purelib = Path(
        run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env).strip()
    )
    # A plain path line: the dependencies become importable, but this interpreter's .pth files (such as an
    # editable install of terrain-mdm) are not run.
    (purelib / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", source], tmp_path, env
    )

    work = tmp_path / "empty"
    work.mkdir()
    where = run(
        [python, "-c", "import configs, sim, terrain; print(sim.__file__, terrain.__file__, configs.ROOT)"], work, env
    ).split()
    assert all(Path(p).is_relative_to(purelib) for p in where), where
    run(
        [
            venv / "bin" / "terrain-mdm",
            "generate",
            "--terrain",
            "flat",
            "length=8",
            "--seed",
            "1",
            "--time-limit",
            "2",
            "--out",
            "walk.npz",
        ],
        work,
        env,
    )
    motion = Motion.load(work / "walk.npz")
    assert motion.duration >= 1.9 and motion.terrain is not None
    run([venv / "bin" / "terrain-mdm", "dataset", "--out", "data", "--episodes", "1", "--workers", "1"], work, env)
    assert len(list((work / "data" / "episodes").glob("*.npz"))) == 1
