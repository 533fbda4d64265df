"""`terrain-mdm demo`: the README's main job, `generate` on a mixed course with a video and a terrain map."""

import argparse
from pathlib import Path

from sim.cli.commands import generate
from sim.cli.commands.arguments import SEED

PARSER = {"help": "the main job: the shipped model walks a mixed course (file, video, map)"}


def add_arguments(parser):
    parser.add_argument("--out", default="out", help="output folder")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the course and the sampling noise (0)")
    parser.add_argument("--model", default="default")


def run(args):
    from motion_model.body.motion import Motion
    from terrain.atomic import check_writable_folder
    from terrain.plot import plot_terrain

    out = Path(args.out)
    check_writable_folder(out, "output folder")
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        motion_file, video, picture = _generate(args, out)
    except BaseException:
        if made and not any(out.iterdir()):  # refused before anything was written: leave no empty folder
            out.rmdir()
        raise
    motion = Motion.load(motion_file)
    plot_terrain(motion.terrain, path=motion.path, out_png=picture, title="demo course and planned path")
    print(
        f"\ndone. motion file: {motion_file}\n      video:       {video}\n      terrain map: {picture}\n"
        f"watch it in the PyBullet GUI with: .venv/bin/terrain-mdm view {motion_file}"
    )


def _generate(args, out):
    """`generate` of the demo into `out`; returns the paths of the motion file, the video and the map."""
    from terrain.atomic import check_writable

    motion_file, video, picture = out / "demo.npz", out / "demo.mp4", out / "demo_terrain.png"
    check_writable(picture, "terrain map", (".png",))
    parser = argparse.ArgumentParser(prog="terrain-mdm demo")
    generate.add_arguments(parser)
    generate.run(
        parser.parse_args(
            [
                "--terrain",
                "course",
                "--seed",
                str(args.seed),
                "--model",
                args.model,
                "--out",
                str(motion_file),
                "--video",
                str(video),
            ]
        )
    )
    return motion_file, video, picture
