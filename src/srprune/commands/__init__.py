"""One module per ``srprune`` subcommand: ``add_arguments(parser)`` and ``run(args) -> int``."""
