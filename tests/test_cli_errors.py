"""Bad input through the terrain-mdm command: one `error:` line naming the input, exit status 2, no traceback,
nothing written under the output's name and a previous file there left as it was.

Most cases call `main` in this process (fast); a few run the command in a child process for the exit status
and the absence of a traceback as a user sees them. Every refusal here comes before a model is loaded: the
model given is a file that does not exist, so an error naming it would show that the check came too late.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from cli_run import ROOT, assert_one_line_error, run_cli

from motion_model.body.clips import clip_motion
from sim.cli import main
from sim.cli.commands.terrain import parse_overrides
from terrain.generators import make_terrain

NO_MODEL = "no-such-model.pt"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A valid motion file, malformed ones (name -> (path, word the error must name)), bad YAML files."""
    folder = tmp_path_factory.mktemp("inputs")
    good = folder / "walk.npz"
    clip_motion("walk").slice(0, 10).save(good, terrain=make_terrain("flat", seed=0))
    arrays = dict(np.load(good))
    bad = {}

    def npz(name, word, **changes):
        np.savez(folder / name, **{k: v for k, v in {**arrays, **changes}.items() if v is not None})
        bad[name] = (folder / name, word)

    (folder / "empty.npz").write_bytes(b"")
    bad["empty.npz"] = (folder / "empty.npz", "not a motion file")
    (folder / "text.npz").write_text("hello")
    bad["text.npz"] = (folder / "text.npz", "not a motion file")
    with open(folder / "one.npz", "wb") as f:
        np.save(f, np.zeros(3))
    bad["one.npz"] = (folder / "one.npz", "one array")
    npz("no_root.npz", "'root_pos'", root_pos=None)
    npz("flat_root.npz", "root_pos", root_pos=arrays["root_pos"][:, :2])
    npz("text_contacts.npz", "'contacts'", contacts=np.full(arrays["contacts"].shape, "x"))
    npz("two_fps.npz", "'fps'", fps=np.array([30.0, 30.0]))
    npz("bad_terrain.npz", "terrain", terrain_cell=np.zeros(3))
    yaml_files = {
        "terrain": folder / "terrain.yaml",
        "controller": folder / "controller.yaml",
        "no_kind": folder / "no_kind.yaml",
    }
    yaml_files["terrain"].write_text("kind: stairs\nstep_height: 0.2: 3\n")
    yaml_files["controller"].write_text("speed: 1.0\n  candidates: 4\n")
    yaml_files["no_kind"].write_text("step_height: 0.2\n")
    return {"good": good, "bad": bad, "yaml": yaml_files}


@pytest.fixture
def previous(tmp_path, files):
    """An output folder holding a previous motion file `old.npz` and files of other kinds (`old.*`)."""
    (tmp_path / "old.npz").write_bytes(files["good"].read_bytes())
    for suffix in (".png", ".mp4", ".bvh", ".txt"):
        (tmp_path / f"old{suffix}").write_bytes(b"previous " + suffix.encode())
    return tmp_path


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder no file can be created in (root writes anywhere except a read-only file system: /sys)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    yield Path("/sys") if os.geteuid() == 0 else folder
    folder.chmod(0o755)


def snapshot(folder):
    return {path.name: path.read_bytes() for path in sorted(Path(folder).iterdir()) if path.is_file()}


def refuse(capsys, *args, words=()):
    """main(args) refuses: status 2, one `error:` line on stderr naming each word, nothing on stdout."""
    assert main([str(a) for a in args]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    for word in words:
        assert str(word).lower() in lines[0].lower(), (word, lines[0])
    assert "preview written" not in captured.out and "written to" not in captured.out
    return lines[0]


BAD_FILES = (
    "empty.npz",
    "text.npz",
    "one.npz",
    "no_root.npz",
    "flat_root.npz",
    "text_contacts.npz",
    "two_fps.npz",
    "bad_terrain.npz",
)


@pytest.mark.parametrize("name", BAD_FILES)
def test_eval_names_the_file_and_what_is_wrong(files, name, capsys):
    path, word = files["bad"][name]
    refuse(capsys, "eval", files["good"], path, words=(name, word))


@pytest.mark.parametrize(
    "command, out, name",
    [
        ("preview", "old.png", "empty.npz"),
        ("preview", "old.mp4", "two_fps.npz"),
        ("render", "old.mp4", "text.npz"),
        ("render", "new.gif", "flat_root.npz"),
        ("export", "old.bvh", "text_contacts.npz"),
        ("export", "new.txt", "one.npz"),
        ("view", None, "no_root.npz"),
    ],
)
def test_motion_file_commands_refuse_a_non_motion_file(files, previous, command, out, name, capsys):
    before = snapshot(previous)
    path, word = files["bad"][name]
    args = [command, path]
    if out:
        args += ["--out", previous / out]
    if command == "export":
        args += ["--format", "bvh" if out.endswith(".bvh") else "deepmimic"]
    refuse(capsys, *args, words=(name, word))
    assert snapshot(previous) == before


@pytest.mark.parametrize(
    "args, words",
    [
        (["--columns", "100000"], ("columns", "24", "100000")),
        (["--columns", "0"], ("columns", "0")),
        (["--fps", "1e9"], ("--fps", "1..240")),
        (["--fps", "nan"], ("--fps",)),
    ],
)
def test_preview_options_out_of_range(files, previous, args, words, capsys):
    before = snapshot(previous)
    refuse(capsys, "preview", files["good"], "--out", previous / "old.png", *args, words=words)
    assert snapshot(previous) == before


def test_preview_and_render_refuse_bad_output_paths(files, previous, read_only_folder, capsys):
    before = snapshot(previous)
    refuse(capsys, "preview", files["good"], "--out", previous / "strip.jpg", words=("strip.jpg", ".png"))
    refuse(capsys, "preview", files["good"], "--out", previous / "missing" / "strip.png", words=("missing",))
    refuse(
        capsys,
        "preview",
        files["good"],
        "--out",
        read_only_folder / "strip.png",
        words=(read_only_folder, "not writable"),
    )
    refuse(capsys, "render", files["good"], "--out", previous / "walk.avi", words=("walk.avi", ".mp4"))
    (previous / "folder.mp4").mkdir()
    refuse(capsys, "render", files["good"], "--out", previous / "folder.mp4", words=("folder.mp4", "is a folder"))
    refuse(
        capsys,
        "export",
        files["good"],
        "--format",
        "bvh",
        "--out",
        read_only_folder / "walk.bvh",
        words=("not writable",),
    )
    assert snapshot(previous) == before


@pytest.mark.parametrize(
    "args, words",
    [
        (["render", "{good}", "--out", "{out}/walk.mp4", "--workers", "-1"], ("--workers", "-1")),
        (["render", "{good}", "--out", "{out}/walk.mp4", "--workers", "0"], ("--workers", "0")),
        (["render", "{good}", "--out", "{out}/walk.mp4", "--fps", "0.000001"], ("--fps", "1..240")),
        (["clip", "walk", "--fps", "1e9", "--out", "{out}/walk.npz"], ("--fps", "1e9")),
        (["clip", "walk", "--cycles", "0", "--out", "{out}/walk.npz"], ("--cycles",)),
        (["dataset", "--out", "{out}/data", "--workers", "-1"], ("--workers", "-1")),
        (["batch", "--suite", "configs/bench/tiny.yaml", "--out", "{out}/run", "--workers", "-1"], ("--workers",)),
    ],
)
def test_counts_and_rates_out_of_range(files, previous, args, words, capsys):
    before = snapshot(previous)
    refuse(capsys, *[a.format(good=files["good"], out=previous) for a in args], words=words)
    assert snapshot(previous) == before and not (previous / "data").exists() and not (previous / "run").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["terrain", "stairs", "step_height=[0.2"], ("step_height=[0.2", "YAML")),
        (["terrain", "stairs", "step_height"], ("step_height", "key=value")),
        (["terrain", "stairs", "step_height=0.9"], ("step_height", "0.25")),
        (["terrain", "{yaml[terrain]}"], ("terrain.yaml", "YAML", "line 2")),
        (["terrain", "{yaml[no_kind]}"], ("no_kind.yaml", "kind")),
        (["terrain", "{out}/nope.yaml"], ("nope.yaml", "does not exist")),
        (["synth", "--terrain", "{yaml[terrain]}"], ("terrain.yaml", "YAML")),
        (["generate", "--terrain", "{yaml[terrain]}"], ("terrain.yaml", "YAML")),
        (["generate", "--terrain", "stairs", "step_height=[0.2"], ("step_height=[0.2", "YAML")),
        (["generate", "--terrain", "flat", "--config", "{yaml[controller]}"], ("controller.yaml", "YAML", "line 2")),
        (["simulate", "--terrain", "{yaml[terrain]}"], ("terrain.yaml", "YAML")),
    ],
)
def test_yaml_and_key_value_errors(files, previous, args, words, capsys):
    """The output path holds a previous motion file; `generate` names the YAML, not the missing model."""
    before = snapshot(previous)
    args = [a.format(yaml=files["yaml"], out=previous) for a in args]
    if args[0] in ("generate", "simulate"):
        args += ["--model", previous / NO_MODEL]
    out = ["--out", previous / "old.npz"] if args[0] != "simulate" else []
    refuse(capsys, *args, *out, words=words)
    assert snapshot(previous) == before


@pytest.mark.parametrize(
    "args, words",
    [
        (["generate", "--terrain", "flat", "--out", "{out}/missing/walk.npz"], ("missing", "does not exist")),
        (["generate", "--terrain", "flat", "--out", "{out}"], ("is a folder",)),
        (["generate", "--terrain", "flat", "--out", "{ro}/walk.npz"], ("{ro}", "not writable")),
        (
            ["generate", "--terrain", "flat", "--out", "{out}/old.npz", "--video", "{out}/walk.avi"],
            ("walk.avi", ".mp4"),
        ),
        (["generate", "--terrain", "flat", "--out", "{out}/old.npz", "--video", "{ro}/walk.mp4"], ("not writable",)),
        (["simulate", "--terrain", "flat", "--video", "{out}/missing/sim.mp4"], ("missing", "does not exist")),
        (["synth", "--terrain", "flat", "--out", "{ro}/ep.npz"], ("not writable",)),
        (["clip", "walk", "--out", "{out}/missing/walk.npz"], ("missing",)),
        (["terrain", "flat", "--out", "{out}/missing/t.npz"], ("missing",)),
        (["terrain", "flat", "--png", "{out}/t.jpg"], ("t.jpg", ".png")),
        (["demo", "--out", "{out}/old.npz"], ("old.npz", "is a file")),
        (["demo", "--out", "{ro}/demo"], ("not writable",)),
    ],
)
def test_outputs_are_checked_before_the_work(files, previous, read_only_folder, args, words, capsys):
    before = snapshot(previous)
    fill = {"out": previous, "ro": read_only_folder}
    args = [a.format(**fill) for a in args]
    if args[0] in ("generate", "simulate", "demo"):
        args += ["--model", previous / NO_MODEL]
    refuse(capsys, *args, words=[w.format(**fill) for w in words])
    assert snapshot(previous) == before and not (previous / "missing").exists()


def test_batch_out_must_be_a_writable_folder(previous, read_only_folder, capsys):
    before = snapshot(previous)
    suite = ROOT / "configs" / "bench" / "tiny.yaml"
    refuse(capsys, "batch", "--suite", suite, "--out", previous / "old.npz", words=("old.npz", "is a file"))
    refuse(capsys, "batch", "--suite", suite, "--out", previous / "old.npz" / "run", words=("old.npz", "is a file"))
    refuse(capsys, "batch", "--suite", suite, "--out", read_only_folder / "run", words=("not writable",))
    assert snapshot(previous) == before


def test_missing_input_file_is_one_line(tmp_path, capsys):
    refuse(capsys, "eval", tmp_path / "missing.npz", words=("missing.npz", "no such file"))


def test_key_value_is_read_as_yaml_1_2():
    assert parse_overrides(["step_height=2e-1", "direction=up", "num_steps=4"]) == {
        "step_height": 0.2,
        "direction": "up",
        "num_steps": 4,
    }


def test_debug_shows_the_traceback_and_ctrl_c_is_one_line(monkeypatch, capsys):
    with pytest.raises(ValueError, match="key=value"):
        main(["--debug", "terrain", "stairs", "step_height"])

    def interrupted(spec):
        raise KeyboardInterrupt

    monkeypatch.setattr("sim.cli.commands.terrain.TerrainSpec.make", interrupted)
    assert main(["terrain", "flat"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_as_a_user_sees_it(files, previous):
    """Child processes: exit status 2, one line, no traceback; the previous files are untouched."""
    before = snapshot(previous)
    result = run_cli("preview", files["bad"]["empty.npz"][0], "--out", previous / "old.png", "--columns", "3")
    assert_one_line_error(result, "empty.npz", "not a motion file")
    assert result.returncode == 2
    result = run_cli(
        "generate", "--terrain", files["yaml"]["terrain"], "--model", previous / NO_MODEL, "--out", previous / "old.npz"
    )
    assert_one_line_error(result, "terrain.yaml", "not valid YAML")
    assert result.returncode == 2
    result = run_cli("render", files["good"], "--out", previous / "old.mp4", "--workers", "-1")
    assert_one_line_error(result, "--workers", "-1")
    assert result.returncode == 2 and "usage:" not in result.stderr
    assert snapshot(previous) == before
    result = run_cli("--debug", "terrain", "stairs", "step_height")
    assert result.returncode != 0 and "Traceback" in result.stderr and "key=value" in result.stderr


def test_generate_refuses_a_video_size_before_the_work(tmp_path):
    result = run_cli(
        "generate",
        "--terrain",
        "flat",
        "--model",
        tmp_path / "no-model.pt",
        "--out",
        tmp_path / "w.npz",
        "--video",
        tmp_path / "w.mp4",
        "--width",
        "50000",
        "--height",
        "50000",
        cwd=tmp_path,
    )
    assert_one_line_error(result, "--width", "50000", "3840")
    assert not list(tmp_path.iterdir())
