"""Every file under configs/ loads through the typed loader of its kind, and each loader refuses a typo'd key."""

from pathlib import Path

import pytest

import configs
from controller.config import ControllerConfig
from motion_model.engine import episodes
from motion_model.learner import train_config
from sim.evaluation.suite import load_suite
from terrain.generators import KINDS, load_parameter_spec, resolve_params


def load_terrain_spec(path):
    """A terrain kind's parameter file, its defaults checked against its ranges."""
    spec = load_parameter_spec(path)
    if path.stem not in KINDS:
        raise ValueError(f"{path.name} names no terrain kind (kinds: {', '.join(KINDS)})")
    return resolve_params(path.stem, {k: s["default"] for k, s in spec.items() if s["default"] is not None})


LOADERS = {
    "terrain": load_terrain_spec,
    "controller": ControllerConfig.load,
    "train": train_config.load_config,
    "data": episodes.load_config,
    "bench": load_suite,
}
# A line with a typo'd key, valid in every other way, per kind of config; and the key.
TYPOS = {
    "terrain": ("bump: {default: 0.1, mni: 0.0, max: 1.0}", "mni"),
    "controller": ("goal_radus: 1.0", "goal_radus"),
    "train": ("log_evry: 5", "log_evry"),
    "data": ("waypoint_path: 0.2", "waypoint_path"),
    "bench": ("batch_sise: 3", "batch_sise"),
}


def load(path):
    """Load a config file with the loader of its folder (configs/KIND/NAME.yaml); refuse what has none."""
    kind = path.parent.name
    if path.suffix != ".yaml" or kind not in LOADERS:
        pytest.fail(f"no check for {path}: add its kind to LOADERS in tests/test_configs.py")
    return LOADERS[kind](path)


def config_files():
    return sorted(
        p
        for p in configs.ROOT.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    )


def test_every_file_under_configs_loads():
    files = config_files()
    assert {p.parent.name for p in files} == set(LOADERS)  # each kind is there, and there is no other kind
    for path in files:
        assert load(path), path


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_a_typo_key_is_refused_with_its_name(kind, tmp_path):
    shipped = min((configs.ROOT / kind).glob("*.yaml"))
    copy = tmp_path / kind / shipped.name
    copy.parent.mkdir()
    copy.write_text(shipped.read_text())
    assert load(copy)  # the copy as it is loads
    line, key = TYPOS[kind]
    copy.write_text(f"{shipped.read_text()}\n{line}\n")
    with pytest.raises(ValueError, match=rf"\b{key}\b") as error:  # the key, not a known key it is part of
        load(copy)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "section, line, key",
    [
        ("optim", "lr: fast", "optim: lr"),
        ("optim", "steps: 0", "optim: steps"),
        ("window", "fps: .nan", "window: fps"),
        ("model", "d_model: 1.5", "model: d_model"),
        ("model", "n_prev: 5", "model: n_prev"),
        ("diffusion", "train_timesteps: many", "diffusion: train_timesteps"),
    ],
)
def test_bad_training_values_are_one_line_errors_naming_the_key(section, line, key, tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(Path("configs/train/tiny.yaml").read_text() + f"\n{section}:\n  {line}\n")
    with pytest.raises(ValueError) as error:
        train_config.load_config(path)
    message = str(error.value)
    assert key in message and str(path) in message and "\n" not in message, message


def test_bad_data_values_are_one_line_errors_naming_the_key(tmp_path):
    text = Path("configs/data/default.yaml").read_text()
    for line, words in [
        ("gaits: {walk: 1, jog: 1}", ("gaits", "jog")),
        ("episodes: 0", ("episodes",)),
        ("terrain_params: {stairs: {tred: 0.3}}", ("stairs", "tred")),
        ("terrains: {flat: 0}", ("terrains",)),
    ]:
        path = tmp_path / "data.yaml"
        path.write_text(f"{text}\n{line}\n")
        with pytest.raises(ValueError) as error:
            episodes.load_config(path)
        assert all(w in str(error.value) for w in words) and "\n" not in str(error.value), str(error.value)
    with pytest.raises(ValueError, match="episodes"):
        episodes.load_config("configs/data/default.yaml", episodes=-1)


def test_shipped_configs_resolve_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert train_config.load_config("configs/train/tiny.yaml").optim.batch_size == 8
    assert episodes.load_config("configs/data/default.yaml").episodes == 1600
    assert load_suite("configs/bench/suite.yaml").controller == ControllerConfig().to_dict()


def test_what_the_project_writes_as_yaml_reads_back_as_it_was(tmp_path):
    """read_yaml takes YAML 1.2 floats (`1e5`), so a string that looks like one is quoted when written: a suite
    named '1e5' makes a run.yaml that a rerun of the same suite matches."""
    from sim.evaluation.batch import load_run, prepare_run

    data = {"name": "1e5", "small": 1e-05, "items": [1, "2e-3", True, None]}
    assert configs.parse_yaml(configs.dump_yaml(data), "dumped") == data
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: '1e5'\nmethod: engine\nepisodes:\n  - {kind: flat, seeds: [0], goal_distance: 6.5}\n")
    prepare_run(load_suite(suite), tmp_path / "run")
    prepare_run(load_suite(suite), tmp_path / "run")  # refused if run.yaml read back another name
    assert load_run(tmp_path / "run").name == "1e5"
