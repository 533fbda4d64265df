"""`terrain-mdm report`: summary.csv, report.md and plots of a run folder."""

PARSER = {"help": "summary.csv, report.md and plots of a run folder (e.g. merged shards)"}


def add_arguments(parser):
    parser.add_argument("run", help="run folder written by batch")


def run(args):
    from sim.evaluation.report import write_report

    print(f"report written to {write_report(args.run)}")
