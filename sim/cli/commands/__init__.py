"""One module per `terrain-mdm` subcommand, its arguments next to its handler (sim/cli/__init__.py lists them).

Each module has PARSER (keywords of `add_parser`: help, description), `add_arguments(parser)` and `run(args)`.
Only the standard library is imported at the top: the work's imports (torch, pybullet, matplotlib) happen in
`run`, so that `terrain-mdm --help` stays instant. Bad input raises ValueError (or OSError) with one line;
sim/cli/__init__.py turns it into `error: <message>` and exit status 2.
"""
